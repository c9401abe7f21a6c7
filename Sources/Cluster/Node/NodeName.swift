import Foundation

/// A node's name, `name@host` (Erlang's `node()`). Ordered by its text, as `:global` orders
/// nodes when it picks a winner.
///
/// Kept as that one text, which equality, hashing and order use: a remote send names its peer
/// from the text its pid carries, so that costs no split, no new strings and one hash.
public struct NodeName: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// `name@host`; just `name` when the host is empty.
    public let description: String

    /// The part before the first `@`.
    public var name: String { parts.name }
    /// The part after the first `@`; empty when there is none.
    public var host: String { parts.host }

    public init(name: String, host: String) {
        self.init(text: host.isEmpty ? name : "\(name)@\(host)")
    }

    private init(text: String) { description = text }

    /// Parses `name@host`; a name without `@host` gets `defaultHost` (the machine's short name).
    /// The host is a name or an IPv4 address (nodes listen on IPv4): no `:`, which would end
    /// up inside a `tcp://host:port` endpoint.
    public init(parsing text: String, defaultHost: String = NodeName.shortHostName()) throws(NodeNameError) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        let host = parts.count == 2 ? parts[1] : defaultHost
        guard !name.isEmpty, name.utf8.count <= 255,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." })
        else { throw .badName(text) }
        guard !host.isEmpty, host.utf8.count <= 255, !host.contains("@"),
              host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" })
        else { throw .badHost(text) }
        self.init(name: name, host: host)
    }

    /// A node's text, as pids and `send(toName:on:)` carry it, without validating: a bad
    /// text just names no peer. On every remote send, so it takes the text as it is; only a
    /// text that ends in `@` (an empty host) is made canonical, as `init(name:host:)` writes it.
    init(unchecked text: String) {
        if text.utf8.last == UInt8(ascii: "@") {
            let (name, host) = Self.split(text)
            self.init(name: name, host: host)
        } else {
            self.init(text: text)
        }
    }

    private var parts: (name: String, host: String) { Self.split(description) }

    /// `text` cut at its first `@` byte.
    private static func split(_ text: String) -> (name: String, host: String) {
        guard let at = text.utf8.firstIndex(of: UInt8(ascii: "@")) else { return (text, "") }
        return (String(text[..<at]), String(text[text.utf8.index(after: at)...]))
    }

    enum CodingKeys: String, CodingKey { case name, host }

    /// The same form as when `name` and `host` were stored: two keyed strings.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), host: try container.decode(String.self, forKey: .host))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let (name, host) = parts
        try container.encode(name, forKey: .name)
        try container.encode(host, forKey: .host)
    }

    public static func < (lhs: NodeName, rhs: NodeName) -> Bool { lhs.description < rhs.description }

    /// The machine's host name up to its first dot (Erlang's `--sname` host part).
    public static func shortHostName() -> String {
        let full = ProcessInfo.processInfo.hostName
        return full.split(separator: ".").first.map(String.init) ?? "localhost"
    }
}

public enum NodeNameError: Error, Equatable, Sendable, CustomStringConvertible {
    case badName(String)
    case badHost(String)
    case unresolvable(String)

    public var description: String {
        switch self {
        case .badName(let text): "bad node name '\(text)': use name@host, the name made of letters, digits, '_', '-' or '.'"
        case .badHost(let text): "bad host in node name '\(text)'"
        case .unresolvable(let host): "the host '\(host)' does not resolve to an address"
        }
    }
}

/// Resolves a host to the IPv4 address the node listens on (`localhost` gives 127.0.0.1).
public func resolveHost(_ host: String) throws(NodeNameError) -> String {
    var hints = addrinfo()
    hints.ai_family = AF_INET
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { throw .unresolvable(host) }
    defer { freeaddrinfo(result) }
    guard let address = first.pointee.ai_addr else { throw .unresolvable(host) }
    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    guard getnameinfo(address, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
        throw .unresolvable(host)
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
