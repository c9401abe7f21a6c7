/// One change to a list, as its server made it: what every replica applies. A store costs
/// the change, not the whole list, on the wire and on disk. `version` is the list's version
/// after the change: a replica that sees a gap knows it missed something (and catches up),
/// and one that sees an old version (it caught up past it already) ignores it.
public struct ListChange: Codable, Sendable, Equatable {
    public enum Kind: Codable, Sendable, Equatable {
        /// An entry added or changed.
        case put(TodoEntry)
        /// Entry `id` deleted.
        case delete(id: Int)
    }

    public let kind: Kind
    /// The list's id counter after the change.
    public let nextId: Int
    public let version: Int

    public init(_ kind: Kind, nextId: Int, version: Int) {
        self.kind = kind
        self.nextId = nextId
        self.version = version
    }

    /// The change that turned some list into `list`.
    public init(_ kind: Kind, after list: TodoList) {
        self.init(kind, nextId: list.nextId, version: list.version)
    }
}

extension TodoList {
    /// Applies `change` as a replica does: ignored when this copy is as new already; applied
    /// when it is the next version; applied without taking its version when versions are
    /// missing in between (the copy stays older than its peers', and catch-up replaces it).
    public mutating func apply(_ change: ListChange) {
        guard change.version > version else { return }
        var entries = self.entries
        switch change.kind {
        case .put(let entry):
            entries.removeAll { $0.id == entry.id }
            entries.append(entry)
        case .delete(let id):
            entries.removeAll { $0.id == id }
        }
        let version = change.version == self.version + 1 ? change.version : self.version
        self = TodoList(nextId: max(nextId, change.nextId), entries: entries, version: version)
    }
}
