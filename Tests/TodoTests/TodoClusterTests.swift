@testable import Cluster
import ClusterTestKit
import Processes
import Synchronization
import Testing
@testable import Todo

@Suite(.timeLimit(.minutes(2)))
struct TodoClusterTests {
    /// The book's 12.2.4: write through one node, read through the other, stop the first,
    /// read again from the second's own copy.
    @Test func writeOnOneNodeReadOnAnotherThenLoseTheFirst() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            #expect(try await one.add("bob", "2018-12-19", "Dentist").id.description == "1.n1")
            #expect(try await two.entries("bob", "2018-12-19") == ["2018-12-19 Dentist"])
            #expect(one.whereis("bob") == one.node.name)
            #expect(two.whereis("bob") == one.node.name)
            #expect(try await one.storedTitles("bob") == ["Dentist"])
            #expect(try await two.storedTitles("bob") == ["Dentist"])
            #expect(todo.cluster.logs.all.filter { $0.contains("Starting to-do server for bob.") }.count == 1)

            await one.shutdown()
            try await eventually("n1 gone from n2") { two.node.nodes().isEmpty }
            #expect(try await two.entries("bob", "2018-12-19") == ["2018-12-19 Dentist"])
            #expect(two.whereis("bob") == two.node.name)
            #expect(try await two.add("bob", "2018-12-20", "Gym").id.description == "2.n2")
            #expect(!todo.cluster.logs.contains("Store failed"))
        }
    }

    /// A node stopping gracefully stops its list servers, leaves the cluster, and only then
    /// stops its database writer: a peer's write that comes meanwhile is stored there too.
    /// The writer used to stop first, and each such write failed there (`Store failed`).
    @Test func aNodeStoppingGracefullyStoresItsPeersWritesUntilItHasLeft() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await two.add("erin", "2018-12-19", "Before")
            var during: TodoEntry?
            await one.stopServing(thenLeave: {
                during = try? await two.add("erin", "2018-12-19", "While n1 leaves")
                await one.node.shutdown()
            })
            #expect(during != nil)
            #expect(try await one.storedTitles("erin") == ["Before", "While n1 leaves"])
            #expect(!todo.cluster.logs.contains("Store failed"))
            await one.closeStore()
        }
    }

    @Test func threeNodesAskingForOneNewListAtOnceGetOneServer() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            for round in 0..<5 {
                let list = "race-\(round)"
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for system in systems {
                        group.addTask { _ = try await system.entries(list) }
                    }
                    try await group.waitForAll()
                }
                let owners = Set(systems.map { $0.whereis(list) })
                #expect(owners.count == 1)
                #expect(owners.first != nil)
                #expect(todo.cluster.logs.all.filter { $0.contains("Starting to-do server for \(list).") }.count == 1)
            }
            var children = 0
            for system in systems {
                let cache = try #require(system.node.runtime.whereis(TodoCache.localName))
                children += try await system.node.runtime.withProcess { try await $0.whichChildren(ServerRef<Supervisor>(cache)) }.count
            }
            #expect(children == 5)
        }
    }

    @Test func writesFromEveryNodeToOneListAreAllKeptWithDistinctIds() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let ids = try await withThrowingTaskGroup(of: EntryID.self) { group in
                for (index, system) in systems.enumerated() {
                    for write in 0..<10 {
                        group.addTask { try await system.add("shared", "2018-12-19", "n\(index)-\(write)").id }
                    }
                }
                return try await group.reduce(into: [EntryID]()) { $0.append($1) }
            }
            // One server made them all: one counter, one node.
            #expect(Set(ids.map(\.counter)) == Set(1...30))
            #expect(Set(ids.map(\.origin)).count == 1)
            for system in systems {
                #expect(try await system.storedTitles("shared").count == 30)
                #expect(try await system.entries("shared").count == 30)
            }
        }
    }

    /// A delete through any node leaves no copy of what was deleted: every node's store holds
    /// the tombstone without the entry's title and date once the delete is answered.
    @Test func aDeleteLeavesNoNodeWithTheDeletedTitle() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let secret = try await systems[0].add("ivy", "2031-07-09", "Call Alice about the surprise party")
            _ = try await systems[0].add("ivy", "2018-12-19", "Dentist")
            #expect(try await systems[2].perform("ivy", .delete(id: secret.id)) == .deleted)
            for system in systems {
                let stored = try #require(try await system.database.local.load("ivy"))
                #expect(stored.records.map(\.title) == ["", "Dentist"], "\(system.node.name)")
                #expect(stored.records.map(\.date.description) == ["0000-01-01", "2018-12-19"], "\(system.node.name)")
            }
        }
    }

    /// A list server hands its change to the node's writer, which sends it on with the other
    /// changes of its batch: beyond the request's process here and rex's worker there, a
    /// write starts no process (it started three more before: a store, a multicall and a
    /// store on the peer).
    @Test func aWriteStartsNoProcessOfItsOwnToReachTheWriters() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await one.add("dana", "2018-12-19", "Warm up")  // starts the list's server
            let startedHere = one.node.runtime.processesStarted, startedThere = two.node.runtime.processesStarted
            for index in 1...10 { _ = try await one.add("dana", "2018-12-19", "Entry \(index)") }
            // Exactly 10 and 10; the bounds leave room for a process some other work starts.
            #expect(one.node.runtime.processesStarted - startedHere < 15)
            #expect(two.node.runtime.processesStarted - startedThere < 15)
            #expect(try await two.storedTitles("dana").count == 11)
        }
    }

    /// Writes to many lists at once reach a peer in batches, one request (one rex worker)
    /// each: fewer than one per write, and every write is there.
    @Test func writesThatComeTogetherReachAPeerInOneRequest() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            let lists = (1...20).map { "batch\($0)" }
            for list in lists { _ = try await one.add(list, "2018-12-19", "Warm up") }  // starts the servers
            let startedThere = two.node.runtime.processesStarted
            try await withThrowingTaskGroup(of: Void.self) { group in
                for list in lists { group.addTask { _ = try await one.add(list, "2018-12-19", "Together") } }
                try await group.waitForAll()
            }
            #expect(two.node.runtime.processesStarted - startedThere < 20)
            for list in lists { #expect(try await two.storedTitles(list) == ["Warm up", "Together"]) }
        }
    }

    /// The writer does not wait for its own commit: a change written here and on the peer is
    /// answered while the next batch's commit here cannot end (its database is locked).
    /// Before, the writer heard the peer's answer only once that commit had ended.
    @Test func aChangeIsAnsweredWhileTheNextBatchsCommitHereWaits() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            let day = try #require(TodoDate("2018-12-19"))
            let first = TodoList().proposeAdd(date: day, title: "First", by: "n1", atMillis: 1)
            let second = TodoList().proposeAdd(date: day, title: "Second", by: "n1", atMillis: 2)
            let peerLock = try WriteLock(two.database.local)
            defer { peerLock.release() }
            let rexWorkers = two.node.runtime.processesStarted
            let firstStore = Task { await one.database.store("first", first) }
            try await eventually("n1 has written the first change") { try await one.database.local.load("first") != nil }

            let localLock = try WriteLock(one.database.local)
            defer { localLock.release() }
            let secondStore = Task { await one.database.store("second", second) }
            // Its request has reached n2 (a rex worker of its own there): n1's writer has sent
            // it and begun its commit, which waits for the lock.
            try await eventually("the second batch reaches n2") { two.node.runtime.processesStarted >= rexWorkers + 2 }
            peerLock.release()
            let firstOutcome = await withTaskGroup(of: TodoDatabase.StoreOutcome?.self) { group in
                group.addTask { await firstStore.value }
                group.addTask {
                    try? await Task.sleep(for: .seconds(5))
                    return nil
                }
                let winner = await group.next() ?? nil
                group.cancelAll()
                return winner
            }
            #expect(firstOutcome == TodoDatabase.StoreOutcome(badNodes: [], storedLocally: true))

            localLock.release()
            #expect(await secondStore.value == TodoDatabase.StoreOutcome(badNodes: [], storedLocally: true))
            for system in systems {
                #expect(try await system.storedTitles("first") == ["First"])
                #expect(try await system.storedTitles("second") == ["Second"])
            }
        }
    }

    /// A node that shuts down stops its list servers with `shutdown`, and a caller on another
    /// node takes that for "never reached" and asks again. A server ended where it waited for
    /// its commit had taken the request, so the second try wrote the entry twice (found by
    /// restarting nodes under load). A list server now finishes the request in hand first.
    @Test func aServerStoppedForShutdownFinishesTheRequestInHandSoNothingIsWrittenTwice() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await two.add("bob", "2018-12-19", "First")
            let server = try #require(two.node.global.whereis(TodoServer.globalName("bob")))
            let cache = try #require(two.node.runtime.whereis(TodoCache.localName))
            let lock = try WriteLock(two.database.local)
            defer { lock.release() }
            let second = Task { try await one.add("bob", "2018-12-19", "Second") }
            // The server is inside its commit: n1 holds the change, n2's own copy waits.
            try await eventually("n1 stores the second entry") { try await one.storedTitles("bob").contains("Second") }
            // What n2's shutdown does to it: its supervisor, the cache, stops it.
            two.node.runtime.exit(server, reason: .shutdown, from: cache)
            lock.release()

            #expect(try await second.value.title == "Second")
            try await eventually("the server stops once it has answered") { !two.node.runtime.isAlive(server) }
            #expect(try await one.entries("bob", "2018-12-19") == ["2018-12-19 First", "2018-12-19 Second"])
            #expect(try await one.storedTitles("bob") == ["First", "Second"])
        }
    }

    @Test func aStoreReachesEveryConnectedNodeAndACutNodeIsABadNode() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let (one, three) = (systems[0], systems[2])
            _ = try await one.add("carol", "2018-12-19", "Dentist")
            for system in systems { #expect(try await system.storedTitles("carol") == ["Dentist"]) }

            todo.cluster.cut(one.node, three.node)
            var list = try #require(try await one.database.local.load("carol"))
            let gym = list.add(date: try #require(TodoDate("2018-12-20")), title: "Gym", by: "n1", atMillis: 1).1
            let started = ContinuousClock.now
            let outcome = await one.database.store("carol", gym)
            #expect(outcome.badNodes == [three.node.name])
            #expect(outcome.storedLocally)
            #expect(ContinuousClock.now - started < .seconds(6))
            #expect(todo.cluster.logs.contains("Store failed on node n3@localhost"))
            #expect(try await systems[1].storedTitles("carol") == ["Dentist", "Gym"])
            #expect(try await three.storedTitles("carol") == ["Dentist"])
        }
    }

    /// A node that was away catches up when it comes back, so it can serve everything alone.
    @Test func aNodeThatComesBackCatchesUpAndServesEverythingAlone() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let dentist = try await systems[0].add("frank", "2018-12-19", "Dentist")
            await systems[2].shutdown()
            try await eventually("n3 gone") { systems[0].node.nodes().count == 1 }
            _ = try await systems[0].add("frank", "2018-12-19", "Gym")
            _ = try await systems[1].add("grace", "2018-12-19", "Movies")
            _ = try await systems[1].perform("frank", .delete(id: dentist.id))

            let n3 = try await todo.cluster.startNode("n3")
            let back = try await reopening { try await todo.startSystem(on: n3) }
            #expect(await back.node.connect(systems[0].node.name))
            try await eventually("n3 caught up") {
                let frank = try await back.storedTitles("frank"), grace = try await back.storedTitles("grace")
                return frank == ["Gym"] && grace == ["Movies"]
            }
            for system in systems.prefix(2) {
                await system.shutdown()
            }
            try await eventually("n3 alone") { back.node.nodes().isEmpty }
            #expect(try await back.entries("frank") == ["2018-12-19 Gym"])
            #expect(try await back.entries("grace") == ["2018-12-19 Movies"])
            #expect(try await back.add("frank", "2018-12-20", "Swim").id.counter == 3)
        }
    }

    /// A node's system starts before peers can log in to it (`ClusterNode.start`'s
    /// `readying`): a peer that dials it meanwhile, as a restarted node's peers do at once,
    /// gets in after, and its catch-up brings what only that node held, rather than stopping
    /// at `no function todo.digest_buckets on that node`.
    @Test func aPeerThatDialsANodeWhileItsSystemStartsCatchesUpFromIt() async throws {
        try await withTodoCluster { todo in
            let n1 = try await todo.startSystem(on: try await todo.cluster.startNode("n1") { $0.connectTimeout = .milliseconds(500) })
            // n2's copy holds a list n1 has never seen, as one written while n1 was away.
            var list = TodoList()
            let change = list.add(date: try #require(TodoDate("2018-12-19")), title: "only on n2", by: "n2", atMillis: 1).1
            let store = try await TodoStore.open(directory: todo.root + "/n2")
            #expect(try await store.apply([("lena", change)]) == [true])
            await store.close()

            let (n2, dialledWhileStarting) = try await todo.cluster.startNode("n2") { node in
                let dialled = await n1.node.connect(node.name)
                _ = try await reopening { try await todo.startSystem(on: node) }
                return dialled
            }
            #expect(dialledWhileStarting == false)
            // Its dial has a short timeout: on a loaded host one may not be enough.
            try await eventually("n1 in") { await n1.node.connect(n2.name) }
            try await eventually("n1's copy has n2's list") { try await n1.storedTitles("lena") == ["only on n2"] }
            #expect(!todo.cluster.logs.contains("catch-up from"))
        }
    }

    /// A system that waits to join (`TodoSettings.waitsToJoin`, as `todo-node --connect`)
    /// holds requests until its node has tried to, and answers unavailable when that does not
    /// come within their deadline: it does not serve its own copy, which may be older than
    /// its peers', before it has them.
    @Test func requestsWaitForTheNodesTryToJoin() async throws {
        try await withTodoCluster { todo in
            let system = try await todo.startSystem(on: try await todo.cluster.startNode("n1"), waitsToJoin: true)
            await #expect(throws: TodoFailure.unavailable("this node is still joining its cluster")) {
                try await system.perform("frank", .add(date: try #require(TodoDate("2018-12-19")), title: "Dentist"),
                                         deadline: .milliseconds(200))
            }
            #expect(try await system.storedTitles("frank").isEmpty)
            system.triedToJoin()
            _ = try await system.add("frank", "2018-12-19", "Dentist")
            #expect(try await system.entries("frank") == ["2018-12-19 Dentist"])
        }
    }

    /// A write that reached one node's copy and not another's, with no node going down to
    /// trigger catch-up (a store that timed out, say), reaches it by anti-entropy.
    @Test func antiEntropyMakesGoodAStoreThatMissedAConnectedNode() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2, antiEntropy: .milliseconds(100))
            var list = TodoList()
            let change = list.add(date: try #require(TodoDate("2018-12-19")), title: "only on n1", by: "n1", atMillis: 1).1
            try await systems[0].database.local.apply([("lena", change)])
            try await eventually("n2's copy has it") { try await systems[1].storedTitles("lena") == ["only on n1"] }
        }
    }

    /// Catch-up between copies that differ in one list of 300 compares one digest bucket of
    /// 256, then the digests of the lists in it, and fetches that list alone.
    @Test func catchUpComparesOnlyTheBucketThatDiffers() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let day = try #require(TodoDate("2018-12-19"))
            let names = (1...300).map { "list\($0)" }
            let changes = names.map { name in
                var list = TodoList()
                return (name, list.add(date: day, title: "same", by: "n1@localhost", atMillis: 1).1)
            }
            for system in systems { _ = try await system.database.local.apply(changes) }
            var lena = try #require(try await systems[0].database.local.load("list7"))
            _ = lena.add(date: day, title: "only on n1", by: "n1@localhost", atMillis: 2)
            _ = try await systems[0].database.local.apply([("list7", lena.asChange)])

            #expect(await systems[1].database.catchUp(from: systems[0].node.name) == ["list7"])
            let sharing = names.filter { DigestBuckets.bucket(of: $0) == DigestBuckets.bucket(of: "list7") }.count
            #expect(todo.cluster.logs.contains(
                "caught up 1 lists from n1@localhost (compared 1 of 256 digest buckets, then \(sharing) list digests)"))
            #expect(try await systems[1].storedTitles("list7") == ["same", "only on n1"])
            #expect(await systems[1].database.catchUp(from: systems[0].node.name).isEmpty)
        }
    }

    /// Big lists come a few at a time, each answer far below the largest cluster message,
    /// and catch-up asks again for the rest until it has them all.
    @Test func catchUpFetchesBigListsInAnswersOfBoundedSize() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let names = (1...12).map { "big\($0)" }
            let lists = try names.map { name in (name, try bigList(1_000, by: "n1@localhost").asChange) }
            _ = try await systems[0].database.local.apply(lists)
            let first = try await systems[0].database.copies(of: names)
            #expect((1..<names.count).contains(first.lists.count), "one answer held \(first.lists.count) lists of about 1 MB")
            #expect(Set(await systems[1].database.catchUp(from: systems[0].node.name)) == Set(names))
            #expect(try await systems[1].storedTitles("big12").count == 1_000)
        }
    }

    /// A list too big for one answer comes in parts, each answer within the bound, and
    /// catch-up asks for the rest after each. It came whole: one past 64 MiB (the most a
    /// cluster message may carry; 60,000 entries of 1,000-byte titles) could not be caught up
    /// at all, and each try waited 30 s for an answer that was never sent.
    @Test func catchUpFetchesAListTooBigForOneAnswerInParts() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2, answerBytes: Self.smallAnswer)
            let huge = try bigList(300, by: "n1@localhost")
            var small = TodoList()
            let added = small.add(date: try #require(TodoDate("2018-12-19")), title: "after the big one", by: "n1@localhost", atMillis: 1).1
            _ = try await systems[0].database.local.apply([("huge", huge.asChange), ("small", added)])
            let first = try await systems[0].database.copies(of: ["huge", "small"])
            var writer = WireWriter()
            first.encode(to: &writer)
            #expect(first.partial && first.lists.map(\.name) == ["huge"])
            #expect(writer.bytes.count <= Self.smallAnswer + 64, "an answer of \(writer.bytes.count) bytes")
            #expect(await systems[1].database.catchUp(from: systems[0].node.name) == ["huge", "small"])
            #expect(try await systems[1].storedTitles("huge").count == 300)
            #expect(try await systems[1].storedTitles("small") == ["after the big one"])
            #expect(await systems[1].database.catchUp(from: systems[0].node.name).isEmpty)
        }
    }

    /// Lists that fit an answer of their own go whole, as many as fit, in order, and the
    /// next answer begins with the first that did not: each answer within its bound, names
    /// (up to 200 bytes each) counted too.
    @Test func anAnswerTakesWholeListsWithinItsBoundNamesCounted() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(1, answerBytes: Self.smallAnswer)
            var names: [String] = []
            for index in 0..<40 {
                let name = String(format: "%03d", index) + String(repeating: "n", count: 197)
                names.append(name)
                _ = try await systems[0].database.local.apply([(name, try bigList(3 + index * 7 % 23, by: "n1@localhost").asChange)])
            }
            var answered: [String] = [], answers = 0
            while answered.count < names.count, answers < 40 {
                let answer = try await systems[0].database.copies(of: Array(names[answered.count...]))
                var writer = WireWriter()
                answer.encode(to: &writer)
                // A list's own count and counter, and its name's length, are a few bytes more.
                #expect(writer.bytes.count <= Self.smallAnswer + 8 * answer.lists.count + 8, "an answer of \(writer.bytes.count) bytes")
                #expect(!answer.partial && !answer.lists.isEmpty)
                answered += answer.lists.map(\.name)
                answers += 1
            }
            #expect(answered == names)
            #expect(answers > 5)
        }
    }

    /// A list whose records alone fit an answer but not with its 200-byte name comes in
    /// parts: counted without its name, it went whole, past the bound.
    @Test func aListThatFitsAnAnswerOnlyWithoutItsNameComesInParts() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(1, answerBytes: Self.smallAnswer)
            let name = String(repeating: "n", count: 200)
            var list = TodoList()
            func recordBytes() -> Int {
                var writer = WireWriter()
                for record in list.records { record.encode(to: &writer) }
                return writer.bytes.count
            }
            // 60 entries and one more, its title as long as brings the records to 100 bytes
            // under the bound (a few tries: the title's length is a varint).
            var length = 1
            for _ in 0..<4 {
                list = try bigList(60, by: "n1@localhost")
                _ = list.add(date: try #require(TodoDate("2018-12-19")), title: String(repeating: "t", count: length),
                             by: "n1@localhost", atMillis: 100)
                length += Self.smallAnswer - 100 - recordBytes()
            }
            #expect(recordBytes() == Self.smallAnswer - 100)
            _ = try await systems[0].database.local.apply([(name, list.asChange)])
            let answer = try await systems[0].database.copies(of: [name])
            var writer = WireWriter()
            answer.encode(to: &writer)
            let (bytes, partial) = (writer.bytes.count, answer.partial)
            #expect(bytes <= Self.smallAnswer + 16)
            #expect(partial)
        }
    }

    /// A peer whose parts of a list make no headway (the same part again, as a bug or a
    /// hostile peer with the cookie might send) ends that catch-up with a clear line: the
    /// loop asks after the part's last record, and would ask for ever.
    @Test func catchUpStopsAtAPeerWhosePartsMakeNoHeadway() async throws {
        let stopped = "catch-up from stuck@localhost stopped: the answer for list loop went no further than the one before"
        try await catchUp(fromAPeer: "stuck", claiming: "loop", answering: { _, part in
            ListCopies(lists: [NamedList(name: "loop", list: part)], covered: 0, partial: true)
        }, stopsWith: stopped) { todo, system, peer, fetches in
            // The node caught up from the peer as it came (its own round); once more here.
            let before = fetches()
            #expect(await system.database.catchUp(from: peer).isEmpty)
            #expect(fetches() - before == 2)
        }
    }

    /// A peer whose answer is not one to the request (a list not asked; none of the lists
    /// asked covered), as a bug or a hostile peer with the cookie might send, ends that
    /// catch-up with a clear line: the loop goes on after the names an answer covers, and
    /// would ask for ever. Nothing in such an answer is stored.
    @Test func catchUpStopsAtAPeerWhoseAnswerIsNotOneToTheRequest() async throws {
        let stopped = "catch-up from blank@localhost stopped: the answer does not answer the lists asked"
        // The first answer holds a list not asked; the next ones cover nothing.
        try await catchUp(fromAPeer: "blank", claiming: "asked", answering: { fetch, stray in
            fetch == 1 ? ListCopies(lists: [NamedList(name: "stray", list: stray)], covered: 1) : ListCopies(lists: [], covered: 0)
        }, stopsWith: stopped) { todo, system, peer, fetches in
            let before = (fetches: fetches(), lines: todo.cluster.logs.all.filter { $0.contains(stopped) }.count)
            #expect(await system.database.catchUp(from: peer).isEmpty)
            #expect(fetches() - before.fetches == 1)
            #expect(todo.cluster.logs.all.filter { $0.contains(stopped) }.count > before.lines)
            let stored = try await system.database.local.load("stray")
            #expect(stored == nil)
        }
    }

    /// One node beside a peer (with the cookie) that claims a copy of `list` other than the
    /// node's and answers its `n`th `todo.fetch` (from 1) with `answer(n, entry)`, `entry` a
    /// list of one entry of its own; once the node's catch-up at the peer's coming has
    /// stopped with `line`, `body` gets the node, the peer and the count of fetches so far.
    private func catchUp(
        fromAPeer name: String, claiming list: String, answering answer: @escaping @Sendable (Int, TodoList) -> ListCopies,
        stopsWith line: String, _ body: (TodoTestCluster, TodoSystem, NodeName, @Sendable () -> Int) async throws -> Void
    ) async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(1)
            let peer = try await todo.cluster.startNode(name)
            var entry = TodoList()
            _ = entry.add(date: try #require(TodoDate("2018-12-19")), title: "from \(name)", by: peer.name.description, atMillis: 1)
            let fetches = Atomic(0), oneEntry = entry
            peer.rpc.register(TodoDatabase.bucketsFunction) { (_: Int) in DigestBuckets(digests: [list: 1]) }
            peer.rpc.register(TodoDatabase.digestsFunction) { (_: BucketNumbers) in ListDigests(digests: [list: 1]) }
            peer.rpc.register(TodoDatabase.fetchFunction) { (_: ListNames) -> ListCopies in
                answer(fetches.add(1, ordering: .relaxed).newValue, oneEntry)
            }
            try #require(await systems[0].node.connect(peer.name))
            try await eventually("the round at the peer's coming stops") { todo.cluster.logs.contains(line) }
            try await body(todo, systems[0], peer.name, { fetches.load(ordering: .relaxed) })
        }
    }

    /// A server that starts merges its peers' copies whole, a copy too big for one answer
    /// part after part: its first part alone (oldest records first) lacked the newest writes,
    /// those a node that was away missed.
    @Test func aServerStartingMergesAPeersCopyTooBigForOneAnswerWhole() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2, answerBytes: Self.smallAnswer)
            var huge = try bigList(300, by: "n1@localhost")
            _ = huge.add(date: try #require(TodoDate("2018-12-19")), title: "the newest", by: "n1@localhost", atMillis: 300)
            _ = try await systems[0].database.local.apply([("huge", huge.asChange)])
            let entries = try await systems[1].entries("huge")
            #expect(entries.count == 301 && entries.last == "2018-12-19 the newest")
            #expect(systems[1].whereis("huge") == systems[1].node.name)
            #expect(try await systems[1].storedTitles("huge").count == 301)
        }
    }

    /// A server that starts on a node whose copy is old serves what its peers' copies hold.
    @Test func aServerStartingOnAStaleReplicaServesThePeersNewerCopy() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2, idle: .milliseconds(200))
            _ = try await systems[0].add("hank", "2018-12-19", "Dentist")
            try await eventually("the idle server stops") { systems.allSatisfy { $0.whereis("hank") == nil } }
            // n1's copy moves ahead (as if n2 had missed two writes), without catch-up to tell n2.
            var newer = try #require(try await systems[0].database.local.load("hank"))
            _ = newer.add(date: try #require(TodoDate("2018-12-19")), title: "Gym", by: "n1", atMillis: 1)
            _ = newer.add(date: try #require(TodoDate("2018-12-19")), title: "Swim", by: "n1", atMillis: 1)
            #expect(try await systems[0].database.local.apply([("hank", newer.asChange)]) == [true])
            #expect(try await systems[1].storedTitles("hank") == ["Dentist"])
            #expect(try await systems[1].entries("hank") == ["2018-12-19 Dentist", "2018-12-19 Gym", "2018-12-19 Swim"])
            #expect(systems[1].whereis("hank") == systems[1].node.name)
            #expect(try await systems[1].storedTitles("hank") == ["Dentist", "Gym", "Swim"])
        }
    }

    /// After a heal, a node that settled a list's clash may hold writes that the losing
    /// server took before its side heard of the clash, which the kept server lacks until the
    /// hand-over (the partition soak: a writer's own entry missing from a read through its
    /// node). The first request through that node hands the kept server its copy first. Here
    /// n3's copy gains an entry of n2's, and n3 hears late of a second server for the list on
    /// n2, which loses to n1's.
    @Test func afterAClashTheFirstRequestThroughANodeBringsItsCopyToTheKeptServer() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let (one, two, three) = (systems[0], systems[1], systems[2])
            let name = TodoServer.globalName("ivy")
            let kept = try await ivyOnN1WithALosersEntryOnN3(systems)
            try await hearLateOfALoser(of: "ivy", keeping: kept, on: three, loserOn: two)
            #expect(three.node.global.whereis(name) == kept)
            #expect(try await three.entries("ivy") == ["2018-12-19 Dentist", "2018-12-19 Gym"])
            #expect(!three.node.global.settledClash(name, keeping: kept))
            #expect(try await one.storedTitles("ivy") == ["Dentist", "Gym"])
        }
    }

    /// The same on the kept server's own node, whose copy holds what the loser stored there
    /// once the nodes met, before its side settled the clash: a read there skips the shelf
    /// and hands the server the node's copy first.
    @Test func afterAClashTheKeptServersNodeBringsItsCopyToItBeforeReadingTheShelf() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            let name = TodoServer.globalName("ivy")
            _ = try await one.add("ivy", "2018-12-19", "Dentist")
            let kept = try #require(one.node.global.whereis(name))
            try await addALosersEntry(to: "ivy", on: one, madeOn: two)
            #expect(try await one.entries("ivy") == ["2018-12-19 Dentist"])  // from the shelf: the server's list
            try await hearLateOfALoser(of: "ivy", keeping: kept, on: one, loserOn: two)
            #expect(try await one.entries("ivy") == ["2018-12-19 Dentist", "2018-12-19 Gym"])
            #expect(!one.node.global.settledClash(name, keeping: kept))
        }
    }

    /// The copy goes to the kept server after the node's catch-up, also when no request
    /// comes through the node, and the note goes with it. n3 catches up every 100 ms; n1,
    /// whose next round is 30 s away, does not fetch n3's copy meanwhile.
    @Test func afterAClashANodeHandsItsCopyToTheKeptServerWithoutARequest() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3, antiEntropy: .milliseconds(100), antiEntropyOn: [2])
            let (one, two, three) = (systems[0], systems[1], systems[2])
            let name = TodoServer.globalName("ivy")
            let kept = try await ivyOnN1WithALosersEntryOnN3(systems)
            tellLateOfALoser(of: "ivy", to: three, loserOn: two)
            try await eventually("n1 stores n3's copy") { try await one.storedTitles("ivy") == ["Dentist", "Gym"] }
            try await eventually("n3's note goes") { !three.node.global.hasSettledClashes }
            #expect(three.node.global.whereis(name) == kept)
            #expect(try await one.entries("ivy") == ["2018-12-19 Dentist", "2018-12-19 Gym"])
        }
    }

    /// A write that a server took just before it lost its list's name (the clash settled
    /// while the write was being stored) is answered only once the kept server holds it:
    /// answered first, it reached the kept server only with the loser's hand-over, and a read
    /// through another node in between missed it (the partition soak). Here n1 holds n2's
    /// store of the write until n2 has settled the clash for a server on n1.
    @Test func aWriteTakenJustBeforeItsServerLostTheNameIsAnsweredOnceTheKeptServerHasIt() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            let name = TodoServer.globalName("kim")
            _ = try await two.add("kim", "2018-12-19", "Dentist")
            try await eventually("n1 knows kim's server") { one.node.global.whereis(name) != nil }
            let merges = Seen<ListChange>()
            let kept = mergeRecorder(on: one, into: merges)
            let reached = Atomic(false), released = Atomic(false)
            one.node.rpc.register(TodoDatabase.storeFunction) { (_: StoreBatch, _: ProcessContext) async throws -> Bool in
                reached.store(true, ordering: .relaxed)
                while !released.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
                return true
            }
            let adding = Task { try await two.add("kim", "2018-12-19", "Gym") }
            try await eventually("n2's server is storing the write") { reached.load(ordering: .relaxed) }
            one.node.runtime.send(GlobalSync(from: one.node.name.description, names: [name: kept]), toName: GlobalNameServer.name,
                                  on: two.node.name.description)
            try await eventually("n2 settled the clash for n1's server") { two.node.global.whereis(name) == kept }
            released.store(true, ordering: .relaxed)
            #expect(try await adding.value.title == "Gym")
            // The first merge the kept server got is that write alone; the loser's hand-over of
            // its whole list comes after.
            #expect(merges.all.first?.records.map(\.title) == ["Gym"])
        }
    }

    /// In an overlapping partition (n1 and n3 cut from each other, n2 connected to both), n1
    /// starts a server for a list whose server runs on n3, and n2 keeps n1's (the lower node
    /// name); n3 cannot hear of that and goes on taking writes, storing them on n2 too.
    /// Requests through n2 went to n1's server, which lacked them until the cut healed (the
    /// partition soak with `--links`: a writer's own write missing from its reads through
    /// n2 for 4 s). n2 now hands such a write to the server it keeps before it answers the
    /// store, so before the write itself is answered.
    @Test func inAnOverlappingPartitionTheMiddleNodeHandsTheLosersWritesToTheKeptServer() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let (one, two, three) = (systems[0], systems[1], systems[2])
            let name = TodoServer.globalName("jay")
            _ = try await three.add("jay", "2018-12-19", "Dentist")
            try await eventually("every node knows jay's server") { systems.allSatisfy { $0.whereis("jay") == three.node.name } }
            todo.cluster.cut(one.node, three.node)
            try await eventually("n1 and n3 see each other down", within: .seconds(15)) {
                one.node.nodes() == [two.node.name] && three.node.nodes() == [two.node.name]
            }
            #expect(try await one.entries("jay") == ["2018-12-19 Dentist"])  // a server of its own on n1
            try await eventually("n2 keeps n1's server") { two.whereis("jay") == one.node.name }
            #expect(three.whereis("jay") == three.node.name, "n3 heard of n1's server: no overlapping partition")
            // n2's first request after it settled the clash hands n1's server its copy
            // (`ClashHandOver`); writes n2 stores after that came only with the heal.
            #expect(try await two.entries("jay") == ["2018-12-19 Dentist"])
            #expect(!two.node.global.hasSettledClashes)
            #expect(two.node.global.kept(name, overOneOn: three.node.name.description)?.node == one.node.name.description)
            #expect(one.node.global.kept(name, overOneOn: three.node.name.description) == nil)  // n1 settled no clash

            _ = try await three.add("jay", "2018-12-19", "Gym")
            #expect(try await two.entries("jay") == ["2018-12-19 Dentist", "2018-12-19 Gym"])
            #expect(try await one.storedTitles("jay") == ["Dentist", "Gym"])
            #expect(two.node.global.whereis(name)?.node == one.node.name.description)
            #expect(!todo.cluster.logs.contains("merged another copy"), "a line for each write handed on")
        }
    }

    /// Kept servers that never answer: a round of hand-overs waits for the first one's
    /// timeout, then leaves the other lists on its node for the next round, rather than wait
    /// once per list. Only the round run here is counted (n3's own catch-up may run one too).
    @Test func aRoundOfHandOversLeavesANodeAfterItsFirstServerFails() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let (one, two, three) = (systems[0], systems[1], systems[2])
            let callers = Seen<Pid>()
            for list in ["ada", "bea"] {
                let silent = one.node.runtime.spawn { context in
                    while true { callers.add(try await context.receive(CallMessage<TodoServer.Request>.self).from.caller) }
                }
                #expect(try await one.node.global.register(TodoServer.globalName(list), silent) == nil)
                var copy = TodoList()
                _ = copy.add(date: try #require(TodoDate("2018-12-19")), title: "Gym", by: "n3", atMillis: 1)
                _ = try await three.database.local.apply([(list, copy.asChange)])
            }
            try await eventually("n3 knows both servers") { three.node.global.registered().count == 2 }
            for list in ["ada", "bea"] { tellLateOfALoser(of: list, to: three, loserOn: two) }
            try await eventually("both clashes settled") { three.node.global.settledClashes().count == 2 }
            let round = try await three.node.runtime.withProcess { context in
                await ClashHandOver.handOverAll(database: three.database, context: context)
                return context.pid
            }
            #expect(callers.all.filter { $0 == round }.count == 1)
            #expect(three.node.global.settledClashes().count == 2)
        }
    }

    /// A copy too big for one message goes to the kept server in parts, as catch-up fetches
    /// one: each within catch-up's bound, together every record. It went whole, and one past
    /// 64 MiB (the most a cluster message may carry) was never sent: each round of hand-overs
    /// waited for the call's timeout, logged, and tried again.
    @Test func aCopyTooBigForOneMessageIsHandedOverInParts() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3, answerBytes: Self.smallAnswer)
            let (one, two, three) = (systems[0], systems[1], systems[2])
            let merges = Seen<ListChange>()
            let kept = mergeRecorder(on: one, into: merges)
            #expect(try await one.node.global.register(TodoServer.globalName("huge"), kept) == nil)
            let copy = try bigList(300, by: "n3@localhost")
            _ = try await three.database.local.apply([("huge", copy.asChange)])
            try await eventually("n3 knows the kept server") { three.node.global.whereis(TodoServer.globalName("huge")) == kept }
            tellLateOfALoser(of: "huge", to: three, loserOn: two)
            try await eventually("the clash settled") { three.node.global.settledClashes().count == 1 }
            try await three.node.runtime.withProcess { context in
                await ClashHandOver.handOverAll(database: three.database, context: context)
            }
            #expect(merges.all.count > 1)
            for change in merges.all {
                var writer = WireWriter()
                change.encode(to: &writer)
                #expect(writer.bytes.count <= Self.smallAnswer + 64, "a merge of \(writer.bytes.count) bytes")
            }
            #expect(merges.all.flatMap(\.records) == copy.records)
            #expect(!three.node.global.hasSettledClashes)
        }
    }

    /// The bound on an answer (and a hand-over's part) where a test shows big lists: 300
    /// entries of `bigList` (310 KB) pass it five times over, as 8,000 pass the real 8 MiB.
    static let smallAnswer = 64 << 10

    /// A list of `count` entries of 1,000-byte titles that `node` made, about 1 KB each on
    /// the wire.
    private func bigList(_ count: Int, by node: String) throws -> TodoList {
        let day = try #require(TodoDate("2018-12-19")), title = String(repeating: "t", count: 1_000)
        var list = TodoList()
        for index in 0..<count { _ = list.add(date: day, title: title, by: node, atMillis: Int64(index)) }
        return list
    }

    /// A stand-in kept server on `system`'s node: it notes each change it is asked to merge
    /// and answers `merged`.
    private func mergeRecorder(on system: TodoSystem, into merges: Seen<ListChange>) -> Pid {
        system.node.runtime.spawn { context in
            while true {
                let call = try await context.receive(CallMessage<TodoServer.Request>.self)
                if case .merge(let change) = call.request { merges.add(change) }
                call.from.reply(TodoServer.Reply.merged, via: context.runtime)
            }
        }
    }

    /// What a stand-in server saw (its callers, or what it was asked to merge), in order.
    final class Seen<Value: Sendable>: Sendable {
        private let values = Mutex<[Value]>([])
        var all: [Value] { values.withLock { $0 } }
        func add(_ value: Value) { values.withLock { $0.append(value) } }
    }

    @Test func aListIsReadBackFromItsServersGlobalName() {
        for list in ["bob", "", "a \"quoted\"} list", "\u{301}accent first", "{Todo.Server, \"x\"}"] {
            #expect(TodoServer.list(inGlobalName: TodoServer.globalName(list)) == list)
        }
        for other in ["bob", "{Todo.Server, \"", "{Todo.Server, \"bob\"", "{Todo.Cache, \"bob\"}", "todo_database"] {
            #expect(TodoServer.list(inGlobalName: other) == nil)
        }
    }

    /// ivy's server, started on n1 (its pid, once every node knows it), whose list n3's copy
    /// then extends with an entry that a server of ivy on n2 made.
    private func ivyOnN1WithALosersEntryOnN3(_ systems: [TodoSystem]) async throws -> Pid {
        let name = TodoServer.globalName("ivy")
        _ = try await systems[0].add("ivy", "2018-12-19", "Dentist")
        let kept = try #require(systems[0].node.global.whereis(name))
        try await eventually("every node knows ivy's server") { systems.allSatisfy { $0.node.global.whereis(name) == kept } }
        try await addALosersEntry(to: "ivy", on: systems[2], madeOn: systems[1])
        return kept
    }

    /// `list`'s copy on `holder` gains an entry ("Gym") that a server of the list on `maker`
    /// made, as one that lost the list's name after a heal had stored it there.
    private func addALosersEntry(to list: String, on holder: TodoSystem, madeOn maker: TodoSystem) async throws {
        var copy = try #require(try await holder.database.local.load(list))
        _ = copy.add(date: try #require(TodoDate("2018-12-19")), title: "Gym", by: maker.node.name.description, atMillis: 1)
        #expect(try await holder.database.local.apply([(list, copy.asChange)]) == [true])
    }

    /// `holder` hears late (a peer's table of names) of a second server for `list`, on
    /// `loser`, which loses the clash to `kept`.
    private func hearLateOfALoser(of list: String, keeping kept: Pid, on holder: TodoSystem, loserOn loser: TodoSystem) async throws {
        tellLateOfALoser(of: list, to: holder, loserOn: loser)
        try await eventually("the clash settled") { holder.node.global.settledClash(TodoServer.globalName(list), keeping: kept) }
    }

    /// Sends `holder` the table of names that tells of a second server for `list` on `loser`.
    private func tellLateOfALoser(of list: String, to holder: TodoSystem, loserOn loser: TodoSystem) {
        let server = loser.node.runtime.spawn { context in _ = try await context.receive(String.self) }
        loser.node.runtime.send(GlobalSync(from: loser.node.name.description, names: [TodoServer.globalName(list): server]),
                                toName: GlobalNameServer.name, on: holder.node.name.description)
    }

    /// Right after a cut heals, a request through the node that was cut off goes to the
    /// server the other side kept, which may not hold that node's writes yet: its own server
    /// had stopped (so there was no hand-over), and catch-up was still on its way. It got a
    /// list without them (a 404 for an entry it had just written, in the soak). Now the kept
    /// server takes in the caller's node's copy first. Here n2's catch-up answers are held
    /// back for the whole test.
    @Test func afterAHealTheNodeThatWasCutOffSeesItsOwnWrites() async throws {
        try await withTodoCluster { todo in
            let (one, two, release) = try await healAfterAWriteOnlyN2Holds(todo)
            defer { release() }
            try await eventually("n1's server kept", within: .seconds(15)) { two.whereis("kim") == one.node.name }
            #expect(try await two.entries("kim") == ["2018-12-19 Dentist", "2018-12-19 two-side"])
            #expect(try await one.storedTitles("kim") == ["Dentist", "two-side"])
        }
    }

    /// The other way round: the server kept after a heal ran through the cut on the node
    /// whose reads come from its shelf, and the other side's writes had no server left to
    /// hand them over. Those reads missed the other side's writes until catch-up brought them
    /// (hundreds of stale entries right after a heal, in the soak). Now a peer that comes
    /// back has its copy taken in before the shelf serves again. n2's catch-up answers are
    /// held back for the whole test.
    @Test func afterAHealTheNodeThatKeptItsServerReadsTheOtherSidesWrites() async throws {
        try await withTodoCluster { todo in
            let (one, _, release) = try await healAfterAWriteOnlyN2Holds(todo) { one async throws in
                #expect(try await one.entries("kim") == ["2018-12-19 Dentist"])
                #expect(one.shelves.count == 1)
            }
            defer { release() }
            #expect(one.whereis("kim") == one.node.name)
            #expect(try await one.entries("kim") == ["2018-12-19 Dentist", "2018-12-19 two-side"])
            #expect(try await one.storedTitles("kim") == ["Dentist", "two-side"])
        }
    }

    /// n1 and n2: n1 writes "Dentist" to kim (its server runs on n1), and `beforeTheCut` runs;
    /// a cut, during which n2 writes "two-side" through a server of its own that then stops
    /// idle, so only n2's copy holds that write; n2's catch-up answers are held back until
    /// `release` is called; the cut heals (as n1 sees it).
    private func healAfterAWriteOnlyN2Holds(
        _ todo: TodoTestCluster, beforeTheCut: (TodoSystem) async throws -> Void = { _ in }
    ) async throws -> (one: TodoSystem, two: TodoSystem, release: @Sendable () -> Void) {
        let nodes = try await todo.cluster.startMesh(2)
        let one = try await todo.startSystem(on: nodes[0])
        let two = try await todo.startSystem(on: nodes[1], idle: .milliseconds(200))
        for node in nodes { try await node.global.sync() }
        _ = try await one.add("kim", "2018-12-19", "Dentist")
        try await beforeTheCut(one)
        todo.cluster.cut(one.node, two.node)
        // n2 forgets n1's server a moment after n1: a write before that went to it, and failed.
        try await eventually("both sides alone") {
            one.node.nodes().isEmpty && two.node.nodes().isEmpty && two.whereis("kim") == nil
        }
        _ = try await two.add("kim", "2018-12-19", "two-side")
        try await eventually("n2's server stops idle") { two.whereis("kim") == nil }
        let released = Atomic(false)
        two.node.rpc.register(TodoDatabase.bucketsFunction) { (_: Int) async throws -> DigestBuckets in
            while !released.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
            throw TodoFailure.failed("held back by the test")
        }
        todo.cluster.restore(one.node, two.node)
        try await eventually("healed", within: .seconds(15)) { one.node.nodes() == [two.node.name] }
        return (one, two, { released.store(true, ordering: .relaxed) })
    }

    /// Right after a heal, until the other side's table of names arrives, a list's name on the
    /// node that was cut off still points at its own server, which loses it once the table
    /// comes. That server had taken in the other side's copy when the peer came up, but
    /// not what the other side's server wrote after that (in the soak, a read through the
    /// node that had been cut off missed three entries written in those milliseconds).
    /// Now requests wait for the table. Here n1's table reaches n2 only when the test sends it.
    @Test func afterAHealRequestsWaitForThePeersNamesBeforeTheirOwnSideServesThem() async throws {
        try await withTodoCluster { todo in
            let nodes = try await todo.cluster.startMesh(2)
            let one = try await todo.startSystem(on: nodes[0])
            let two = try await todo.startSystem(on: nodes[1])
            for node in nodes { try await node.global.sync() }
            _ = try await two.add("nell", "2018-12-19", "Dentist")
            todo.cluster.cut(one.node, two.node)
            try await eventually("both sides alone") {
                one.node.nodes().isEmpty && two.node.nodes().isEmpty && one.whereis("nell") == nil
            }
            _ = try await one.add("nell", "2018-12-19", "one-side")
            let nameServer = try #require(one.node.runtime.whereis(GlobalNameServer.name))
            one.node.runtime.exit(nameServer, reason: .kill, from: nameServer)
            todo.cluster.restore(one.node, two.node)
            try await eventually("healed", within: .seconds(15)) {
                one.node.nodes() == [two.node.name] && two.node.nodes() == [one.node.name]
            }
            let early = Task { try await two.entries("nell") }
            // n1's server writes after n2 saw n1 come back (straight to it: n1's requests would
            // wait for names too, and n1's name server is gone).
            let server = try #require(one.node.global.whereis(TodoServer.globalName("nell")))
            let late = try await one.node.runtime.withProcess { context in
                try await context.call(server, TodoServer.Request.add(date: try #require(TodoDate("2018-12-19")), title: "late"),
                                       replyType: TodoServer.Reply.self, timeout: .seconds(5))
            }
            guard case .entry = late else { Issue.record("the late write failed: \(late)"); return }
            let later = Task { try await two.entries("nell") }
            one.node.runtime.send(GlobalSync(from: one.node.name.description, names: one.node.globalTable.withLock { $0.names }),
                                  toName: GlobalNameServer.name, on: two.node.name.description)
            let all: Set = ["2018-12-19 Dentist", "2018-12-19 one-side", "2018-12-19 late"]
            #expect(Set(try await early.value) == all)
            #expect(Set(try await later.value) == all)
            #expect(two.whereis("nell") == one.node.name)
        }
    }

    /// A peer whose table of names never comes (its name server is gone) holds requests up
    /// once, for at most 2 s, with a warning; then requests go on without it until another
    /// peer comes.
    @Test func aPeerWhoseNamesNeverComeHoldsRequestsUpOnlyOnce() async throws {
        try await withTodoCluster { todo in
            let nodes = try await todo.cluster.startMesh(2)
            let one = try await todo.startSystem(on: nodes[0])
            let two = try await todo.startSystem(on: nodes[1])
            for node in nodes { try await node.global.sync() }
            // n2's, not the leader's: n1 takes registrations.
            let nameServer = try #require(two.node.runtime.whereis(GlobalNameServer.name))
            two.node.runtime.exit(nameServer, reason: .kill, from: nameServer)
            todo.cluster.cut(one.node, two.node)
            try await eventually("both sides alone") { one.node.nodes().isEmpty && two.node.nodes().isEmpty }
            todo.cluster.restore(one.node, two.node)
            try await eventually("healed", within: .seconds(15)) { one.node.nodes() == [two.node.name] }
            #expect(!one.node.global.isSynced)
            for title in ["Dentist", "Gym", "Swim"] { _ = try await one.add("olga", "2018-12-19", title) }
            #expect(try await one.entries("olga") == ["2018-12-19 Dentist", "2018-12-19 Gym", "2018-12-19 Swim"])
            let warnings = todo.cluster.logs.all.filter { $0.contains("n1@localhost: the peers' tables of global names did not all come") }
            #expect(warnings.count == 1)
        }
    }

    /// A server that lost its list's name does not take the requests that reached it before
    /// the news did: after a heal, its node settles the clash while they wait in its mailbox.
    /// Taken there, they missed the kept server's writes, and the kept server lacked theirs
    /// until the hand-over (a stale read in the soak, right after a heal). It answers
    /// `notHere`, and `perform` looks the list's server up again. Here the loser is a second
    /// server for the list, started outside the registry.
    @Test func aServerThatLostItsListsNameTakesNoRequest() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await one.add("pia", "2018-12-19", "Dentist")
            try await eventually("n2 knows n1's server") { two.whereis("pia") == one.node.name }
            let day = try #require(TodoDate("2018-12-19"))
            let reply = try await two.node.runtime.withProcess { context in
                let stray = try await context.startServer { server in
                    TodoServer.start("pia", database: two.database, expiry: .seconds(60), requestDeadline: .now + .seconds(10),
                                     logger: two.node.logger, wallMillis: { 1 }, shelves: two.shelves, context: server)
                }
                return try await context.call(stray.pid, TodoServer.Request.add(date: day, title: "stray"),
                                              replyType: TodoServer.Reply.self, timeout: .seconds(5))
            }
            #expect(reply == .notHere)
            #expect(try await one.entries("pia") == ["2018-12-19 Dentist"])
            #expect(try await two.storedTitles("pia") == ["Dentist"])
        }
    }

    /// A read whose server's node is lost while it waits goes to the list's next server: a
    /// read changes nothing, so it is safe to send again. Before, it failed as unavailable
    /// (a `503` in the soak, for a read that met a connection dropped as a cut healed).
    @Test func aReadThatLosesItsServersNodeIsServedByTheNextServer() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await two.add("lina", "2018-12-19", "Dentist")
            try await eventually("n1 knows n2's server") { one.whereis("lina") == two.node.name }
            todo.cluster.cut(one.node, two.node)
            // Sent into the cut: it waits until n1 sees n2 down.
            #expect(try await one.entries("lina") == ["2018-12-19 Dentist"])
            #expect(one.whereis("lina") == one.node.name)
        }
    }

    /// After a healed cut one server remains, holding both sides' writes (the loser handed
    /// its list over), and every copy holds them too, each once.
    @Test func afterAHealedCutTheSurvivingServerAndEveryCopyHoldBothSidesWrites() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await one.add("ivan", "2018-12-19", "Dentist")
            todo.cluster.cut(one.node, two.node)
            // n2 forgets n1's server a moment after n1: a write before that went to it, and failed.
            try await eventually("both sides alone") {
                one.node.nodes().isEmpty && two.node.nodes().isEmpty && two.whereis("ivan") == nil
            }
            _ = try await one.add("ivan", "2018-12-19", "one-side")
            for title in ["two-a", "two-b", "two-c"] { _ = try await two.add("ivan", "2018-12-19", title) }  // further ahead
            todo.cluster.restore(one.node, two.node)
            try await eventually("healed, one server left", within: .seconds(15)) {
                one.node.nodes() == [two.node.name] && one.whereis("ivan") == one.node.name && two.whereis("ivan") == one.node.name
            }
            // The loser hands over after the names agree; catch-up may bring the same writes first.
            try await eventually("the loser handed its copy over") {
                let handed = todo.cluster.logs.contains("list ivan: its server on n1@localhost stays; handing this copy over")
                let served = try await one.entries("ivan")
                return handed && served.count == 5
            }
            #expect(two.shelves.count == 0 && one.shelves.count == 1)  // n2 reads from n1's server now
            let after = try await two.add("ivan", "2018-12-20", "after")
            #expect(after.id.description == "5.n1")
            let served = try await one.entries("ivan")
            #expect(served == ["2018-12-19 Dentist", "2018-12-19 one-side", "2018-12-19 two-a", "2018-12-19 two-b",
                               "2018-12-19 two-c", "2018-12-20 after"])
            #expect(try await two.entries("ivan") == served)
            try await eventually("every copy holds both sides") {
                let first = try await one.storedTitles("ivan"), second = try await two.storedTitles("ivan")
                return first == served.map { String($0.dropFirst(11)) } && second == first
            }
        }
    }

    /// A server that runs through a cut merges what the other side wrote without a server of
    /// its own there (it had stopped): catch-up brings it when the cut heals.
    @Test func aRunningServerTakesInWhatCatchUpBringsAfterACut() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await one.add("kim", "2018-12-19", "Dentist")
            todo.cluster.cut(one.node, two.node)
            try await eventually("both sides alone") { one.node.nodes().isEmpty && two.node.nodes().isEmpty }
            _ = try await one.add("kim", "2018-12-19", "one-side")
            // n2 took a write whose server has stopped since: only its copy holds it.
            var copy = try #require(try await two.database.local.load("kim"))
            let (gym, change) = copy.add(date: try #require(TodoDate("2018-12-21")), title: "two-side", by: "n2", atMillis: 1)
            #expect(await two.database.store("kim", change).storedLocally)
            todo.cluster.restore(one.node, two.node)
            try await eventually("the running server took it in", within: .seconds(15)) {
                let served = try await one.entries("kim")
                return served == ["2018-12-19 Dentist", "2018-12-19 one-side", "2018-12-21 two-side"]
            }
            #expect(try await one.perform("kim", .delete(id: gym.id)) == .deleted)
            #expect(try await two.entries("kim") == ["2018-12-19 Dentist", "2018-12-19 one-side"])
        }
    }

    /// A server started for a request waits for it past a short idle timeout. On a node so
    /// loaded that the request took longer to reach it, a server that stopped first made its
    /// caller start another, which stopped first too, until the request's deadline.
    @Test func aNewServerWaitsForTheRequestItWasStartedFor() async throws {
        try await withTodoCluster { todo in
            let one = try await todo.startSystems(1, idle: .milliseconds(100))[0]
            // Started as a request starts it, for a request that is slow to come.
            let started = try await one.node.runtime.withProcess { context in
                try await one.cache.serverProcess("lena", context: context, until: .now + .seconds(30))
            }
            // A server started after it, and served at once, stops when idle: by then lena's
            // 100 ms have passed too.
            _ = try await one.add("mona", "2018-12-19", "Dentist")
            try await eventually("the served server stops") { one.whereis("mona") == nil }
            #expect(one.node.runtime.isAlive(started))
            #expect(try await one.entries("lena") == [])
            #expect(one.node.global.whereis(TodoServer.globalName("lena")) == started)
        }
    }

    @Test func anIdleServerStopsAndTheNextRequestRestoresItsData() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2, idle: .milliseconds(300))
            // Started as a request starts it, so that it is known before it can stop: it waits
            // for that request, and once served it stops after 300 ms.
            let first = try await systems[1].node.runtime.withProcess { context in
                try await systems[1].cache.serverProcess("dave", context: context, until: .now + .seconds(30))
            }
            _ = try await systems[1].add("dave", "2018-12-19", "Dentist")
            try await eventually("the idle server stops") {
                systems.allSatisfy { $0.whereis("dave") == nil } && todo.cluster.logs.contains("Stopping to-do server for dave")
            }
            // The name goes in the server's last act; the process ends right after.
            try await eventually("the idle server's process ends") { !systems[1].node.runtime.isAlive(first) }
            #expect(try await systems[0].entries("dave", "2018-12-19") == ["2018-12-19 Dentist"])
            #expect(try await systems[0].add("dave", "2018-12-19", "Gym").id.counter == 2)
        }
    }

    @Test func theListServerMovesToASurvivorWithItsDataWhenItsNodeIsLost() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(3)
            let (one, two, three) = (systems[0], systems[1], systems[2])
            _ = try await one.add("erin", "2018-12-19", "Dentist")
            _ = try await two.add("erin", "2018-12-19", "Gym")
            #expect(one.whereis("erin") == one.node.name)
            // n1 vanishes without a goodbye: the others detect it by the tick.
            todo.cluster.cut(one.node, two.node)
            todo.cluster.cut(one.node, three.node)
            try await eventually("n1 declared down") { two.node.nodes() == [three.node.name] && three.node.nodes() == [two.node.name] }
            try await eventually("the name left with its node") { two.whereis("erin") == nil && three.whereis("erin") == nil }
            #expect(try await three.entries("erin", "2018-12-19") == ["2018-12-19 Dentist", "2018-12-19 Gym"])
            let owner = try #require(three.whereis("erin"))
            #expect(owner != one.node.name)
            #expect(try await two.add("erin", "2018-12-20", "Movies").id.counter == 3)
        }
    }

    /// A new list's server cannot start while the global leader is cut off and not yet
    /// detected (a long tick): the request ends as unavailable at its deadline, not after the
    /// registration's own retries.
    @Test func aStartThatCannotRegisterEndsAsUnavailableAtTheDeadline() async throws {
        try await withTodoCluster(tickTime: .seconds(60)) { todo in
            let systems = try await todo.startSystems(2)  // n1 leads the global registry
            todo.cluster.cut(systems[0].node, systems[1].node)
            let started = ContinuousClock.now
            await #expect(throws: TodoFailure.self) {
                try await systems[1].perform("jack", .entries(nil), deadline: .milliseconds(300))
            }
            #expect(ContinuousClock.now - started < .seconds(3))
            todo.cluster.restore(systems[0].node, systems[1].node)
        }
    }

    @Test func aCallToAServerThatCannotAnswerEndsAsUnavailable() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(1)
            let node = systems[0].node
            // A process under the list's global name that never answers.
            let silent = node.runtime.spawn { context in _ = try await context.receive { _ -> Int? in nil } }
            #expect(try await node.global.register(TodoServer.globalName("stuck"), silent) == nil)
            await #expect(throws: TodoFailure.unavailable("the list's server did not answer in time")) {
                try await systems[0].perform("stuck", .entries(nil), deadline: .milliseconds(200))
            }
            node.runtime.exit(silent, reason: .kill, from: silent)
        }
    }
}
