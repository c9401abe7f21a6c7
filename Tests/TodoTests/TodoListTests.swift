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

    @Test func addGivesIncreasingIdsAndKeepsCreationOrder() {
        var list = TodoList()
        let ids = [list.add(date: day, title: "Dentist").id, list.add(date: other, title: "Gym").id,
                   list.add(date: day, title: "Movies").id]
        #expect(ids == [1, 2, 3])
        #expect(list.entries(on: day).map(\.title) == ["Dentist", "Movies"])
        #expect(list.entries(on: nil).map(\.id) == [1, 2, 3])
        #expect(list.entries(on: TodoDate("2018-01-01")).isEmpty)
    }

    @Test func idsAreNeverReusedAfterADelete() {
        var list = TodoList()
        list.add(date: day, title: "a")
        list.add(date: day, title: "b")
        let deleted = list.delete(id: 2)
        let deletedAgain = list.delete(id: 2)
        #expect(deleted)
        #expect(!deletedAgain)
        let next = list.add(date: day, title: "c").id
        #expect(next == 3)
        #expect(list.entries(on: day).map(\.title) == ["a", "c"])
    }

    @Test func updateChangesOnlyWhatIsGiven() {
        var list = TodoList()
        list.add(date: day, title: "Dentist")
        let retitled = list.update(id: 1, title: "Doctor")
        let moved = list.update(id: 1, date: other)
        let missing = list.update(id: 9, title: "x")
        #expect(retitled == TodoEntry(id: 1, date: day, title: "Doctor"))
        #expect(moved == TodoEntry(id: 1, date: other, title: "Doctor"))
        #expect(missing == nil)
        #expect(list.entries(on: day).isEmpty)
        #expect(list.entry(id: 1)?.date == other)
    }

    @Test func aStoredListKeepsItsCounterAboveEveryId() {
        let restored = TodoList(nextId: 1, entries: [TodoEntry(id: 7, date: day, title: "x"), TodoEntry(id: 3, date: day, title: "y")])
        #expect(restored.entries.map(\.id) == [3, 7])
        #expect(restored.nextId == 8)
        #expect(TodoList(nextId: 20, entries: []).nextId == 20)
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
        #expect(throws: TodoInputError("bad entry id \"0\": expected a positive number")) { try TodoInput.entryId("0") }
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
    }

    @Test func reportsBrokenEscapes() {
        let query = FormQuery("a=%ZZ&b=%C3&c=%4")
        #expect(query.malformed == ["a", "b", "c"])
        #expect(FormQuery.decode("a+b", plusIsSpace: false) == "a+b")
    }
}

struct ListChangeTests {
    @Test func aReplicaApplyingTheServersChangesInOrderEndsEqual() throws {
        let day = try #require(TodoDate("2018-12-19"))
        var server = TodoList(), replica = TodoList()
        let first = server.add(date: day, title: "a")
        replica.apply(ListChange(.put(first), after: server))
        let second = server.add(date: day, title: "b")
        replica.apply(ListChange(.put(second), after: server))
        let update = server.update(id: 1, title: "A")
        let changed = try #require(update)
        replica.apply(ListChange(.put(changed), after: server))
        _ = server.delete(id: 2)
        replica.apply(ListChange(.delete(id: 2), after: server))
        #expect(replica == server)
        #expect(server.version == 4)
        // Applying one again changes nothing.
        replica.apply(ListChange(.put(first), nextId: 2, version: 1))
        #expect(replica == server)
    }
}

struct TodoWireTests {
    @Test func aListCrossesTheWireUnchanged() throws {
        var list = TodoList()
        list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist")
        list.add(date: try #require(TodoDate("0001-01-01")), title: "ü ✓ with spaces")
        _ = list.delete(id: 1)
        var writer = WireWriter()
        list.encode(to: &writer)
        var reader = WireReader(writer.bytes)
        #expect(try TodoList(from: &reader) == list)
        #expect(reader.isAtEnd)
    }

    @Test func aChangeCrossesTheWireUnchanged() throws {
        let entry = TodoEntry(id: 7, date: try #require(TodoDate("2018-12-19")), title: "Dentist")
        for change in [ListChange(.put(entry), nextId: 8, version: 4), ListChange(.delete(id: 3), nextId: 8, version: 5)] {
            var writer = WireWriter()
            change.encode(to: &writer)
            var reader = WireReader(writer.bytes)
            #expect(try ListChange(from: &reader) == change)
            let coded = try BinaryDecoder().decode(ListChange.self, from: BinaryEncoder().encode(change))
            #expect(coded == change)
        }
    }

    @Test func aServerCallAndItsReplyCrossTheWireUnchanged() throws {
        let registry = WireRegistry()
        TodoSystem.registerMessages(in: registry)
        let day = try #require(TodoDate("2018-12-19"))
        let runtime = ProcessRuntime(node: "wire@localhost")
        let from = CallFrom(caller: runtime.spawn { _ in }, tag: runtime.makeRef())
        let requests: [TodoServer.Request] = [.entries(nil), .entries(day), .add(date: day, title: "Dentist"),
                                              .update(id: 3, date: nil, title: "x"), .update(id: 3, date: day, title: nil), .delete(id: 9)]
        let replies: [TodoServer.Reply] = [.entries([TodoEntry(id: 1, date: day, title: "a")]), .entries([]),
                                           .entry(TodoEntry(id: 2, date: day, title: "b")), .deleted, .notFound, .failed("disk")]
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
        writer.writeSigned(1)
        writer.writeVarint(UInt64.max)  // a count no message could hold
        var reader = WireReader(writer.bytes)
        #expect(throws: WireError.self) { try TodoList(from: &reader) }
        var badDate = WireWriter()
        badDate.writeVarint(2018)
        badDate.write(2)
        badDate.write(30)
        var dateReader = WireReader(badDate.bytes)
        #expect(throws: WireError.self) { try TodoDate(from: &dateReader) }
    }
}
