/// A process identifier, as in Erlang: the node it lives on, that node's incarnation (a fresh
/// number at every start, so a pid from an earlier run is recognised as dead), and a serial.
/// A pid of this runtime also carries its process, so a local send needs no table lookup; that
/// reference takes no part in equality, hashing or encoding.
public struct Pid: Hashable, Sendable, Codable, CustomStringConvertible {
    public let node: String
    public let incarnation: UInt64
    public let serial: UInt64
    let cell: ProcessCell?

    public init(node: String, incarnation: UInt64, serial: UInt64) {
        self.init(node: node, incarnation: incarnation, serial: serial, cell: nil)
    }

    init(node: String, incarnation: UInt64, serial: UInt64, cell: ProcessCell?) {
        self.node = node
        self.incarnation = incarnation
        self.serial = serial
        self.cell = cell
    }

    public static func == (lhs: Pid, rhs: Pid) -> Bool {
        lhs.serial == rhs.serial && lhs.incarnation == rhs.incarnation && lhs.node == rhs.node
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(serial)
        hasher.combine(incarnation)
        hasher.combine(node)
    }

    enum CodingKeys: String, CodingKey { case node, incarnation, serial }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            node: try container.decode(String.self, forKey: .node),
            incarnation: try container.decode(UInt64.self, forKey: .incarnation),
            serial: try container.decode(UInt64.self, forKey: .serial))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(node, forKey: .node)
        try container.encode(incarnation, forKey: .incarnation)
        try container.encode(serial, forKey: .serial)
    }

    /// Erlang's look: `<node.serial.incarnation>`.
    public var description: String { "<\(node).\(serial).\(incarnation)>" }
}

/// A unique reference (Erlang's `make_ref()`): tags monitors and calls.
public struct Ref: Hashable, Sendable, Codable, CustomStringConvertible {
    public let node: String
    public let incarnation: UInt64
    public let serial: UInt64

    public init(node: String, incarnation: UInt64, serial: UInt64) {
        self.node = node
        self.incarnation = incarnation
        self.serial = serial
    }

    public var description: String { "#Ref<\(node).\(serial).\(incarnation)>" }
}
