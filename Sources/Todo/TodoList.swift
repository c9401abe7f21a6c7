/// One to-do entry as users see it.
public struct TodoEntry: Codable, Hashable, Sendable {
    public let id: EntryID
    public var date: TodoDate
    public var title: String

    public init(id: EntryID, date: TodoDate, title: String) {
        self.id = id
        self.date = date
        self.title = title
    }
}

/// A to-do list as a value (the book's `Todo.List`), kept so that any two copies merge: every
/// entry ever made is a record (deleted ones as tombstones), in id order, which is creation
/// order. Changes take the writing node and the wall time, and return what replicas apply.
///
/// Merging (`apply`, `merge`) is commutative, associative and idempotent: copies that have
/// seen the same changes are equal, whatever the order, so both sides of a split keep their
/// writes when it heals.
public struct TodoList: Hashable, Sendable {
    /// Ascending by id.
    public private(set) var records: [EntryRecord]
    /// The counter of the next id made here: above every id the list has seen.
    public private(set) var nextCounter: Int
    /// The newest stamp's clock: the next write's stamp is later.
    public private(set) var clock: Int64
    /// The day of each record's live entry, in the records' order; 0 for a tombstone. A read
    /// of one day scans these, 4 bytes a record, rather than the records (136 bytes each,
    /// mostly out of cache: with 170 entries a list, reading a day was a tenth of a node's
    /// time on reads).
    private var shownDays: [UInt32]

    public init() {
        records = []
        nextCounter = 1
        clock = 0
        shownDays = []
    }

    /// A list read back from storage or the wire: records in any order; two records of one
    /// id are merged.
    public init(nextCounter: Int, records: [EntryRecord]) {
        self.init()
        apply(ListChange(nextCounter: nextCounter, records: records))
    }

    /// The live entries, in creation order, with the ids users see.
    public var entries: [TodoEntry] { entries(on: nil) }

    /// The live entries for `date` (all of them when nil), in creation order.
    public func entries(on date: TodoDate?) -> [TodoEntry] {
        guard let date else { return records.indices.compactMap(shownEntry) }
        let day = Self.shownDay(date)
        var entries: [TodoEntry] = []
        // Counted first (a few bytes a record): one allocation for the answer.
        entries.reserveCapacity(shownDays.lazy.filter { $0 == day }.count)
        for index in shownDays.indices where shownDays[index] == day {
            if let entry = shownEntry(at: index) { entries.append(entry) }
        }
        return entries
    }

    /// The live entry `id` names (a full id, its short form or its bare counter, when only
    /// one entry fits).
    public func entry(id: EntryID) -> TodoEntry? { index(of: id).flatMap(shownEntry) }

    /// Adds an entry made by `node` at wall time `millis`.
    public mutating func add(date: TodoDate, title: String, by node: String, atMillis millis: Int64) -> (TodoEntry, ListChange) {
        let change = proposeAdd(date: date, title: title, by: node, atMillis: millis)
        apply(change)
        return (entry(id: change.records[0].id) ?? TodoEntry(id: change.records[0].id, date: date, title: title), change)
    }

    /// Changes the date and/or title of a live entry; nil when there is none with `id`.
    public mutating func update(id: EntryID, date: TodoDate?, title: String?, by node: String, atMillis millis: Int64) -> (TodoEntry, ListChange)? {
        guard let change = proposeUpdate(id: id, date: date, title: title, by: node, atMillis: millis) else { return nil }
        apply(change)
        return entry(id: change.records[0].id).map { ($0, change) }
    }

    /// Deletes a live entry (it stays as a tombstone); nil when there is none with `id`.
    public mutating func delete(id: EntryID, by node: String, atMillis millis: Int64) -> ListChange? {
        guard let change = proposeDelete(id: id, by: node, atMillis: millis) else { return nil }
        apply(change)
        return change
    }

    // The changes a write makes, without making it: a server stores the change first and
    // applies it to its list after, so the list is never copied to be changed (a copy costs
    // a retain of every record's strings).

    /// The change that adds an entry made by `node` at wall time `millis`.
    public func proposeAdd(date: TodoDate, title: String, by node: String, atMillis millis: Int64) -> ListChange {
        let stamp = Stamp.next(after: clock, by: node, atMillis: millis)
        let record = EntryRecord(id: EntryID(counter: nextCounter, origin: node), date: date, title: title, stamp: stamp)
        return ListChange(nextCounter: nextCounter + 1, records: [record])
    }

    /// The change that sets the date and/or title of the live entry `id` names; nil when
    /// there is none.
    public func proposeUpdate(id: EntryID, date: TodoDate?, title: String?, by node: String, atMillis millis: Int64) -> ListChange? {
        guard let index = index(of: id), records[index].deleted == nil else { return nil }
        var record = records[index]
        record.write(date: date, title: title, at: Stamp.next(after: clock, by: node, atMillis: millis))
        return ListChange(nextCounter: nextCounter, records: [record])
    }

    /// The change that deletes the live entry `id` names; nil when there is none.
    public func proposeDelete(id: EntryID, by node: String, atMillis millis: Int64) -> ListChange? {
        guard let index = index(of: id), records[index].deleted == nil else { return nil }
        var record = records[index]
        record.delete(at: Stamp.next(after: clock, by: node, atMillis: millis))
        return ListChange(nextCounter: nextCounter, records: [record])
    }

    /// Merges `change` in, as every replica does with every change: records it lacks are
    /// added, records it has are merged field by field. True when this copy changed.
    @discardableResult
    public mutating func apply(_ change: ListChange) -> Bool {
        var changed = false
        if change.nextCounter > nextCounter {
            nextCounter = change.nextCounter
            changed = true
        }
        for record in change.records {
            // Counted even when the record changes nothing here (an edit of a deleted entry),
            // so the next write's stamp is later than every stamp this copy has seen.
            clock = max(clock, record.newestClock)
            let index = insertionIndex(of: record.id)
            if index < records.count, records[index].id == record.id {
                let merged = records[index].merged(with: record)
                guard merged != records[index] else { continue }
                records[index] = merged
                shownDays[index] = Self.shownDay(of: merged)
            } else {
                records.insert(record, at: index)
                shownDays.insert(Self.shownDay(of: record), at: index)
            }
            changed = true
            nextCounter = max(nextCounter, record.id.counter + 1)
        }
        return changed
    }

    /// Merges a whole copy in; true when this copy changed.
    @discardableResult
    public mutating func merge(_ other: TodoList) -> Bool { apply(other.asChange) }

    /// The whole list as a change: what makes any copy hold everything this one holds.
    public var asChange: ListChange { ListChange(nextCounter: nextCounter, records: records) }

    /// The sum of the records' digests: equal copies have equal digests.
    public var digest: UInt64 { records.reduce(0) { $0 &+ $1.digest } }

    /// Where the record `id` names is: the record of that very id, else the one record it
    /// names by short form or bare counter; nil when none or several fit.
    private func index(of id: EntryID) -> Int? {
        let index = insertionIndex(of: id)
        if index < records.count, records[index].id == id { return index }
        let named = sameCounter(as: id.counter).filter { records[$0].id.isNamed(by: id) }
        return named.count == 1 ? named.first : nil
    }

    /// The indices of the records whose counter is `counter` (ids sort by counter first).
    private func sameCounter(as counter: Int) -> Range<Int> {
        let start = insertionIndex(of: EntryID(counter: counter, origin: ""))
        var end = start
        while end < records.count, records[end].id.counter == counter { end += 1 }
        return start..<end
    }

    /// The record's entry, with the id users see; nil once deleted.
    private func shownEntry(at index: Int) -> TodoEntry? {
        records[index].entry.map { TodoEntry(id: shownID(at: index), date: $0.date, title: $0.title) }
    }

    /// The short form of the record's id, unless another record's id has the same short form
    /// (nodes of one name on two hosts, both writing across a split): then the full form.
    /// Such ids sort next to each other, with the same counter, which is rare enough that
    /// the short forms are compared only then (this runs for every entry a read returns).
    private func shownID(at index: Int) -> EntryID {
        let id = records[index].id, short = id.short
        func clashes(_ neighbour: Int) -> Bool {
            records.indices.contains(neighbour) && records[neighbour].id.counter == id.counter
                && records[neighbour].id.short == short
        }
        return clashes(index - 1) || clashes(index + 1) ? id : short
    }

    /// A day as one number, never 0 (months and days count from 1).
    private static func shownDay(_ date: TodoDate) -> UInt32 {
        UInt32(date.year) << 9 | UInt32(date.month) << 5 | UInt32(date.day)
    }

    /// What `shownDays` holds for `record`.
    private static func shownDay(of record: EntryRecord) -> UInt32 {
        record.deleted == nil ? shownDay(record.date) : 0
    }

    /// Binary search: where `id` is, or would go.
    private func insertionIndex(of id: EntryID) -> Int {
        var low = 0, high = records.count
        while low < high {
            let middle = (low + high) / 2
            if records[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Decoded through the change form, so a decoded list keeps its order and merges duplicates.
extension TodoList: Codable {
    public init(from decoder: any Decoder) throws {
        let whole = try ListChange(from: decoder)
        self.init(nextCounter: whole.nextCounter, records: whole.records)
    }

    public func encode(to encoder: any Encoder) throws { try asChange.encode(to: encoder) }
}

extension TodoList {
    /// Two copies are equal when they hold the same records and id counter: what replicas
    /// store and send. The clock is left out: it is this copy's own floor for its next stamp,
    /// and may be above every stamp the copy still holds, as a tombstone forgets the stamps of
    /// the edits it won over.
    public static func == (lhs: TodoList, rhs: TodoList) -> Bool {
        lhs.nextCounter == rhs.nextCounter && lhs.records == rhs.records
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(nextCounter)
        hasher.combine(records)
    }
}
