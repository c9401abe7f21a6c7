import Cluster
import Testing
@testable import Todo

/// A delete keeps what merging needs (the id and the delete's stamp) and forgets what the
/// user deleted: the title and date leave the list, the change replicas store, and any record
/// that arrives with them still in it (from a node of an earlier version).
struct TombstoneTests {
    let day = TodoDate("2018-12-19")!

    @Test func aDeleteForgetsTheEntrysTitleAndDate() throws {
        var list = TodoList()
        let (entry, _) = list.add(date: day, title: "Call Alice about the present", by: "todo1", atMillis: 1)
        let deleted = list.delete(id: entry.id, by: "todo1", atMillis: 2)
        let delete = try #require(deleted)
        let stored = try #require(list.records.first)
        for tombstone in delete.records + [stored] {
            #expect(tombstone.id == entry.id)
            #expect(tombstone.deleted != nil)
            #expect(tombstone.title == "")
            #expect(tombstone.date == .first)
            #expect(tombstone.dateStamp == .zero && tombstone.titleStamp == .zero)
        }
        #expect(list.entries.isEmpty)
        #expect(list.entry(id: entry.id) == nil)
    }

    /// An edit of the entry on the other side of a split, however late its stamp, brings
    /// nothing back into the tombstone: it is the same value on both sides.
    @Test func anEditMergedIntoATombstoneLeavesItAsItWas() throws {
        var base = TodoList()
        let id = base.add(date: day, title: "Dentist", by: "todo1", atMillis: 1).0.id
        var left = base, right = base
        _ = left.delete(id: id, by: "todo1", atMillis: 2)
        _ = right.update(id: id, date: TodoDate("2018-12-24"), title: "Doctor", by: "todo2", atMillis: 90)
        var healedLeft = left, healedRight = right
        healedLeft.merge(right)
        healedRight.merge(left)
        #expect(healedLeft == healedRight)
        #expect(healedLeft.records == left.records)
        #expect(healedLeft.records.allSatisfy { $0.title.isEmpty && $0.date == .first })
    }

    /// The copy still counts the stamp of an edit its tombstone forgot: its next write is
    /// stamped after every stamp it has seen, as a hybrid logical clock is.
    @Test func theNextWriteIsStampedAfterAnEditTheTombstoneForgot() throws {
        var base = TodoList()
        let id = base.add(date: day, title: "Dentist", by: "todo1", atMillis: 1).0.id
        var left = base, right = base
        _ = left.delete(id: id, by: "todo1", atMillis: 2)
        let updated = right.update(id: id, date: nil, title: "Doctor", by: "todo2", atMillis: 90)
        let edit = try #require(updated?.1.records.first)
        left.apply(ListChange(nextCounter: 2, records: [edit]))
        let next = try #require(left.add(date: day, title: "Gym", by: "todo1", atMillis: 3).1.records.first)
        #expect(next.titleStamp > edit.titleStamp)
    }

    /// A record as an earlier version sends it: a tombstone that still holds its fields.
    private func olderTombstone() throws -> [UInt8] {
        let id = try #require(EntryID("3.todo2@hostA"))
        var writer = WireWriter()
        id.encode(to: &writer)
        day.encode(to: &writer)
        Stamp(clock: 5, node: "todo2@hostA").encode(to: &writer)
        writer.writeString("Dentist")
        Stamp(clock: 6, node: "todo2@hostA").encode(to: &writer)
        writer.encodeOptional(Stamp(clock: 7, node: "todo1@hostA"))
        return writer.bytes
    }

    @Test func aTombstoneFromTheWireIsKeptWithoutItsFields() throws {
        var reader = WireReader(try olderTombstone())
        let record = try EntryRecord(from: &reader)
        let expected = EntryRecord(id: record.id, date: .first, dateStamp: .zero, title: "", titleStamp: .zero,
                                   deleted: Stamp(clock: 7, node: "todo1@hostA"))
        #expect(record.title == "" && record.date == .first)
        #expect(record == expected)
        #expect(record.digest == expected.digest)
        // Through `Codable` (the binary coder) as well.
        let coded = try BinaryDecoder().decode(EntryRecord.self, from: BinaryEncoder().encode(record))
        #expect(coded == expected)
    }

    @Test func aLiveRecordKeepsItsFields() throws {
        let stamp = Stamp(clock: 5, node: "todo1")
        let record = EntryRecord(id: try #require(EntryID("1.todo1")), date: day, title: "Dentist", stamp: stamp)
        #expect(record.title == "Dentist" && record.date == day && record.titleStamp == stamp && record.dateStamp == stamp)
    }
}
