import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The port mapper as a server: a ROUTER on all of the host's addresses at the mapper port,
/// answering REGISTER, UNREGISTER, LOOKUP and NAMES. It runs on a thread of its own, inside a
/// node's test process or as the detached `todo-node --mapper-daemon` process.
///
/// Requests are frames `[request id, command, arguments...]`; replies echo the request id.
/// As with epmd, anyone may look names up, but only a process on this host (a loopback
/// address) may register or unregister one, and a registration ends with its connection.
/// Anything malformed is answered with ERR (or dropped), logged at most once a minute, and
/// the server goes on.
public final class PortMapperServer: Sendable {
    public let port: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// The largest request frame: a command and a name of at most 255 bytes, and numbers.
    static let maxFrameBytes = 1_024

    /// Binds the port (failing if it is taken) and starts serving.
    public init(port: Int, host: String = "*", leaseTime: Duration = .seconds(10), logger: Logger = Logger(label: "todo.mapper")) throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.setReceiveTimeout(milliseconds: 100)
        try router.setRouterMandatory(false)
        try router.setMaxMessageSize(Int64(Self.maxFrameBytes))
        try router.setHandshakeInterval(milliseconds: 3_000)
        try router.setReceiveHighWaterMark(1_000)
        let serial = UInt64.random(in: 1...UInt64.max)
        try router.monitor(on: "inproc://mapper-monitor-\(serial)", events: [.disconnected])
        let monitor = try context.socket(.pair)
        try monitor.connect("inproc://mapper-monitor-\(serial)")
        try router.bind("tcp://\(host):\(port)")
        if port == 0 {
            let endpoint = try router.lastEndpoint()
            self.port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        } else {
            self.port = port
        }
        let serving = UncheckedSocket(router), watching = UncheckedSocket(monitor)
        Thread { [self] in
            self.serve(serving.socket, monitor: watching.socket, table: PortMapperTable(leaseTime: leaseTime), logger: logger)
            _ = context  // the context lives as long as the thread
            self.finished.signal()
        }.start()
    }

    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    private func serve(_ router: Socket, monitor: Socket, table: PortMapperTable, logger: Logger) {
        var table = table
        var warnings = RateLimitedWarnings(interval: .seconds(60))
        let clock = ContinuousClock()
        let origin = clock.now
        // Closed connections end their registrations. A descriptor is reused as soon as it is
        // closed, but libzmq reports the close before closing it: so the closes read after
        // a request arrived include every one before it, and a new connection on an old
        // descriptor is never taken for the old one.
        func forgetClosedConnections() {
            while let frames = try? monitor.receiveMessage(dontWait: true) {
                if let event = MonitorEvent(frames: frames), event.kind == .disconnected {
                    table.closed(connection: Int32(bitPattern: event.value))
                }
            }
        }
        while !stopping.load(ordering: .relaxed) {
            if let (count, what) = warnings.due(now: origin.duration(to: clock.now)) {
                logger.warning("port mapper: \(what): \(count) more since the last warning")
            }
            guard let message = try? router.receiveMessageWithOrigin() else {
                forgetClosedConnections()
                continue
            }
            forgetClosedConnections()
            let now = origin.duration(to: clock.now)
            let frames = message.frames
            guard frames.count >= 3 else {
                if warnings.note("dropped a malformed request", now: now) { logger.warning("port mapper: dropped a malformed request") }
                continue
            }
            let client = frames[0], requestID = frames[1]
            let words = frames.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
            let request = Request(words: words, local: Self.isLoopback(message.peerAddress), connection: message.descriptor)
            let (reply, complaint) = Self.answer(request, table: &table, now: now)
            if let complaint, warnings.note(complaint, now: now) { logger.warning("port mapper: \(complaint)") }
            _ = try? router.send([client, requestID] + reply.map { Array($0.utf8) }, dontWait: true)
        }
        try? router.stopMonitor()
        router.close()
        monitor.close()
    }

    /// One request: its words, whether it came from this host, and on which connection.
    struct Request {
        let words: [String]
        let local: Bool
        let connection: Int32
    }

    /// The reply to a request, and what to warn about, if anything.
    static func answer(_ request: Request, table: inout PortMapperTable, now: Duration) -> (reply: [String], complaint: String?) {
        let words = request.words
        switch (words.first, words.count) {
        case ("REGISTER", 4), ("REGISTER", 5):  // a fifth word (an OS pid, from older nodes) is ignored
            guard request.local else { return (["ERR", "only a node on this host may register"], "refused a REGISTER from another host") }
            guard let port = Int(words[2]), (1...65535).contains(port), let incarnation = UInt64(words[3]) else {
                return (["ERR", "bad REGISTER"], "dropped a bad REGISTER")
            }
            switch table.register(name: words[1], port: port, incarnation: incarnation, connection: request.connection, now: now) {
            case .registered: return (["OK"], nil)
            case .taken(let port): return (["TAKEN", String(port)], nil)
            case .full: return (["ERR", "the table is full"], "refused a REGISTER: \(PortMapperTable.maxEntries) names are registered")
            case .badName: return (["ERR", "bad node name"], "refused a REGISTER with a bad node name")
            }
        case ("UNREGISTER", 3):
            guard request.local else { return (["ERR", "only a node on this host may unregister"], "refused an UNREGISTER from another host") }
            guard let incarnation = UInt64(words[2]) else { return (["ERR", "bad UNREGISTER"], "dropped a bad UNREGISTER") }
            table.unregister(name: words[1], incarnation: incarnation)
            return (["OK"], nil)
        case ("LOOKUP", 2):
            guard let port = table.lookup(words[1], now: now) else { return (["NONE"], nil) }
            return (["PORT", String(port)], nil)
        case ("NAMES", 1):
            return (["NAMES"] + table.names(now: now).map { "\($0.name) \($0.port)" }, nil)
        default:
            return (["ERR", "unknown request"], "dropped an unknown request")
        }
    }

    /// Whether a peer address (ZeroMQ's "Peer-Address") is this host's loopback.
    static func isLoopback(_ address: String?) -> Bool {
        guard let address else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }
}

/// Hands a socket to the one thread that will use it from then on.
struct UncheckedSocket: @unchecked Sendable {
    let socket: Socket
    init(_ socket: Socket) { self.socket = socket }
}
