import Cluster

// Hand-written wire forms for what a store sends to every node: the whole list, each write.
// The tagged Codable form built a small tree per entry and dominated a replica's CPU.

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
        writer.writeVarint(UInt64(entries.count))
        for entry in entries { entry.encode(to: &writer) }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let nextId = try Int(from: &reader)
        let count = try reader.readVarint()
        // Each entry takes at least 4 bytes: a count beyond that is a lie, not an allocation.
        guard count <= UInt64(reader.remaining / 4) else { throw .malformed("entry count larger than the message") }
        var entries: [TodoEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count { entries.append(try TodoEntry(from: &reader)) }
        self.init(nextId: nextId, entries: entries)
    }
}

extension TodoDatabase.StoreArguments: WireCodable {
    func encode(to writer: inout WireWriter) {
        writer.writeString(name)
        list.encode(to: &writer)
    }

    init(from reader: inout WireReader) throws(WireError) {
        name = try reader.readString()
        list = try TodoList(from: &reader)
    }
}
