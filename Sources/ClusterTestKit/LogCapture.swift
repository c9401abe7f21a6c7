import Logging
import Synchronization

/// Collects the log lines of every node in a test, to be printed only when the test fails.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public var all: [String] { lines.withLock { $0 } }

    public func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// A logger whose lines land here, labelled with the node.
    public func logger(for node: String) -> Logger {
        var logger = Logger(label: node) { _ in CapturingHandler(capture: self) }
        logger.logLevel = .debug
        logger[metadataKey: "node"] = "\(node)"
        return logger
    }

    public func dump() {
        print("---- captured cluster logs ----")
        for line in all { print(line) }
        print("---- end of cluster logs ----")
    }
}

struct CapturingHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let node = metadata["node"].map { "\($0)" } ?? "-"
        capture.append("\(ContinuousClock.now) [\(event.level)] \(node): \(event.message)")
    }
}
