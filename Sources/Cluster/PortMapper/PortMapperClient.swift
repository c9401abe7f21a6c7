import Foundation
import ZeroMQ

/// Blocking requests to a port mapper, for the command line and for a node's start (never
/// from a Swift concurrency thread's hot path). Each request has its own deadline.
public struct PortMapperClient: Sendable {
    public let host: String
    public let port: Int
    public var timeoutMilliseconds: Int32 = 1_000

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noAnswer(String)
        case badAnswer(String)

        public var description: String {
            switch self {
            case .noAnswer(let endpoint): "no port mapper answers at \(endpoint)"
            case .badAnswer(let words): "unexpected port mapper answer: \(words)"
            }
        }
    }

    var endpoint: String { "tcp://\(host):\(port)" }

    /// Sends one request on a connection of its own and waits for its answer's words; at
    /// once `noAnswer` when nothing listens on the port.
    public func request(_ words: [String]) throws -> [String] {
        if isRefused { throw Failure.noAnswer(endpoint) }
        return try PortMapperConnection(self).request(words)
    }

    /// Whether nothing listens on the mapper's port now (`ConnectionProbe`). A refusal comes
    /// at once; a host that does not answer within 200 ms is left to the request's timeout,
    /// which would otherwise be waited out twice.
    public var isRefused: Bool {
        ConnectionProbe.isRefused(host: host, port: port, timeoutMilliseconds: min(200, timeoutMilliseconds))
    }

    public func lookup(_ name: String) throws -> Int? {
        try Self.lookUp { try request(["LOOKUP", name]) }
    }

    /// How often a mapper that is settling is asked again (`lookUp`).
    static let settlingRecheck: Duration = .milliseconds(200)

    /// The port of a name, from the answers of `ask` (a `LOOKUP`'s words); nil when none is
    /// registered. A mapper that has just started, killed and started again, knows only the
    /// nodes of its host that have registered with it since, and says for how long the
    /// others may still come (`PortMapperServer.settling`): meanwhile it is asked again,
    /// every `settlingRecheck`, until the name is there or that time is over (at most
    /// `PortMapperServer.settling` in all, whatever the mapper says). A node restarted with
    /// such a mapper took its peers for gone, and served lists from its own older copy.
    static func lookUp(
        asking ask: () throws -> [String], pause: (Duration) -> Void = { Thread.sleep(forTimeInterval: Double($0 / .seconds(1))) }
    ) throws -> Int? {
        var waited = Duration.zero
        while true {
            let (port, settling) = try portOrSettling(answering: try ask())
            guard port == nil, let settling, waited < PortMapperServer.settling else { return port }
            let step = min(settling, settlingRecheck, PortMapperServer.settling - waited)
            pause(step)
            waited += step
        }
    }

    /// The port a `LOOKUP`'s answer gives; nil for `NONE`, with what is left of the mapper's
    /// settling, if it said.
    static func portOrSettling(answering answer: [String]) throws -> (port: Int?, settling: Duration?) {
        switch (answer.first, answer.count) {
        case ("PORT", 2):
            // Checked: libzmq would dial the low 16 bits of a larger number.
            guard let port = Int(answer[1]), (1...65535).contains(port) else { break }
            return (port, nil)
        case ("NONE", 1): return (nil, nil)
        case ("NONE", 2):
            guard let milliseconds = Int(answer[1]), milliseconds > 0 else { break }
            return (nil, .milliseconds(milliseconds))
        default: break
        }
        throw Failure.badAnswer(answer.joined(separator: " "))
    }

    public func names() throws -> [(name: String, port: Int)] {
        let answer = try request(["NAMES"])
        guard answer.first == "NAMES" else { throw Failure.badAnswer(answer.joined(separator: " ")) }
        return answer.dropFirst().compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let port = Int(parts[1]) else { return nil }
            return (String(parts[0]), port)
        }
    }
}

/// One lasting connection to a port mapper, as a node keeps for its registration: the mapper
/// ends a registration when the connection that made it closes, as epmd does. Not
/// thread-safe: one thread at a time.
public final class PortMapperConnection {
    public let client: PortMapperClient
    private let context: Context
    private let dealer: Socket

    public init(_ client: PortMapperClient) throws {
        // Up front: libzmq would retry a name that does not resolve until the request's
        // timeout, which then reads as "no port mapper answers".
        _ = try resolveHost(client.host)
        self.client = client
        context = try Context()
        dealer = try context.socket(.dealer)
        try dealer.setReceiveTimeout(milliseconds: client.timeoutMilliseconds)
        try dealer.setSendTimeout(milliseconds: client.timeoutMilliseconds)
        // Soon at first, as a mapper just launched comes up in tens of milliseconds (with a
        // flat 200 ms, most of a first node's start); then backing off to 400 ms.
        try dealer.setReconnectInterval(milliseconds: 20)
        try dealer.setReconnectIntervalMax(milliseconds: 400)
        try dealer.connect(client.endpoint)
    }

    deinit { dealer.close() }

    /// A PAIR socket that reads this connection's `connected` events: each time a mapper takes
    /// it, a restarted one too. For one thread, which closes it before the connection goes.
    func connectionEvents() throws -> Socket {
        let endpoint = "inproc://mapper-connection-\(UUID().uuidString)"
        try dealer.monitor(on: endpoint, events: [.connected])
        let events = try context.socket(.pair)
        try events.connect(endpoint)
        return events
    }

    /// Sends one request and waits for its answer's words (late answers to earlier requests
    /// are skipped by their request id).
    public func request(_ words: [String]) throws -> [String] {
        let requestID = Array(UUID().uuidString.utf8)
        guard try dealer.send([requestID] + words.map { Array($0.utf8) }) else { throw PortMapperClient.Failure.noAnswer(client.endpoint) }
        while let frames = try dealer.receiveMessage() {
            guard frames.first == requestID else { continue }
            return frames.dropFirst().map { String(decoding: $0, as: UTF8.self) }
        }
        throw PortMapperClient.Failure.noAnswer(client.endpoint)
    }

    /// Registers `name` for as long as this connection lasts (and is refreshed); false when
    /// another node holds it.
    public func register(name: String, port: Int, incarnation: UInt64) throws -> Bool {
        // The fifth word, our OS pid, is for a mapper daemon of an earlier version still
        // running on this host (it wants five words); this version's mapper ignores it.
        let answer = try request(["REGISTER", name, String(port), String(incarnation), String(getpid())])
        switch answer.first {
        case "OK": return true
        case "TAKEN": return false
        default: throw PortMapperClient.Failure.badAnswer(answer.joined(separator: " "))
        }
    }

    public func unregister(name: String, incarnation: UInt64) throws {
        _ = try request(["UNREGISTER", name, String(incarnation)])
    }

    /// The port of the node registered as `name`, as `PortMapperClient.lookup` asks it.
    public func lookup(_ name: String) throws -> Int? {
        try PortMapperClient.lookUp { try request(["LOOKUP", name]) }
    }
}
