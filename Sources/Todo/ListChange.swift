/// One change to a list, as its server made it: what every replica applies, in the order the
/// server made them (one server per list, and messages from one sender arrive in order). A
/// store costs the change, not the whole list, on the wire and on disk.
public enum ListChange: Sendable, Equatable {
    /// An entry added or changed; `nextId` is the list's counter after it.
    case put(TodoEntry, nextId: Int)
    /// Entry `id` deleted.
    case delete(id: Int, nextId: Int)

    public var nextId: Int {
        switch self {
        case .put(_, let nextId), .delete(_, let nextId): nextId
        }
    }
}

extension TodoList {
    /// Applies `change` as a replica does (used to check a replica's result against the server's).
    public mutating func apply(_ change: ListChange) {
        switch change {
        case .put(let entry, let nextId):
            var entries = self.entries.filter { $0.id != entry.id }
            entries.append(entry)
            self = TodoList(nextId: max(self.nextId, nextId), entries: entries)
        case .delete(let id, let nextId):
            self = TodoList(nextId: max(self.nextId, nextId), entries: entries.filter { $0.id != id })
        }
    }
}
