/// One to-do entry: the id is given by its list and never reused there.
public struct TodoEntry: Codable, Hashable, Sendable {
    public let id: Int
    public var date: TodoDate
    public var title: String

    public init(id: Int, date: TodoDate, title: String) {
        self.id = id
        self.date = date
        self.title = title
    }
}

/// A to-do list as a value (the book's `Todo.List`): entries kept in creation order, ids
/// counted from 1 and never reused, even after a delete. `version` counts the changes made
/// to it, so of two copies the one with the higher version is the newer.
public struct TodoList: Codable, Hashable, Sendable {
    public private(set) var nextId: Int
    /// Ascending by id, which is creation order.
    public private(set) var entries: [TodoEntry]
    public private(set) var version: Int

    public init() {
        nextId = 1
        entries = []
        version = 0
    }

    /// A list read back from storage; `nextId` is kept above every id present.
    public init(nextId: Int, entries: [TodoEntry], version: Int = 0) {
        self.entries = entries.sorted { $0.id < $1.id }
        self.nextId = max(nextId, (self.entries.last?.id ?? 0) + 1)
        self.version = version
    }

    @discardableResult
    public mutating func add(date: TodoDate, title: String) -> TodoEntry {
        let entry = TodoEntry(id: nextId, date: date, title: title)
        nextId += 1
        version += 1
        entries.append(entry)
        return entry
    }

    /// Changes the date and/or title of entry `id`; nil when there is no such entry.
    public mutating func update(id: Int, date: TodoDate? = nil, title: String? = nil) -> TodoEntry? {
        guard let index = index(of: id) else { return nil }
        if let date { entries[index].date = date }
        if let title { entries[index].title = title }
        version += 1
        return entries[index]
    }

    /// Removes entry `id`; false when there is no such entry.
    public mutating func delete(id: Int) -> Bool {
        guard let index = index(of: id) else { return false }
        entries.remove(at: index)
        version += 1
        return true
    }

    /// Makes this copy newer than `version`: a server whose copies went ahead of it (after a
    /// healed split) writes its own over them, as the book's next write does.
    public mutating func supersede(_ version: Int) {
        self.version = max(self.version, version) + 1
    }

    public func entry(id: Int) -> TodoEntry? { index(of: id).map { entries[$0] } }

    /// The entries for `date` (all of them when nil), in creation order.
    public func entries(on date: TodoDate?) -> [TodoEntry] {
        guard let date else { return entries }
        return entries.filter { $0.date == date }
    }

    /// Binary search: entries are sorted by id.
    private func index(of id: Int) -> Int? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low < entries.count && entries[low].id == id ? low : nil
    }
}
