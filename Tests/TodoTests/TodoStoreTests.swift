import Foundation
import Testing
@testable import Todo

struct TodoStoreTests {
    @Test func keepsListsAcrossReopening() async throws {
        let directory = NSTemporaryDirectory() + "todo-store-\(UUID().uuidString)/nested"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let day = try #require(TodoDate("2018-12-19"))
        var bob = TodoList()
        bob.add(date: day, title: "Dentist")
        bob.add(date: day, title: "Buy milk")
        _ = bob.delete(id: 1)
        var alice = TodoList()
        alice.add(date: day, title: "Gym")
        do {
            let store = try TodoStore(directory: directory)
            #expect(try await store.load("bob") == nil)
            try await store.save([("bob", bob), ("alice", alice)])
            bob.add(date: day, title: "Movies")
            try await store.save([("bob", bob)])
        }
        let reopened = try TodoStore(directory: directory)
        let loaded = try #require(try await reopened.load("bob"))
        #expect(loaded == bob)
        #expect(loaded.nextId == 4)
        #expect(try await reopened.load("alice") == alice)
        #expect(try await reopened.listNames() == ["alice", "bob"])
    }

    @Test func refusesADirectoryItCannotMake() throws {
        let file = NSTemporaryDirectory() + "todo-store-file-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: (any Error).self) { try TodoStore(directory: file + "/below") }
    }
}
