import Cluster

// Hand-written wire forms for what a store sends to every node on each write, and for a whole
// list. The tagged Codable form built a small tree per entry and dominated a replica's CPU.

extension TodoDate: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(year))
        writer.write(UInt8(month))
        writer.write(UInt8(day))
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let year = try reader.readVarint()
        let month = try reader.read(), day = try reader.read()
        guard year <= 9999, let date = TodoDate(year: Int(year), month: Int(month), day: Int(day)) else {
            throw .malformed("not a date")
        }
        self = date
    }
}

extension Stamp: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeSigned(clock)
        writer.writeString(node)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(clock: try reader.readSigned(), node: try reader.readString())
    }
}

extension EntryID: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(counter))
        writer.writeString(origin)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let counter = try reader.readVarint()
        guard counter > 0, counter <= EntryID.maxCounter else { throw .malformed("not an entry id") }
        self.init(counter: Int(counter), origin: try reader.readString())
    }
}

extension TodoEntry: WireCodable {
    public func encode(to writer: inout WireWriter) {
        id.encode(to: &writer)
        date.encode(to: &writer)
        writer.writeString(title)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(id: try EntryID(from: &reader), date: try TodoDate(from: &reader), title: try reader.readString())
    }
}

extension EntryRecord: WireCodable {
    public func encode(to writer: inout WireWriter) {
        id.encode(to: &writer)
        date.encode(to: &writer)
        dateStamp.encode(to: &writer)
        writer.writeString(title)
        titleStamp.encode(to: &writer)
        writer.encodeOptional(deleted)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(id: try EntryID(from: &reader), date: try TodoDate(from: &reader), dateStamp: try Stamp(from: &reader),
                  title: try reader.readString(), titleStamp: try Stamp(from: &reader),
                  deleted: try reader.decodeOptional(Stamp.self))
    }
}

extension ListChange: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(nextCounter))
        writer.writeVarint(UInt64(records.count))
        for record in records { record.encode(to: &writer) }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let nextCounter = try reader.readVarint()
        guard nextCounter <= EntryID.maxCounter + 1 else { throw .malformed("id counter out of range") }
        let count = try reader.readVarint()
        // Each record takes at least 10 bytes: a count beyond that is a lie, not an allocation.
        guard count <= UInt64(reader.remaining / 10) else { throw .malformed("record count larger than the message") }
        var records: [EntryRecord] = []
        records.reserveCapacity(Int(count))
        for _ in 0..<count { records.append(try EntryRecord(from: &reader)) }
        self.init(nextCounter: Int(nextCounter), records: records)
    }
}

extension TodoList: WireCodable {
    public func encode(to writer: inout WireWriter) { asChange.encode(to: &writer) }

    public init(from reader: inout WireReader) throws(WireError) {
        let whole = try ListChange(from: &reader)
        self.init(nextCounter: whole.nextCounter, records: whole.records)
    }
}

/// A list's change, as the writer stores it.
struct NamedChange: Codable, Sendable {
    let name: String
    let change: ListChange
}

/// Changes for a peer's copy, the argument of `todo.store_local`: a batch of the writer's.
struct StoreBatch: Codable, Sendable, WireCodable {
    var changes: [NamedChange]

    init(changes: [NamedChange]) { self.changes = changes }

    func encode(to writer: inout WireWriter) {
        writer.writeNamed(changes.map { ($0.name, $0.change) })
    }

    init(from reader: inout WireReader) throws(WireError) {
        changes = try reader.readNamed(ListChange.self, "change").map { NamedChange(name: $0.name, change: $0.value) }
    }
}

/// List names, for `todo.fetch`.
struct ListNames: Codable, Sendable, WireCodable {
    var names: [String]
    /// Where the first list goes on: after this record (the last of the part that came).
    var after: EntryID?

    init(names: [String], after: EntryID? = nil) {
        self.names = names
        self.after = after
    }

    // `after` is written only when set, so that a request without it reads as it did before.
    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(names.count))
        for name in names { writer.writeString(name) }
        if let after {
            writer.write(1)
            after.encode(to: &writer)
        }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .malformed("name count larger than the message") }
        names = []
        for _ in 0..<count { names.append(try reader.readString()) }
        guard !reader.isAtEnd else { return }
        guard try reader.read() == 1 else { throw .malformed("not a record to go on after") }
        after = try EntryID(from: &reader)
    }
}

struct NamedList: Codable, Sendable {
    let name: String
    let list: TodoList
}

/// Lists, the answer of `todo.fetch`: whole, but for the last when `partial`.
struct ListCopies: Codable, Sendable, WireCodable {
    var lists: [NamedList]
    /// How many of the names asked, from the first, the answer holds whole or the peer holds
    /// none of; the names after them did not fit (the answer stops at its byte bound) and
    /// are asked again, beginning with the part's list when `partial`.
    var covered: Int
    /// The last list is a part (`TodoList.part`): the rest comes after its last record.
    var partial = false

    init(lists: [NamedList], covered: Int, partial: Bool = false) {
        self.lists = lists
        self.covered = covered
        self.partial = partial
    }

    // `partial` is written only when set, as `ListNames.after` is.
    func encode(to writer: inout WireWriter) {
        writer.writeNamed(lists.map { ($0.name, $0.list) })
        writer.writeVarint(UInt64(covered))
        if partial { writer.write(1) }
    }

    init(from reader: inout WireReader) throws(WireError) {
        lists = try reader.readNamed(TodoList.self, "list").map { NamedList(name: $0.name, list: $0.value) }
        guard let covered = Int(exactly: try reader.readVarint()) else { throw .malformed("too many lists covered") }
        self.covered = covered
        if !reader.isAtEnd {
            guard try reader.read() == 1, !lists.isEmpty else { throw .malformed("not a part of a list") }
            partial = true
        }
        // Every list is one of the names covered, or the part that follows them.
        guard lists.count <= covered + (partial ? 1 : 0) else { throw .malformed("more lists than names covered") }
    }

    /// Whether this is an answer to a request for `names`: it covers some of them (or holds a
    /// part of the first), each whole list is one of those it covers, and the part is of the
    /// name after them.
    func answers(_ names: [String]) -> Bool {
        guard (0...names.count).contains(covered) else { return false }
        let coveredNames = Set(names.prefix(covered))
        guard partial, let part = lists.last else {
            return covered > 0 && lists.allSatisfy { coveredNames.contains($0.name) }
        }
        return covered < names.count && part.name == names[covered] && lists.dropLast().allSatisfy { coveredNames.contains($0.name) }
    }
}

extension TodoList {
    /// The records after `after` (from the first when nil), in id order, as many as fit in
    /// `maxBytes` on the wire but at least one, as a list of their own: a peer merges it as it
    /// merges a whole copy. So a list of any size travels in messages of a bounded size (one
    /// past 64 MiB, the most a cluster message may carry, could not travel whole at all).
    /// `TodoStore.part` reads the same from the file.
    func part(after: EntryID?, maxBytes: Int) -> ListPart {
        let start = after.map { cursor in records.firstIndex { $0.id > cursor } ?? records.endIndex } ?? records.startIndex
        var gathering = ListPart.Gathering(maxBytes: maxBytes)
        var end = start
        while end < records.endIndex, gathering.take(records[end]) { end += 1 }
        return gathering.part(nextCounter: nextCounter, complete: end == records.endIndex)
    }
}

/// Lists of a replica with their digests: the answer of `todo.digests` for some buckets.
struct ListDigests: Codable, Sendable, WireCodable {
    var digests: [String: UInt64]

    init(digests: [String: UInt64]) { self.digests = digests }

    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(digests.count))
        for (name, digest) in digests {
            writer.writeString(name)
            writer.writeVarint(digest)
        }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .malformed("digest count larger than the message") }
        digests = [:]
        for _ in 0..<count { digests[try reader.readString()] = try reader.readVarint() }
    }
}

extension TodoServer.Request: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case .entries(let date):
            writer.write(0)
            writer.encodeOptional(date)
        case .add(let date, let title):
            writer.write(1)
            date.encode(to: &writer)
            writer.writeString(title)
        case .update(let id, let date, let title):
            writer.write(2)
            id.encode(to: &writer)
            writer.encodeOptional(date)
            writer.encodeOptional(title)
        case .delete(let id):
            writer.write(3)
            id.encode(to: &writer)
        case .merge(let change):
            writer.write(4)
            change.encode(to: &writer)
        case .mergeOverruled(let change):
            writer.write(5)
            change.encode(to: &writer)
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0: self = .entries(try reader.decodeOptional(TodoDate.self))
        case 1: self = .add(date: try TodoDate(from: &reader), title: try reader.readString())
        case 2:
            self = .update(id: try EntryID(from: &reader), date: try reader.decodeOptional(TodoDate.self),
                           title: try reader.decodeOptional(String.self))
        case 3: self = .delete(id: try EntryID(from: &reader))
        case 4: self = .merge(try ListChange(from: &reader))
        case 5: self = .mergeOverruled(try ListChange(from: &reader))
        default: throw .malformed("not a to-do request")
        }
    }
}

extension TodoServer.Reply: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case .entries(let entries):
            writer.write(0)
            writer.writeVarint(UInt64(entries.count))
            for entry in entries { entry.encode(to: &writer) }
        case .entry(let entry):
            writer.write(1)
            entry.encode(to: &writer)
        case .deleted: writer.write(2)
        case .notFound: writer.write(3)
        case .failed(let words):
            writer.write(4)
            writer.writeString(words)
        case .merged: writer.write(5)
        case .notHere: writer.write(6)
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0:
            let count = try reader.readVarint()
            guard count <= UInt64(reader.remaining / 4) else { throw .malformed("entry count larger than the message") }
            var entries: [TodoEntry] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count { entries.append(try TodoEntry(from: &reader)) }
            self = .entries(entries)
        case 1: self = .entry(try TodoEntry(from: &reader))
        case 2: self = .deleted
        case 3: self = .notFound
        case 4: self = .failed(try reader.readString())
        case 5: self = .merged
        case 6: self = .notHere
        default: throw .malformed("not a to-do reply")
        }
    }
}
