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

    /// Sends one request and waits for its answer's words.
    public func request(_ words: [String]) throws -> [String] {
        let context = try Context()
        let dealer = try context.socket(.dealer)
        try dealer.setReceiveTimeout(milliseconds: timeoutMilliseconds)
        try dealer.setSendTimeout(milliseconds: timeoutMilliseconds)
        try dealer.connect(endpoint)
        let requestID = Array(UUID().uuidString.utf8)
        guard try dealer.send([requestID] + words.map { Array($0.utf8) }) else { throw Failure.noAnswer(endpoint) }
        while let frames = try dealer.receiveMessage() {
            guard frames.first == requestID else { continue }
            return frames.dropFirst().map { String(decoding: $0, as: UTF8.self) }
        }
        throw Failure.noAnswer(endpoint)
    }

    public func lookup(_ name: String) throws -> Int? {
        let answer = try request(["LOOKUP", name])
        switch answer.first {
        case "PORT": return answer.count == 2 ? Int(answer[1]) : nil
        case "NONE": return nil
        default: throw Failure.badAnswer(answer.joined(separator: " "))
        }
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

    /// Registers `name`; false when a live node holds it.
    public func register(name: String, port: Int, incarnation: UInt64) throws -> Bool {
        let answer = try request(["REGISTER", name, String(port), String(incarnation), String(getpid())])
        switch answer.first {
        case "OK": return true
        case "TAKEN": return false
        default: throw Failure.badAnswer(answer.joined(separator: " "))
        }
    }

    public func unregister(name: String, incarnation: UInt64) throws {
        _ = try request(["UNREGISTER", name, String(incarnation)])
    }
}
