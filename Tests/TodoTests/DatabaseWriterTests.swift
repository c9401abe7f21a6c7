import ClusterTestKit
import Foundation
import Processes
import Testing
@testable import Todo

/// The writer's callbacks, driven by the test as its server loop drives them: when a batch
/// begins (its commit), and what its callers hear.
struct DatabaseWriterTests {
    @Test func aBusyWriterHoldsItsNextBatchForCompanyAndAQuietOneBeginsAtOnce() async throws {
        try await withDrivenWriter { driven in
            try await driven.send(["lone"])
            #expect(driven.writer.idleTimeout == .zero)
            try await driven.commit()
            try await driven.answered(["lone"])

            // The last batch was quiet: this one begins at once, and has company.
            try await driven.send(["a", "b", "c"])
            #expect(driven.writer.idleTimeout == .zero)
            try await driven.commit()
            try await driven.answered(["a", "b", "c"])

            // So the next is held, counted from its first change, and its timeout before the
            // window has passed begins nothing...
            try await driven.send(["d"])
            let held = try #require(driven.writer.idleTimeout)
            #expect(held > .seconds(30))  // of 60: held, whatever the pace of the machine
            _ = try await driven.writer.handleTimeout(context: driven.context)
            #expect((driven.writer.idleTimeout ?? .zero) > .seconds(30))
            try await driven.send(["e"])
            #expect((driven.writer.idleTimeout ?? .seconds(61)) <= held)
            // ...until as many callers as the last batch had have come.
            try await driven.send(["f"])
            #expect(driven.writer.idleTimeout == .zero)
            try await driven.commit()
            try await driven.answered(["d", "e", "f"])

            // A writer that stops writes what it held.
            try await driven.send(["g"])
            #expect((driven.writer.idleTimeout ?? .zero) > .seconds(30))
            await driven.writer.terminate(reason: .shutdown, context: driven.context)
            try await driven.answered(["g"])
        }
    }

    /// With a peer, every batch is also committed there: the next one, after a busy batch,
    /// may wait two windows for company.
    @Test func withAPeerABusyWritersNextBatchMayWaitTwoWindows() async throws {
        try await withDrivenWriter(peers: 1) { driven in
            try await driven.send(["a", "b", "c"])
            try await driven.commit()
            try await driven.answered(["a", "b", "c"])
            try await driven.send(["d"])
            #expect((driven.writer.idleTimeout ?? .zero) > .seconds(90))  // of 120: one window is 60
            try await driven.send(["e", "f"])
            #expect(driven.writer.idleTimeout == .zero)
            try await driven.commit()
            try await driven.answered(["d", "e", "f"])
        }
    }

    /// A full batch has nothing to gather: it begins as soon as the commit before it ends.
    @Test func aFullBatchIsNotHeld() async throws {
        try await withDrivenWriter { driven in
            try await driven.send(["a", "b", "c"])
            _ = try await driven.writer.handleTimeout(context: driven.context)  // busy from here
            let full = (0..<DatabaseWriter.maxBatch).map { "list\($0)" }
            try await driven.send(full)  // while the commit runs
            try await driven.endCommit()
            #expect(driven.writer.idleTimeout == .zero)
            try await driven.commit()
            try await driven.answered(["a", "b", "c"] + full)
        }
    }

    /// What the end of a commit makes ready runs where the commit ended, on the store's
    /// thread: the writer, and the list server it answers, wake no thread of the pool.
    ///
    /// Only what waits when the commit ends: a writer preempted before it waits (a loaded
    /// machine) finds the commit's end in its mailbox later, on its own thread, and the caller
    /// is answered from there. So a store is tried up to 5 times, and one must show the move.
    @Test func theCallerOfAStoreRunsOnTheStoresThreadOnceItsCommitEnds() async throws {
        try await withTodoCluster { todo in
            let node = try await todo.cluster.startNode("n1")
            let store = try await TodoStore.open(directory: todo.dataDirectory(of: node))
            try await node.runtime.withProcess { context in
                let writer = try await context.startServer(name: .local(DatabaseWriter.localName)) { writer in
                    DatabaseWriter(store: store, node: node, logger: node.logger, gathering: .zero, context: writer)
                }
                let me = context.pid, day = try #require(TodoDate("2018-12-19"))
                var seen: [[String]] = []
                for attempt in 1...5 {
                    // A process, as a list server is (the test's own task is not one).
                    node.runtime.spawn { caller in
                        let change = TodoList().proposeAdd(date: day, title: "Task \(attempt)", by: "n1", atMillis: Int64(attempt))
                        let before = threadName()
                        let outcome = try await caller.call(writer.pid, DatabaseWriter.Request.replicate(NamedChange(name: "l\(attempt)", change: change)),
                                                            replyType: DatabaseWriter.Outcome.self)
                        caller.send([before, threadName(), "\(outcome)"], to: me)
                    }
                    let words = try #require(try await context.receive([String].self, timeout: .seconds(10)))
                    #expect(words[2] == "\(DatabaseWriter.Outcome.stored(badNodes: []))")
                    seen.append(words)
                    // A pool thread, then the store's queue's (libdispatch names its threads by queue).
                    if words[0] != words[1] { break }
                }
                #expect(seen.contains { $0[0] != $0[1] }, "the caller never moved to the store's thread: \(seen)")
            }
        }
    }

    /// A writer whose loop is the test's process, over a store of its own, with a 60 s
    /// gathering window, on node n1 of a mesh with `peers` more nodes.
    private func withDrivenWriter(peers: Int = 0, _ body: (inout DrivenWriter) async throws -> Void) async throws {
        try await withTodoCluster { todo in
            let node = try await todo.cluster.startMesh(1 + peers)[0]
            let store = try await TodoStore.open(directory: todo.dataDirectory(of: node))
            var lists: [String] = []
            try await node.runtime.withProcess { context in
                let writer = DatabaseWriter(store: store, node: node, logger: node.logger, gathering: .seconds(60), context: context)
                var driven = DrivenWriter(writer: writer, context: context, day: try #require(TodoDate("2018-12-19")))
                try await body(&driven)
                lists = Array(driven.callers.keys)
            }
            for list in lists { #expect(try await store.load(list) != nil, "\(list)") }
        }
    }
}

struct DrivenWriter {
    var writer: DatabaseWriter
    let context: ProcessContext
    let day: TodoDate
    /// The tag of each list's call.
    var callers: [String: Ref] = [:]

    /// A peer's batch of one new entry for each list, each batch from a caller of its own.
    mutating func send(_ lists: [String]) async throws {
        for list in lists {
            let tag = context.runtime.makeRef()
            callers[list] = tag
            let change = TodoList().proposeAdd(date: day, title: "Task", by: "n2", atMillis: 1)
            _ = try await writer.handleCall(.local([NamedChange(name: list, change: change)]),
                                            from: CallFrom(caller: context.pid, tag: tag), context: context)
        }
    }

    /// The loop's timeout begins the batch; the store's answer ends its commit.
    mutating func commit() async throws {
        _ = try await writer.handleTimeout(context: context)
        #expect(writer.idleTimeout == nil)  // a commit runs, and no peer is waited for
        try await endCommit()
    }

    mutating func endCommit() async throws {
        let committed = try #require(try await context.receive(DatabaseWriter.Committed.self, timeout: .seconds(10)))
        _ = try await writer.handleInfo(committed, context: context)
    }

    func answered(_ lists: [String]) async throws {
        for list in lists {
            let tag = try #require(callers[list])
            let outcome = try await context.receive(timeout: .seconds(10)) {
                ($0 as? CallReply<DatabaseWriter.Outcome>).flatMap { $0.tag == tag ? $0.value : nil }
            }
            #expect(outcome == .stored(badNodes: []), "\(list)")
        }
    }
}

/// The calling thread's name, which libdispatch sets to its queue's label.
private func threadName() -> String {
    (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
}
