import Foundation
import Logging

/// The node's log lines: swift-log's `StreamLogHandler` format
/// (`TIME LEVEL LABEL: METADATA [SOURCE] MESSAGE`), with a time to the millisecond, where the
/// stream handler stamps whole seconds: a cluster's nodes log the same second many times
/// over, and the order of events across their logs is what one reads them for. The logger's
/// metadata is turned into text only when a line is written (the stream handler renders all
/// of it each time a key is set, and the HTTP server sets a request's metadata on every
/// request, most of which write no line).
public struct NodeLogHandler: LogHandler {
    private let label: String
    private let stream: any TextOutputStream & Sendable
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, stream: any TextOutputStream & Sendable, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.stream = stream
        self.metadataProvider = metadataProvider
    }

    /// Lines to the standard error, with the logging system's metadata provider.
    public static func standardError(label: String) -> NodeLogHandler {
        NodeLogHandler(label: label, stream: LineOutput.standardError, metadataProvider: LoggingSystem.metadataProvider)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The stream handler's order of precedence: the logger's metadata, then the
        // provider's, then the line's own, then the error's.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, provided in provided } }
        if let line = event.metadata { merged.merge(line) { _, line in line } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        let rendered = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
        var stream = stream
        stream.write("\(Self.timestamp()) \(event.level)\(label.isEmpty ? "" : " ")\(label):\(rendered) [\(event.source)] \(event.message)\n")
    }

    /// Local time to the millisecond, as `2026-12-04T15:30:01.042+0000`.
    static func timestamp(at now: timespec = Self.now()) -> String {
        var seconds = now.tv_sec, local = tm()
        guard localtime_r(&seconds, &local) != nil else { return "<unknown>" }
        func format(_ pattern: String) -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, pattern, &local)
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let millis = String(now.tv_nsec / 1_000_000)
        return format("%Y-%m-%dT%H:%M:%S") + "." + String(repeating: "0", count: 3 - millis.count) + millis + format("%z")
    }

    private static func now() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }
}
