import Foundation
import Logging
import OSProcess
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
/// the server goes on. Connections that hold no registration (lookups, and strangers that
/// say nothing) are bounded per address and in all, as a node's cluster port bounds those
/// not logged in: past a bound the oldest is cut.
public final class PortMapperServer: Sendable {
    public let port: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// The largest request frame: a command and a name of at most 255 bytes, and numbers.
    static let maxFrameBytes = 1_024
    /// What a connection may have sent that has not made whole requests yet, past which it is
    /// cut (`UndeliveredBytes`): a request is at most a few frames of `maxFrameBytes`.
    static let maxUndeliveredBytes: Int64 = 64 << 10
    /// How often the server looks at every connection's count of bytes received: what a
    /// message that never ends can take is about what libzmq reads in this long (30 to 40 MB
    /// in 50 ms on loopback). Often while a connection without a registration is open (a
    /// lookup's lasts a round trip; a stranger's, until it is cut), seldom otherwise, when
    /// only this host's nodes are connected.
    static let lookInterval: Duration = .milliseconds(50)
    static let lookIntervalWithStrangers: Duration = .milliseconds(10)
    /// How long a mapper that has just started may not yet know a node of its host that
    /// runs: one killed and started again (by a node, `MapperKeeper`) learns each name again
    /// as soon as that node's connection comes back to it (ZeroMQ retries every 0.4 s at
    /// most), and at the latest at the node's next refresh, every 2 s, the first after a
    /// request to the old one timed out (1 s); a second to spare. Meanwhile "no such name"
    /// says how much of it is left (`PortMapperClient.lookUp` asks again).
    public static let settling: Duration = .seconds(4)

    /// Binds the port (failing if it is taken) and starts serving; at most
    /// `maxUnregisteredPerAddress` connections from one address, and `maxUnregistered` in
    /// all, hold no registration. For its first `settling`, a lookup of a name it does not
    /// know says that it may learn it yet (see `PortMapperServer.settling`).
    public init(
        port: Int, host: String = "*", leaseTime: Duration = .seconds(10),
        maxUnregistered: Int = ClusterSettings.maxHandshakes(forDescriptors: DescriptorLimit.current),
        maxUnregisteredPerAddress: Int = 16, settling: Duration = PortMapperServer.settling,
        logger: Logger = Logger(label: "todo.mapper")
    ) throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.setRouterMandatory(false)
        try router.setMaxMessageSize(Int64(Self.maxFrameBytes))
        try router.setHandshakeInterval(milliseconds: 3_000)
        try router.setReceiveHighWaterMark(1_000)
        let serial = UInt64.random(in: 1...UInt64.max)
        try router.monitor(on: "inproc://mapper-monitor-\(serial)", events: [.accepted, .disconnected])
        let monitor = try context.socket(.pair)
        try monitor.connect("inproc://mapper-monitor-\(serial)")
        let poller = Poller()
        try poller.add(router)
        try poller.add(monitor)
        try router.bind("tcp://\(host):\(port)")
        if port == 0 {
            let endpoint = try router.lastEndpoint()
            self.port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        } else {
            self.port = port
        }
        let sockets = MapperSockets(router: router, monitor: monitor, poller: poller)
        Thread { [self] in
            let unregistered = UnloggedConnections<ConnectionEnds>(perAddress: maxUnregisteredPerAddress, total: maxUnregistered)
            self.serve(sockets.router, monitor: sockets.monitor, poller: sockets.poller, table: PortMapperTable(leaseTime: leaseTime),
                       unregistered: unregistered, settling: settling, logger: logger)
            _ = context  // the context lives as long as the thread
            self.finished.signal()
        }.start()
    }

    /// Stops serving, and returns once the server's thread has ended (within a poll's 50 ms).
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    /// `stop()` from async code, off the concurrency pool's threads.
    public func shutdown() async {
        await waitOffThePool { self.stop() }
    }

    private func serve(
        _ router: Socket, monitor: Socket, poller: Poller, table: PortMapperTable,
        unregistered: UnloggedConnections<ConnectionEnds>, settling: Duration, logger: Logger
    ) {
        var table = table, unregistered = unregistered
        var undelivered = UndeliveredBytes<ConnectionEnds>(slack: Self.maxUndeliveredBytes)
        var warnings = RateLimitedWarnings(interval: .seconds(60))
        let clock = ContinuousClock()
        let origin = clock.now
        var lastLook = Duration.zero
        // Closed connections end their registrations. A descriptor is reused as soon as it is
        // closed, but libzmq reports the close before closing it: so the closes read after
        // a request arrived include every one before it, and a new connection on an old
        // descriptor is never taken for the old one. Accepted ones are counted until they
        // register, and the oldest cut past a bound.
        func watchConnections() {
            while let event = monitor.nextMonitorEvent() {
                let descriptor = event.descriptor
                switch event.kind {
                case .accepted:
                    guard let ends = ConnectionEnds(descriptor: descriptor) else { break }  // closed already
                    let now = origin.duration(to: clock.now)
                    undelivered.opened(descriptor, ends: ends)
                    for connection in unregistered.acceptCutting(descriptor, ends: ends, at: now) {
                        let what = "too many connections without a registration, from \(connection.address) or in all; closed the oldest"
                        if warnings.note(what, now: now) { logger.warning("port mapper: \(what)") }
                    }
                case .disconnected:
                    table.closed(connection: descriptor)
                    unregistered.closed(descriptor)
                    undelivered.closed(descriptor)
                default: break
                }
            }
        }
        // A message that never ends wakes no poll: the counts are looked at on a clock.
        var lookInterval: Duration { unregistered.unlogged.isEmpty ? Self.lookInterval : Self.lookIntervalWithStrangers }
        // From the last look, so that a stranger's connection is looked at soon after it came.
        func cutEndlessMessages(now: Duration) {
            guard now - lastLook >= lookInterval else { return }
            lastLook = now
            for connection in undelivered.cutOverdrawn() {
                let what = "a connection from \(connection.ends.address) sent more than \(Self.maxUndeliveredBytes >> 10) KiB that made no whole request (a message whose parts do not end); closed it"
                if warnings.note(what, now: now) { logger.warning("port mapper: \(what)") }
            }
        }
        while !stopping.load(ordering: .relaxed) {
            if let (count, what) = warnings.due(now: origin.duration(to: clock.now)) {
                logger.warning("port mapper: \(what): \(count) more since the last warning")
            }
            let untilLook = lastLook + lookInterval - origin.duration(to: clock.now)
            _ = try? poller.poll(timeoutMilliseconds: max(1, Int(untilLook / .milliseconds(1)) + 1))
            watchConnections()
            while let message = try? router.receiveMessageWithOrigin(dontWait: true) {
                watchConnections()
                undelivered.delivered(message.frames.dropFirst(), on: message.descriptor)
                respond(to: message, table: &table, unregistered: &unregistered, warnings: &warnings,
                        now: origin.duration(to: clock.now), settling: settling, router: router, logger: logger)
            }
            cutEndlessMessages(now: origin.duration(to: clock.now))
        }
        try? router.stopMonitor()
        router.close()
        monitor.close()
    }

    /// Answers one request; a connection that registers a name is no longer counted.
    private func respond(
        to message: Socket.Received, table: inout PortMapperTable, unregistered: inout UnloggedConnections<ConnectionEnds>,
        warnings: inout RateLimitedWarnings, now: Duration, settling: Duration, router: Socket, logger: Logger
    ) {
        let frames = message.frames
        guard frames.count >= 3 else {
            if warnings.note("dropped a malformed request", now: now) { logger.warning("port mapper: dropped a malformed request") }
            return
        }
        let client = frames[0], requestID = frames[1]
        let words = frames.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
        let request = Request(words: words, local: Self.isLoopback(message.peerAddress), connection: message.descriptor)
        let (reply, complaint) = Self.answer(request, table: &table, now: now, settling: settling)
        if let complaint, warnings.note(complaint, now: now) { logger.warning("port mapper: \(complaint)") }
        if words.first == "REGISTER", reply == ["OK"] { unregistered.loggedIn(message.descriptor) }
        _ = try? router.send([client, requestID] + reply.map { Array($0.utf8) }, dontWait: true)
    }

    /// One request: its words, whether it came from this host, and on which connection.
    struct Request {
        let words: [String]
        let local: Bool
        let connection: Int32
    }

    /// The reply to a request, and what to warn about, if anything; `now` counts from the
    /// server's start, which is `settling` long (see `PortMapperServer.settling`).
    static func answer(
        _ request: Request, table: inout PortMapperTable, now: Duration, settling: Duration = .zero
    ) -> (reply: [String], complaint: String?) {
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
            guard let port = table.lookup(words[1], now: now) else {
                // While settling, how many milliseconds of it are left (older clients read
                // the first word only).
                guard now < settling else { return (["NONE"], nil) }
                return (["NONE", String(Int(((settling - now) / .milliseconds(1)).rounded(.up)))], nil)
            }
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

/// Hands the mapper's sockets and their poller to the one thread that uses them from then on.
struct MapperSockets: @unchecked Sendable {
    let router: Socket
    let monitor: Socket
    let poller: Poller
}
