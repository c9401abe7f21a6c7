import Foundation
import Testing
@testable import Todo

struct TodoStoreTests {
    @Test func changesAppliedInOrderGiveTheServersListAndSurviveReopening() async throws {
        let directory = NSTemporaryDirectory() + "todo-store-\(UUID().uuidString)/nested"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let day = try #require(TodoDate("2018-12-19"))
        // The server's list and the changes it sends, as TodoServer makes them.
        var bob = TodoList(), alice = TodoList()
        var changes: [(name: String, change: ListChange)] = []
        func add(_ title: String, to list: inout TodoList, _ name: String) {
            let entry = list.add(date: day, title: title)
            changes.append((name, ListChange(.put(entry), after: list)))
        }
        add("Dentist", to: &bob, "bob")
        add("Buy milk", to: &bob, "bob")
        add("Gym", to: &alice, "alice")
        let update = bob.update(id: 2, title: "Buy oat milk")
        let renamed = try #require(update)
        changes.append(("bob", ListChange(.put(renamed), after: bob)))
        _ = bob.delete(id: 1)
        changes.append(("bob", ListChange(.delete(id: 1), after: bob)))
        do {
            let store = try TodoStore(directory: directory)
            #expect(try await store.load("bob") == nil)
            try await store.apply(Array(changes.prefix(3)))
            try await store.apply(Array(changes.dropFirst(3)))
            add("Movies", to: &bob, "bob")
            try await store.apply([changes[changes.count - 1]])
        }
        let reopened = try TodoStore(directory: directory)
        let loaded = try #require(try await reopened.load("bob"))
        #expect(loaded == bob)
        #expect(loaded.nextId == 4)
        #expect(loaded.version == 5)
        #expect(try await reopened.load("alice") == alice)
        #expect(try await reopened.versions() == ["alice": 1, "bob": 5])
        var replayed = TodoList()
        for (name, change) in changes where name == "bob" { replayed.apply(change) }
        #expect(replayed == bob)
    }

    @Test func aReplicaIgnoresOldChangesAndStaysBehindAfterAGap() async throws {
        let directory = NSTemporaryDirectory() + "todo-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try TodoStore(directory: directory)
        let day = try #require(TodoDate("2018-12-19"))
        var list = TodoList()
        var changes: [ListChange] = []
        for title in ["a", "b", "c", "d"] {
            let entry = list.add(date: day, title: title)
            changes.append(ListChange(.put(entry), after: list))
        }
        try await store.apply([("x", changes[0]), ("x", changes[2])])  // missed version 2
        #expect(try await store.load("x")?.version == 1)
        #expect(try await store.load("x")?.entries.map(\.title) == ["a", "c"])
        // Catch-up brings the whole newer copy; a late old change changes nothing.
        #expect(try await store.replace("x", with: list))
        try await store.apply([("x", changes[1])])
        #expect(try await store.load("x") == list)
        #expect(try await !store.replace("x", with: TodoList()))
        #expect(try await store.versions() == ["x": 4])
    }

    @Test func refusesADirectoryItCannotMake() throws {
        let file = NSTemporaryDirectory() + "todo-store-file-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: (any Error).self) { try TodoStore(directory: file + "/below") }
    }
}
