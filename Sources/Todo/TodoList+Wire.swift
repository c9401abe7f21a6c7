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

extension ListChange: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case .put(let entry, let nextId):
            writer.write(0)
            entry.encode(to: &writer)
            writer.writeSigned(Int64(nextId))
        case .delete(let id, let nextId):
            writer.write(1)
            writer.writeSigned(Int64(id))
            writer.writeSigned(Int64(nextId))
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0: self = .put(try TodoEntry(from: &reader), nextId: try Int(from: &reader))
        case 1: self = .delete(id: try Int(from: &reader), nextId: try Int(from: &reader))
        default: throw .malformed("not a list change")
        }
    }
}

extension ListChange: Codable {
    private enum CodingKeys: String, CodingKey { case put, delete, id, nextId }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let nextId = try container.decode(Int.self, forKey: .nextId)
        if let entry = try container.decodeIfPresent(TodoEntry.self, forKey: .put) {
            self = .put(entry, nextId: nextId)
        } else {
            self = .delete(id: try container.decode(Int.self, forKey: .id), nextId: nextId)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nextId, forKey: .nextId)
        switch self {
        case .put(let entry, _): try container.encode(entry, forKey: .put)
        case .delete(let id, _): try container.encode(id, forKey: .id)
        }
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
