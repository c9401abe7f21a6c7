import Testing
@testable import Todo

/// Property tests of the merge behind split-brain healing: random histories of writes on
/// several nodes, checked against the laws a merge needs (commutative, associative,
/// idempotent, order-free) and against the contract (every write of both sides, once).
/// Seeded: a failure names its seed, and the same seed replays it.
struct ListMergeTests {
    static let seeds: [UInt64] = Array(1...300)

    @Test(arguments: seeds)
    func mergeIsCommutativeAssociativeAndIdempotent(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let copies = History.diverged(copies: 3, random: &random).lists
        let (a, b, c) = (copies[0], copies[1], copies[2])
        #expect(a.merged(b) == b.merged(a), "seed \(seed)")
        #expect(a.merged(b).merged(c) == a.merged(b.merged(c)), "seed \(seed)")
        #expect(a.merged(a) == a, "seed \(seed)")
        #expect(a.merged(b).merged(b) == a.merged(b), "seed \(seed)")
        #expect(a.merged(b).digest == b.merged(a).digest, "seed \(seed)")
    }

    @Test(arguments: seeds)
    func changesInAnyOrderAnyNumberOfTimesGiveTheSameCopy(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let history = History.diverged(copies: 2, random: &random)
        let inOrder = history.replayed
        var shuffled = history.changes + history.changes.filter { _ in random.next() % 3 == 0 }
        shuffled.shuffle(using: &random)
        var anyOrder = TodoList()
        for change in shuffled { anyOrder.apply(change) }
        #expect(anyOrder == inOrder, "seed \(seed)")
        #expect(inOrder == history.lists[0].merged(history.lists[1]), "seed \(seed)")
    }

    @Test(arguments: seeds)
    func bothSidesOfASplitKeepEveryLiveWriteExactlyOnce(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let history = History.diverged(copies: 2, random: &random)
        let healed = history.lists[0].merged(history.lists[1])
        let live = healed.records.filter { $0.deleted == nil }
        let ids = live.map(\.id)
        #expect(Set(ids).count == ids.count, "seed \(seed): an id twice")
        #expect(ids == ids.sorted(), "seed \(seed): not in creation order")
        let deleted = Set(history.deleted)
        let expected = history.added.filter { !deleted.contains($0) }
        #expect(Set(ids) == Set(expected), "seed \(seed)")
        // Every field holds the last write to it, of either side.
        for record in live {
            #expect(record.title == history.lastTitle[record.id], "seed \(seed): \(record.id)")
        }
        // The ids users see name one entry each, though both sides' nodes share a name.
        let shown = healed.entries.map(\.id)
        #expect(Set(shown).count == shown.count, "seed \(seed): a shown id twice")
        #expect(healed.entries.allSatisfy { healed.entry(id: $0.id) == $0 }, "seed \(seed)")
    }

    /// A read of one day goes by the list's index of days, which every add, date change,
    /// delete and merged-in record must keep in step with the records.
    @Test(arguments: seeds)
    func aDaysEntriesAreTheLiveEntriesOfThatDayAfterAnyHistory(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let history = History.diverged(copies: 2, random: &random)
        let days = (1...4).compactMap { TodoDate(year: 2018, month: 12, day: $0) }
        for list in history.lists + [history.lists[0].merged(history.lists[1]), history.lists[1].merged(history.lists[0])] {
            for day in days {
                #expect(list.entries(on: day) == list.entries.filter { $0.date == day }, "seed \(seed): \(day)")
            }
        }
    }

    /// No copy keeps a deleted entry's title or date, whatever came before or after the delete
    /// on either side, and wherever the copy got the delete from.
    @Test(arguments: seeds)
    func noCopyKeepsWhatADeleteRemoved(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let history = History.diverged(copies: 2, random: &random)
        for list in history.lists + [history.lists[0].merged(history.lists[1]), history.replayed] {
            for record in list.records where record.deleted != nil {
                #expect(record.title.isEmpty && record.date == .first, "seed \(seed): \(record.id)")
                #expect(record.titleStamp == .zero && record.dateStamp == .zero, "seed \(seed): \(record.id)")
            }
        }
    }

    @Test func aDeleteOnOneSideWinsOverAnEditOnTheOther() throws {
        let day = try #require(TodoDate("2018-12-19"))
        var base = TodoList()
        let id = base.add(date: day, title: "Dentist", by: "todo1", atMillis: 1).0.id
        var left = base, right = base
        _ = left.delete(id: id, by: "todo1", atMillis: 2)
        _ = right.update(id: id, date: nil, title: "Doctor", by: "todo2", atMillis: 3)
        #expect(left.merged(right).entries.isEmpty)
        #expect(right.merged(left).entries.isEmpty)
    }

    @Test func editsOfDifferentFieldsOnTheTwoSidesBothSurvive() throws {
        let day = try #require(TodoDate("2018-12-19")), later = try #require(TodoDate("2018-12-24"))
        var base = TodoList()
        let id = base.add(date: day, title: "Dentist", by: "todo1", atMillis: 1).0.id
        var left = base, right = base
        _ = left.update(id: id, date: later, title: nil, by: "todo1", atMillis: 5)
        _ = right.update(id: id, date: nil, title: "Doctor", by: "todo2", atMillis: 2)
        #expect(left.merged(right).entries == [TodoEntry(id: id, date: later, title: "Doctor")])
    }
}

extension TodoList {
    func merged(_ other: TodoList) -> TodoList {
        var copy = self
        copy.merge(other)
        return copy
    }
}

/// Copies of one list that start equal and then take random writes on their own nodes, with
/// wall clocks that disagree and go back, and now and then see one another's changes.
struct History {
    var lists: [TodoList]
    var changes: [ListChange] = []
    var added: [EntryID] = []
    var deleted: [EntryID] = []
    /// The title each entry had after the write with the highest stamp.
    var lastTitle: [EntryID: String] = [:]
    private var titleStamps: [EntryID: Stamp] = [:]

    static func diverged(copies: Int, random: inout SplitMix64) -> History {
        var history = History(lists: Array(repeating: TodoList(), count: copies))
        let days = (1...3).compactMap { TodoDate(year: 2018, month: 12, day: $0) }
        for step in 0..<Int(random.next() % 40) {
            let copy = Int(random.next() % UInt64(copies))
            // Every copy's node has one name, on its own host: ids must not collide even so.
            let node = "todo@host\(copy + 1)"
            let millis = Int64(random.next() % 50)
            var list = history.lists[copy]
            let live = list.entries
            switch random.next() % 10 {
            case 0...3 where true:
                let change = list.add(date: days[Int(random.next() % 3)], title: "t\(step)", by: node, atMillis: millis).1
                history.added.append(contentsOf: change.records.map(\.id))
                history.record(change)
            case 4...6 where !live.isEmpty:
                let id = live[Int(random.next() % UInt64(live.count))].id
                let date = random.next() % 2 == 0 ? days[Int(random.next() % 3)] : nil
                if let (_, change) = list.update(id: id, date: date, title: "u\(step)", by: node, atMillis: millis) { history.record(change) }
            case 7 where !live.isEmpty:
                let id = live[Int(random.next() % UInt64(live.count))].id
                if let change = list.delete(id: id, by: node, atMillis: millis) {
                    history.deleted.append(contentsOf: change.records.map(\.id))
                    history.record(change)
                }
            case 8:
                // A change from another copy arrives (replication before a cut).
                if let change = history.changes.randomElement(using: &random) { list.apply(change) }
            default:
                break
            }
            history.lists[copy] = list
        }
        return history
    }

    /// Every change applied once, in the order they were made, to an empty copy.
    var replayed: TodoList {
        var list = TodoList()
        for change in changes { list.apply(change) }
        return list
    }

    private mutating func record(_ change: ListChange) {
        changes.append(change)
        for record in change.records where record.titleStamp > (titleStamps[record.id] ?? .zero) || titleStamps[record.id] == nil {
            titleStamps[record.id] = record.titleStamp
            lastTitle[record.id] = record.title
        }
    }
}

/// A small seeded generator (SplitMix64): the same seed gives the same history.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
