import Cluster
import Processes
import Testing
@testable import Todo

struct TodoDateTests {
    @Test func parsesRealDaysOnly() {
        #expect(TodoDate("2018-12-19")?.description == "2018-12-19")
        #expect(TodoDate("2024-02-29") != nil)
        #expect(TodoDate("2000-02-29") != nil)
        for bad in ["2023-02-29", "1900-02-29", "2018-13-01", "2018-00-10", "2018-04-31", "2018-12-1",
                    "18-12-19", "2018/12/19", "2018-12-19x", "", "２０１８-12-19", "+018-12-19", "2018-1a-01"] {
            #expect(TodoDate(bad) == nil, "\(bad)")
        }
    }

    @Test func ordersByCalendar() throws {
        let a = try #require(TodoDate("2018-12-19")), b = try #require(TodoDate("2019-01-02"))
        #expect(a < b)
        #expect(TodoDate("0999-01-02")?.description == "0999-01-02")
    }
}

struct TodoListTests {
    let day = TodoDate("2018-12-19")!
    let other = TodoDate("2018-12-20")!

    @Test func addGivesIncreasingIdsNamingTheNodeAndKeepsCreationOrder() {
        var list = TodoList()
        let ids = [list.add(date: day, title: "Dentist", by: "todo1@hostA", atMillis: 5).0.id,
                   list.add(date: other, title: "Gym", by: "todo1@hostA", atMillis: 5).0.id,
                   list.add(date: day, title: "Movies", by: "todo2@hostB", atMillis: 4).0.id]
        #expect(ids.map(\.description) == ["1.todo1", "2.todo1", "3.todo2"])
        #expect(list.records.map(\.id.description) == ["1.todo1@hostA", "2.todo1@hostA", "3.todo2@hostB"])
        #expect(list.entries(on: day).map(\.title) == ["Dentist", "Movies"])
        #expect(list.entries(on: nil).map(\.id) == ids)
        #expect(list.entries(on: TodoDate("2018-01-01")).isEmpty)
    }

    @Test func stampsGrowEvenWhenTheWallClockGoesBack() {
        var list = TodoList()
        let (first, _) = list.add(date: day, title: "a", by: "n", atMillis: 1_000)
        let firstClock = list.clock
        _ = list.update(id: first.id, date: nil, title: "b", by: "n", atMillis: 10)
        #expect(list.clock == firstClock + 1)
        #expect(firstClock == 1_000 << 16)
    }

    @Test func aStampAtTheTopDoesNotTrap() {
        #expect(Stamp.next(after: .max, by: "n", atMillis: 1).clock == .max)
    }

    @Test func idsAreNeverReusedAfterADelete() {
        var list = TodoList()
        let a = list.add(date: day, title: "a", by: "n", atMillis: 1).0
        let b = list.add(date: day, title: "b", by: "n", atMillis: 1).0
        let deleted = list.delete(id: b.id, by: "n", atMillis: 1)
        let deletedAgain = list.delete(id: b.id, by: "n", atMillis: 1)
        #expect(deleted != nil)
        #expect(deletedAgain == nil)
        #expect(list.update(id: b.id, date: nil, title: "back", by: "n", atMillis: 1) == nil)
        let next = list.add(date: day, title: "c", by: "n", atMillis: 1).0.id
        #expect(next == EntryID(counter: 3, origin: "n"))
        #expect(list.entries(on: day).map(\.title) == ["a", "c"])
        #expect(list.entry(id: a.id)?.title == "a")
        #expect(list.entry(id: b.id) == nil)
    }

    @Test func updateChangesOnlyWhatIsGiven() {
        var list = TodoList()
        let id = list.add(date: day, title: "Dentist", by: "n", atMillis: 1).0.id
        let retitled = list.update(id: id, date: nil, title: "Doctor", by: "n", atMillis: 2)?.0
        let moved = list.update(id: id, date: other, title: nil, by: "n", atMillis: 3)?.0
        let missing = list.update(id: EntryID(counter: 9, origin: "n"), date: nil, title: "x", by: "n", atMillis: 4)
        #expect(retitled == TodoEntry(id: id, date: day, title: "Doctor"))
        #expect(moved == TodoEntry(id: id, date: other, title: "Doctor"))
        #expect(missing == nil)
        #expect(list.entries(on: day).isEmpty)
        #expect(list.entry(id: id)?.date == other)
    }

    @Test func aStoredListKeepsItsCounterAboveEveryId() {
        let stamp = Stamp(clock: 1, node: "n")
        let restored = TodoList(nextCounter: 1, records: [
            EntryRecord(id: EntryID(counter: 7, origin: ""), date: day, title: "x", stamp: stamp),
            EntryRecord(id: EntryID(counter: 3, origin: ""), date: day, title: "y", stamp: stamp),
        ])
        #expect(restored.entries.map(\.id.description) == ["3", "7"])
        #expect(restored.nextCounter == 8)
        #expect(TodoList(nextCounter: 20, records: []).nextCounter == 20)
    }

    /// Nodes of one name on two hosts, on the two sides of a split: their ids differ, and
    /// only those two are shown in full, since their short forms would name both.
    @Test func idsOfNodesOfOneNameOnTwoHostsNeverCollide() throws {
        var base = TodoList()
        _ = base.add(date: day, title: "Dentist", by: "todo@hostA", atMillis: 1)
        var left = base, right = base
        _ = left.add(date: day, title: "left", by: "todo@hostA", atMillis: 2)
        _ = right.add(date: day, title: "right", by: "todo@hostB", atMillis: 2)
        var healed = left
        healed.merge(right)
        #expect(healed.entries.map(\.id.description) == ["1.todo", "2.todo@hostA", "2.todo@hostB"])
        #expect(healed.entries.map(\.title) == ["Dentist", "left", "right"])
        // A reference names an entry only when one entry fits it.
        for reference in ["1", "1.todo", "1.todo@hostA"] {
            #expect(healed.entry(id: try #require(EntryID(reference)))?.title == "Dentist", "\(reference)")
        }
        for ambiguous in ["2", "2.todo"] {
            #expect(healed.entry(id: try #require(EntryID(ambiguous))) == nil, "\(ambiguous)")
        }
        let renamed = healed.update(id: try #require(EntryID("2.todo@hostB")), date: nil, title: "right, renamed", by: "todo@hostA", atMillis: 3)
        #expect(renamed?.0.id.description == "2.todo@hostB")
        #expect(healed.entries.map(\.title) == ["Dentist", "left", "right, renamed"])
        #expect(healed.delete(id: try #require(EntryID("2.todo")), by: "todo@hostA", atMillis: 4) == nil)
    }

    @Test func entryIdsReadBackAsPrinted() {
        #expect(EntryID("3.todo2") == EntryID(counter: 3, origin: "todo2"))
        #expect(EntryID("12") == EntryID(counter: 12, origin: ""))
        #expect(EntryID("4.a.b")?.origin == "a.b")
        for bad in ["", "0", "-1", "x", "3.", ".todo1", "03.todo1", "3 .x", "3.to do", "3.\u{7}", "99999999999999999999",
                    "3.to\u{A0}do", "3.to\u{2003}do", "3.to\u{85}do"] {
            #expect(EntryID(bad) == nil, "\(bad)")
        }
    }

    /// Node names may hold letters beyond ASCII (`tödö@hôte`), and so may the ids their
    /// nodes make: the id a list shows must be one a user can type back.
    @Test func anIdMadeOnANodeWithANonASCIINameReadsBackAsShown() throws {
        var list = TodoList()
        let day = try #require(TodoDate("2018-12-19"))
        let (added, _) = list.add(date: day, title: "Dentist", by: "tödö@hôte", atMillis: 1)
        #expect(added.id.description == "1.tödö")
        let typed = try #require(EntryID(added.id.description))
        #expect(list.update(id: typed, date: nil, title: "Dentist, moved", by: "tödö@hôte", atMillis: 2)?.0.title == "Dentist, moved")
        #expect(list.entry(id: try #require(EntryID("1.tödö@hôte")))?.title == "Dentist, moved")
        #expect(try TodoInput.entryId("1.tödö") == typed)
    }
}

struct TodoInputTests {
    @Test func refusesBadInputWithASentence() {
        #expect(throws: TodoInputError("missing parameter: list")) { try TodoInput.listName(nil) }
        #expect(throws: TodoInputError("the list name is empty")) { try TodoInput.listName("") }
        #expect(throws: TodoInputError("the list name is longer than 200 bytes")) { try TodoInput.listName(String(repeating: "é", count: 101)) }
        #expect(throws: TodoInputError("the list name contains control characters")) { try TodoInput.listName("bob\n") }
        #expect(throws: TodoInputError("missing parameter: date")) { try TodoInput.date(nil) }
        #expect(throws: TodoInputError("bad date \"2018-02-30\": expected YYYY-MM-DD")) { try TodoInput.date("2018-02-30") }
        #expect(throws: TodoInputError("the title is longer than 1000 bytes")) { try TodoInput.title(String(repeating: "x", count: 1_001)) }
        #expect(throws: TodoInputError("the title contains control characters (line breaks included)")) { try TodoInput.title("a\nb") }
        #expect(throws: TodoInputError("bad entry id \"0\": expected an id as printed by add, like 3.todo1")) { try TodoInput.entryId("0") }
    }

    /// Every scalar, Unicode's own category against the two ranges checked: the same answer.
    @Test func controlCharactersAreUnicodesCategoryCc() throws {
        let scalars = (0...0x10FFFF).compactMap(Unicode.Scalar.init(_:))
        let differing = scalars.filter { TodoInput.isControl($0) != ($0.properties.generalCategory == .control) }
        #expect(differing.isEmpty)
        #expect(scalars.count(where: TodoInput.isControl) == 65)
        #expect(throws: TodoInputError("the title contains control characters (line breaks included)")) { try TodoInput.title("a\u{85}b") }
        #expect(try TodoInput.title("a\u{A0}b") == "a\u{A0}b")
    }

    /// A client is outside input too: it may not push records into a list.
    @Test func aClientMayNotAskForAMerge() {
        for request in [TodoServer.Request.merge(ListChange(nextCounter: 9, records: [])), .mergeOverruled(ListChange(nextCounter: 9, records: []))] {
            #expect(throws: TodoInputError("merging copies is not a client request")) { try TodoSystem.validate(ClientCall(list: "bob", request: request)) }
        }
        #expect(throws: Never.self) { try TodoSystem.validate(ClientCall(list: "bob", request: .entries(nil))) }
    }

    @Test func acceptsTheLimits() throws {
        #expect(try TodoInput.listName(String(repeating: "b", count: 200)).count == 200)
        #expect(try TodoInput.title(String(repeating: "x", count: 1_000)).count == 1_000)
        #expect(try TodoInput.listName("Bob's list / ü") == "Bob's list / ü")
        #expect(try TodoInput.title("") == "")
    }

    @Test func echoesAtMostAShortPieceOfBadInput() {
        let long = String(repeating: "9", count: 5_000)
        #expect(throws: TodoInputError("bad date \"\(String(repeating: "9", count: 40))…\": expected YYYY-MM-DD")) { try TodoInput.date(long) }
    }
}

struct FormQueryTests {
    @Test func decodesLikeAFormPlusAndPercentTwentyAreSpaces() {
        let query = FormQuery("list=bob&title=Buy+oat%20milk&date=2018-12-19&list=alice&empty=&flag")
        #expect(query["list"] == "bob")
        #expect(query["title"] == "Buy oat milk")
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query["missing"] == nil)
        #expect(FormQuery("t=%C3%BC%2B%26")["t"] == "ü+&")
        #expect(FormQuery("a=b=c&&d")["a"] == "b=c")
        #expect(FormQuery("a=b=c&&d")["d"] == "")
    }

    @Test func pairsEndAtTheByteAmpersandEvenBeforeACombiningMark() {
        let query = FormQuery("a=x&\u{301}b=y")
        #expect(query["a"] == "x")
        #expect(query["\u{301}b"] == "y")
    }

    /// A broken value is reported even where a valid one came first for its key: the first
    /// valid value still reads, and the routes refuse the request on any broken value.
    @Test func aBrokenRepeatedValueIsReportedAndTheFirstStillReads() {
        let query = FormQuery("list=bob&list=%ZZ&title=ok")
        #expect(query["list"] == "bob")
        #expect(query.malformed == ["list"])
        #expect(FormQuery("list=%ZZ&list=bob")["list"] == "bob")
    }

    /// Many pairs, repeated keys among them: the first value of each key wins.
    @Test func aLongQueryWithRepeatedKeysKeepsTheFirstValues() {
        let query = FormQuery((1...2_000).map { "k\($0 % 7)=\($0)" }.joined(separator: "&"))
        #expect(query["k1"] == "1")
        #expect(query["k0"] == "7")
        #expect(query["k7"] == nil)
        #expect(query.malformed.isEmpty)
    }

    @Test func reportsBrokenEscapes() {
        let query = FormQuery("a=%ZZ&b=%C3&c=%4")
        #expect(query.malformed == ["a", "b", "c"])
        #expect(FormQuery.decode("a+b", plusIsSpace: false) == "a+b")
    }
}

struct TodoWireTests {
    @Test func aListCrossesTheWireUnchanged() throws {
        var list = TodoList()
        let first = list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist", by: "todo1", atMillis: 9).0
        _ = list.add(date: try #require(TodoDate("0001-01-01")), title: "ü ✓ with spaces", by: "todo2", atMillis: 9)
        _ = list.delete(id: first.id, by: "todo1", atMillis: 10)
        var writer = WireWriter()
        list.encode(to: &writer)
        var reader = WireReader(writer.bytes)
        #expect(try TodoList(from: &reader) == list)
        #expect(reader.isAtEnd)
    }

    @Test func aChangeCrossesTheWireUnchanged() throws {
        var list = TodoList()
        let (entry, added) = list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist", by: "todo1", atMillis: 1)
        let delete = list.delete(id: entry.id, by: "todo3", atMillis: 2)
        let deleted = try #require(delete)
        for change in [added, deleted, list.asChange, ListChange(nextCounter: 4, records: [])] {
            var writer = WireWriter()
            change.encode(to: &writer)
            var reader = WireReader(writer.bytes)
            #expect(try ListChange(from: &reader) == change)
            let coded = try BinaryDecoder().decode(ListChange.self, from: BinaryEncoder().encode(change))
            #expect(coded == change)
        }
    }

    /// A writer's batch for a peer, and a peer's copies for catch-up: named values, counted.
    @Test func aStoreBatchAndListCopiesCrossTheWireAndAHostileCountIsRefused() throws {
        var list = TodoList()
        let added = list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist", by: "todo1", atMillis: 1).1
        let batch = StoreBatch(changes: [NamedChange(name: "bob", change: added), NamedChange(name: "ü list", change: list.asChange)])
        var writer = WireWriter()
        batch.encode(to: &writer)
        var reader = WireReader(writer.bytes)
        let decoded = try StoreBatch(from: &reader)
        #expect(decoded.changes.map(\.name) == ["bob", "ü list"])
        #expect(decoded.changes.map(\.change) == [added, list.asChange])
        #expect(reader.isAtEnd)

        writer = WireWriter()
        ListCopies(lists: [NamedList(name: "bob", list: list)], covered: 1).encode(to: &writer)
        reader = WireReader(writer.bytes)
        let copies = try ListCopies(from: &reader)
        #expect(copies.lists.map(\.name) == ["bob"] && copies.lists.map(\.list) == [list])

        writer = WireWriter()
        writer.writeVarint(1 << 40)
        reader = WireReader(writer.bytes)
        #expect(throws: WireError.malformed("change count larger than the message")) { try StoreBatch(from: &reader) }
    }

    /// A list too big for one answer travels in parts: each within the bound (but for a lone
    /// record bigger than it), in id order, after the record the one before ended with, and
    /// together every record once; merged, they make the list.
    @Test func aListComesInPartsOfBoundedSizeThatTogetherMakeIt() throws {
        let day = try #require(TodoDate("2018-12-19"))
        var list = TodoList()
        for index in 0..<100 {
            _ = list.add(date: day, title: String(repeating: "t", count: index * 10), by: "todo1", atMillis: Int64(index))
        }
        _ = list.delete(id: EntryID(counter: 50, origin: "todo1"), by: "todo1", atMillis: 200)
        var merged = TodoList(), after: EntryID?, parts = 0
        while true {
            let part = list.part(after: after, maxBytes: 2_000)
            var writer = WireWriter()
            for record in part.list.records { record.encode(to: &writer) }
            #expect(writer.bytes.count == part.bytes)
            #expect(part.bytes <= 2_000 || part.list.records.count == 1, "a part of \(part.bytes) bytes")
            if let first = part.list.records.first, let after { #expect(first.id > after) }
            #expect(!part.list.records.isEmpty)
            #expect(part.list.nextCounter == list.nextCounter)
            _ = merged.merge(part.list)
            parts += 1
            if part.complete { break }
            after = part.list.records.last?.id
        }
        #expect(parts > 10)
        #expect(merged == list)
        let rest = list.part(after: list.records.last?.id, maxBytes: 2_000)
        #expect(rest.list.records.isEmpty && rest.complete)
        let whole = list.part(after: nil, maxBytes: 1 << 20)
        #expect(whole.list == list && whole.complete)
    }

    /// `todo.fetch`'s request goes on after a record, and its answer says its last list is a
    /// part, each only when so (a request's bytes are otherwise what they were); the answer
    /// says how many names it covers, and no more lists than those and the part.
    @Test func aFetchGoesOnAfterARecordAndItsAnswerSaysWhenItEndsWithAPart() throws {
        var list = TodoList()
        _ = list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist", by: "todo1", atMillis: 1)
        for request in [ListNames(names: ["a", "b"]), ListNames(names: ["a"], after: EntryID(counter: 7, origin: "todo2@h"))] {
            var writer = WireWriter()
            request.encode(to: &writer)
            var reader = WireReader(writer.bytes)
            let decoded = try ListNames(from: &reader)
            #expect(decoded.names == request.names && decoded.after == request.after && reader.isAtEnd)
        }
        var plain = WireWriter()
        ListNames(names: ["a", "b"]).encode(to: &plain)
        #expect(plain.bytes == [2, 1, 97, 1, 98])
        let lists = [NamedList(name: "a", list: list)]
        for answer in [ListCopies(lists: lists, covered: 3), ListCopies(lists: lists, covered: 0, partial: true)] {
            var writer = WireWriter()
            answer.encode(to: &writer)
            var reader = WireReader(writer.bytes)
            let decoded = try ListCopies(from: &reader)
            #expect(decoded.partial == answer.partial && decoded.covered == answer.covered)
            #expect(decoded.lists.map(\.list) == [list] && reader.isAtEnd)
        }
        var empty = WireWriter()
        ListCopies(lists: [], covered: 0, partial: true).encode(to: &empty)
        var reader = WireReader(empty.bytes)
        #expect(throws: WireError.malformed("not a part of a list")) { try ListCopies(from: &reader) }
        var tooMany = WireWriter()
        ListCopies(lists: lists + lists, covered: 1).encode(to: &tooMany)
        reader = WireReader(tooMany.bytes)
        #expect(throws: WireError.malformed("more lists than names covered")) { try ListCopies(from: &reader) }
        reader = WireReader(plain.bytes + [2])
        #expect(throws: WireError.malformed("not a record to go on after")) { try ListNames(from: &reader) }
    }

    @Test func aServerCallAndItsReplyCrossTheWireUnchanged() throws {
        let registry = WireRegistry()
        TodoSystem.registerMessages(in: registry)
        let day = try #require(TodoDate("2018-12-19"))
        let runtime = ProcessRuntime(node: "wire@localhost")
        let from = CallFrom(caller: runtime.spawn { _ in }, tag: runtime.makeRef())
        let three = EntryID(counter: 3, origin: "todo2")
        var list = TodoList()
        _ = list.add(date: day, title: "a", by: "todo1", atMillis: 1)
        let requests: [TodoServer.Request] = [.entries(nil), .entries(day), .add(date: day, title: "Dentist"),
                                              .update(id: three, date: nil, title: "x"), .update(id: three, date: day, title: nil),
                                              .delete(id: EntryID(counter: 9, origin: "")), .merge(list.asChange),
                                              .mergeOverruled(list.asChange)]
        let replies: [TodoServer.Reply] = [.entries([TodoEntry(id: three, date: day, title: "a")]), .entries([]),
                                           .entry(TodoEntry(id: three, date: day, title: "b")), .deleted, .notFound, .failed("disk"),
                                           .merged, .notHere]
        for request in requests {
            var writer = WireWriter()
            try registry.encode(CallMessage(from: from, request: request), to: &writer)
            var reader = WireReader(writer.bytes)
            let decoded = try #require(try registry.decode(from: &reader) as? CallMessage<TodoServer.Request>)
            #expect(decoded.request == request)
            #expect(decoded.from == from)
        }
        for reply in replies {
            var writer = WireWriter()
            try registry.encode(CallReply(tag: from.tag, value: reply), to: &writer)
            var reader = WireReader(writer.bytes)
            let decoded = try #require(try registry.decode(from: &reader) as? CallReply<TodoServer.Reply>)
            #expect(decoded.value == reply)
            #expect(decoded.tag == from.tag)
        }
    }

    @Test func hostileBytesAreRefusedNotTrusted() {
        var writer = WireWriter()
        writer.writeVarint(1)
        writer.writeVarint(UInt64.max)  // a count no message could hold
        var reader = WireReader(writer.bytes)
        #expect(throws: WireError.self) { try TodoList(from: &reader) }
        var badDate = WireWriter()
        badDate.writeVarint(2018)
        badDate.write(2)
        badDate.write(30)
        var dateReader = WireReader(badDate.bytes)
        #expect(throws: WireError.self) { try TodoDate(from: &dateReader) }
        var zeroId = WireWriter()
        zeroId.writeVarint(0)
        zeroId.writeString("todo1")
        var idReader = WireReader(zeroId.bytes)
        #expect(throws: WireError.self) { try EntryID(from: &idReader) }
        var hugeId = WireWriter()
        hugeId.writeVarint(UInt64(Int.max))
        hugeId.writeString("todo1")
        var hugeReader = WireReader(hugeId.bytes)
        #expect(throws: WireError.self) { try EntryID(from: &hugeReader) }
    }
}

struct TodoServerNameTests {
    /// The book's `{Todo.Server, name}`, as `:global` shows it.
    @Test func aListServersGlobalNameIsTheBooks() {
        #expect(TodoServer.globalName("bob") == "{Todo.Server, \"bob\"}")
        #expect(TodoServer.globalName("a list with a long name, ü") == "{Todo.Server, \"a list with a long name, ü\"}")
    }
}
