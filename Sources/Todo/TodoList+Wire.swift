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

extension TodoEntry: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeSigned(Int64(id))
        date.encode(to: &writer)
        writer.writeString(title)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let id = try Int(from: &reader)
        self.init(id: id, date: try TodoDate(from: &reader), title: try reader.readString())
    }
}

extension TodoList: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeSigned(Int64(nextId))
        writer.writeSigned(Int64(version))
        writer.writeVarint(UInt64(entries.count))
        for entry in entries { entry.encode(to: &writer) }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let nextId = try Int(from: &reader)
        let version = try Int(from: &reader)
        let count = try reader.readVarint()
        // Each entry takes at least 4 bytes: a count beyond that is a lie, not an allocation.
        guard count <= UInt64(reader.remaining / 4) else { throw .malformed("entry count larger than the message") }
        var entries: [TodoEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count { entries.append(try TodoEntry(from: &reader)) }
        self.init(nextId: nextId, entries: entries, version: version)
    }
}

extension ListChange: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch kind {
        case .put(let entry):
            writer.write(0)
            entry.encode(to: &writer)
        case .delete(let id):
            writer.write(1)
            writer.writeSigned(Int64(id))
        }
        writer.writeSigned(Int64(nextId))
        writer.writeSigned(Int64(version))
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let kind: Kind
        switch try reader.read() {
        case 0: kind = .put(try TodoEntry(from: &reader))
        case 1: kind = .delete(id: try Int(from: &reader))
        default: throw .malformed("not a list change")
        }
        self.init(kind, nextId: try Int(from: &reader), version: try Int(from: &reader))
    }
}

extension TodoDatabase.StoreArguments: WireCodable {
    func encode(to writer: inout WireWriter) {
        writer.writeString(name)
        change.encode(to: &writer)
    }

    init(from reader: inout WireReader) throws(WireError) {
        name = try reader.readString()
        change = try ListChange(from: &reader)
    }
}

/// List names, for `todo.fetch`.
struct ListNames: Codable, Sendable, WireCodable {
    var names: [String]

    init(names: [String]) { self.names = names }

    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(names.count))
        for name in names { writer.writeString(name) }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .malformed("name count larger than the message") }
        names = []
        for _ in 0..<count { names.append(try reader.readString()) }
    }
}

struct NamedList: Codable, Sendable {
    let name: String
    let list: TodoList
}

/// Whole lists, the answer of `todo.fetch`.
struct ListCopies: Codable, Sendable, WireCodable {
    var lists: [NamedList]

    init(lists: [NamedList]) { self.lists = lists }

    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(lists.count))
        for copy in lists {
            writer.writeString(copy.name)
            copy.list.encode(to: &writer)
        }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .malformed("list count larger than the message") }
        lists = []
        for _ in 0..<count { lists.append(NamedList(name: try reader.readString(), list: try TodoList(from: &reader))) }
    }
}

/// Every list of a replica with its version, the answer of `todo.versions`.
struct ListVersions: Codable, Sendable, WireCodable {
    var versions: [String: Int]

    init(versions: [String: Int]) { self.versions = versions }

    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(versions.count))
        for (name, version) in versions {
            writer.writeString(name)
            writer.writeSigned(Int64(version))
        }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(reader.remaining) else { throw .malformed("version count larger than the message") }
        versions = [:]
        for _ in 0..<count { versions[try reader.readString()] = try Int(from: &reader) }
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
            writer.writeSigned(Int64(id))
            writer.encodeOptional(date)
            writer.encodeOptional(title)
        case .delete(let id):
            writer.write(3)
            writer.writeSigned(Int64(id))
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0: self = .entries(try reader.decodeOptional(TodoDate.self))
        case 1: self = .add(date: try TodoDate(from: &reader), title: try reader.readString())
        case 2:
            self = .update(id: try Int(from: &reader), date: try reader.decodeOptional(TodoDate.self),
                           title: try reader.decodeOptional(String.self))
        case 3: self = .delete(id: try Int(from: &reader))
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
        default: throw .malformed("not a to-do reply")
        }
    }
}
