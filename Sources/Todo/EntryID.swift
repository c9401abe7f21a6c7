/// An entry's id: its list's counter when it was made, and the full name of the node that
/// made it. Two servers of one list on the two sides of a split count from the same number,
/// but they run on different nodes, so their ids never collide, even when two hosts run
/// nodes of one name. Entries made before ids named their node have no origin.
///
/// Users see and type the short form, `3.todo2` (the node name before the `@`), or the bare
/// counter `3`; a list resolves either to its one entry that fits, and shows the full form
/// `3.todo2@hostA` only for ids whose short form would fit two (see `TodoList`). So an
/// `EntryID` is either a record's own id (full origin) or a reference a user gave.
public struct EntryID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let counter: Int
    public let origin: String

    /// The highest counter a peer may send: far beyond any real list, far below overflow.
    static let maxCounter: UInt64 = 1 << 53

    public init(counter: Int, origin: String) {
        self.counter = counter
        self.origin = origin
    }

    /// Parses `3.todo2` or `3`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let counter = Int(parts[0]), counter > 0, String(counter) == parts[0] else { return nil }
        let origin = parts.count > 1 ? String(parts[1]) : ""
        // Any letters a node name may hold (`NodeName(parsing:)` takes letters beyond ASCII),
        // never a control character or a space of any kind.
        guard parts.count == 1 || !origin.isEmpty,
              origin.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control && !$0.properties.isWhitespace })
        else { return nil }
        self.init(counter: counter, origin: origin)
    }

    public var description: String { origin.isEmpty ? String(counter) : "\(counter).\(origin)" }

    /// The id without the origin's host: what users are shown and type.
    /// Cut at the first `@` byte, as `NodeName.name` cuts a node's text, not by walking
    /// characters: it is made for every entry a read shows.
    var short: EntryID {
        guard let at = origin.utf8.firstIndex(of: UInt8(ascii: "@")) else { return self }
        return EntryID(counter: counter, origin: String(origin[..<at]))
    }

    /// Whether `reference`, as a user typed it, names this (full) id: the same id, its short
    /// form, or its bare counter.
    func isNamed(by reference: EntryID) -> Bool {
        guard counter == reference.counter else { return false }
        return reference.origin.isEmpty || reference.origin == origin || reference.origin == short.origin
    }

    /// Creation order: by counter, then by node for ids made on both sides of a split.
    public static func < (a: EntryID, b: EntryID) -> Bool {
        (a.counter, a.origin) < (b.counter, b.origin)
    }
}

extension EntryID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = EntryID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an entry id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
