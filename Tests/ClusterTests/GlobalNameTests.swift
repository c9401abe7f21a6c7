import Synchronization
@testable import Cluster
import ClusterTestKit
import Processes
import Testing

@Suite(.timeLimit(.minutes(2)))
struct GlobalNameTests {
    @Test func namesRegisterResolveEverywhereAndUnregister() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let owner = nodes[2].runtime.spawn(idle)
            #expect(try await nodes[2].global.register("bob", owner) == nil)
            try await eventually("every node knows bob") { nodes.allSatisfy { $0.global.whereis("bob") == owner } }
            let other = nodes[1].runtime.spawn(idle)
            #expect(try await nodes[1].global.register("bob", other) == owner)
            await nodes[0].global.unregister("bob", owner)
            try await eventually("bob is gone everywhere") { nodes.allSatisfy { $0.global.whereis("bob") == nil } }
        }
    }

    @Test func threeNodesRacingForOneNameGetOneWinnerEverywhere() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let contenders = nodes.map { $0.runtime.spawn(idle) }
            let results = await withTaskGroup(of: Pid?.self) { group in
                for (node, pid) in zip(nodes, contenders) {
                    group.addTask { try? await node.global.register("race", pid) }
                }
                return await group.reduce(into: [Pid?]()) { $0.append($1) }
            }
            #expect(results.filter { $0 == nil }.count == 1)
            let winner = try #require(nodes[0].global.whereis("race"))
            #expect(contenders.contains(winner))
            try await eventually("one winner on every node") { nodes.allSatisfy { $0.global.whereis("race") == winner } }
        }
    }

    @Test func aNameLeavesWithItsProcessAndWithItsNode() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let mortal = nodes[1].runtime.spawn { context in _ = try await context.receive(String.self) }
            #expect(try await nodes[0].global.register("mortal", mortal) == nil)
            try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.whereis("mortal") == mortal } }
            nodes[1].runtime.send("die", to: mortal)
            try await eventually("gone with its process") { nodes.allSatisfy { $0.global.whereis("mortal") == nil } }

            let resident = nodes[2].runtime.spawn(idle)
            #expect(try await nodes[2].global.register("resident", resident) == nil)
            try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.whereis("resident") == resident } }
            await nodes[2].shutdown()
            try await eventually("gone with its node") { nodes.prefix(2).allSatisfy { $0.global.whereis("resident") == nil } }
        }
    }

    /// A table goes in parts of a bounded number of names, every name once, the last part
    /// saying so; an empty table is one part.
    @Test func aTableIsSentInPartsOfBoundedSize() {
        let names = Dictionary(uniqueKeysWithValues: (0..<25).map { ("n\($0)", Pid(node: "a@h", incarnation: 1, serial: UInt64($0 + 1))) })
        let parts = GlobalSync.parts(from: "a@h", names: names, size: 10)
        #expect(parts.map(\.names.count) == [10, 10, 5] && parts.map(\.more) == [true, true, false])
        #expect(parts.reduce(into: [String: Pid]()) { $0.merge($1.names) { first, _ in first } } == names)
        #expect(parts.allSatisfy { $0.from == "a@h" })
        let empty = GlobalSync.parts(from: "a@h", names: [:], size: 10)
        #expect(empty.count == 1 && empty.allSatisfy { $0.names.isEmpty && !$0.more })
    }

    /// A peer that comes up gets the table in parts, and holds every name once the last has
    /// come: only then is it synced. A part a name, so that the sync is asked while most of
    /// them are still on their way (with 4 parts, a sync answered at the first part passed
    /// 4 runs in 5).
    @Test func aPeerTakesInATableSentInParts() async throws {
        try await withTestCluster { cluster in
            let a = try await cluster.startNode("a") { $0.namesPerSyncPart = 1 }
            let owner = a.runtime.spawn(idle)
            let names = (0..<500).map { "part\($0)" }
            for name in names { #expect(try await a.global.register(name, owner) == nil) }
            let b = try await cluster.startNode("b")
            try #require(await b.connect(a.name))
            #expect(try await b.global.sync())
            #expect(names.allSatisfy { b.global.whereis($0) == owner })
        }
    }

    /// The names a node took with it are logged in one line of bounded size: the first 20,
    /// then how many more.
    @Test func theNamesOfANodeGoneAreLoggedInABoundedLine() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let owner = nodes[1].runtime.spawn(idle)
            for index in 0..<25 { #expect(try await nodes[1].global.register("name\(index)", owner) == nil) }
            try await eventually("registered on the other") { nodes[0].global.registered().count == 25 }
            await nodes[1].shutdown()
            let prefix = "global: names of \(nodes[1].name) dropped: "
            try await eventually("the names are dropped") { cluster.logs.contains(prefix) }
            let line = try #require(cluster.logs.all.first { $0.contains(prefix) })
            #expect(line.hasSuffix(" and 5 more"), "\(line)")
            #expect(line.components(separatedBy: "name").count - 1 == 20 + 1, "\(line)")  // + "names of"
        }
        #expect(GlobalNameServer.listed(["a", "b"], shown: 2) == "a, b")
        #expect(GlobalNameServer.listed(["a", "b", "c"], shown: 2) == "a, b and 1 more")
    }

    /// Every node watches an owner once, however many names it has: all of them go when it
    /// dies, on every node.
    @Test func allTheNamesOfAnOwnerGoWithIt() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let owner = nodes[1].runtime.spawn { context in _ = try await context.receive(String.self) }
            for name in ["first", "second", "third"] { #expect(try await nodes[2].global.register(name, owner) == nil) }
            try await eventually("registered everywhere") {
                nodes.allSatisfy { node in ["first", "second", "third"].allSatisfy { node.global.whereis($0) == owner } }
            }
            nodes[1].runtime.send("die", to: owner)
            try await eventually("all its names gone everywhere") { nodes.allSatisfy { $0.global.registered().isEmpty } }
        }
    }

    /// A node notes each clash it settles, with the owner it kept, for owners with state to be
    /// handed what this node holds (`settledClash`), until someone marks it handled or the
    /// kept owner goes.
    @Test func aSettledClashIsNotedUntilHandledOrItsKeptOwnerGoes() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            var kept: [Pid] = []
            for name in ["kim", "lee"] {
                let owner = n1.runtime.spawn { context in _ = try await context.receive(String.self) }
                #expect(try await n1.global.register(name, owner) == nil)
                kept.append(owner)
            }
            try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.registered().count == 2 } }
            try await handOnLate(["kim": n2.runtime.spawn(idle), "lee": n2.runtime.spawn(idle)], from: n2, to: n3)
            #expect(n3.global.settledClash("kim", keeping: kept[0]) && n3.global.settledClash("lee", keeping: kept[1]))
            #expect(!n3.global.settledClash("kim", keeping: kept[1]))
            #expect(!n1.global.settledClash("kim", keeping: kept[0]), "n1 never saw the clash")
            #expect(n3.global.settledClashes() == ["kim": kept[0], "lee": kept[1]] && n1.global.settledClashes().isEmpty)
            n3.global.clashHandled("kim", kept: kept[0])
            #expect(!n3.global.settledClash("kim", keeping: kept[0]) && n3.global.settledClash("lee", keeping: kept[1]))
            #expect(n3.global.settledClashes() == ["lee": kept[1]])
            n1.runtime.send("die", to: kept[1])
            try await eventually("the note goes with the kept owner") { n3.globalClashesPending.load(ordering: .acquiring) == 0 }
        }
    }

    /// After a cut, a node that had not heard yet that an owner on a third node died hands its
    /// name on to a peer that had, in the table it sends when they reconnect (found by the
    /// partition soak: a list's name pointed at a dead server on two nodes for 14 s, and
    /// every request for it failed). Nobody tells of that death again: the peer watches
    /// the owner itself and drops the name. Here n1's late table is sent by the test.
    @Test func aNameOfADeadOwnerThatAPeerHandsOnLateIsDropped() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            let dead = try await registerAndEnd("zed", on: n2, seenBy: nodes)
            try await handOnLate(["zed": dead], from: n1, to: n3)
            try await eventually("n3 drops the dead owner's name") { n3.global.whereis("zed") == nil }
        }
    }

    /// The same late table, when n3 already knows the name's next owner on the same node: the
    /// later pid stays (before, the lower serial did: the dead one, and the live server was
    /// no longer found from n3).
    @Test func aLateTableDoesNotTakeANameFromTheNextOwnerOnTheSameNode() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            let dead = try await registerAndEnd("zed", on: n2, seenBy: nodes)
            let next = n2.runtime.spawn(idle)
            #expect(try await n2.global.register("zed", next) == nil)
            try await eventually("the next one registered everywhere") { nodes.allSatisfy { $0.global.whereis("zed") == next } }
            try await handOnLate(["zed": dead], from: n1, to: n3)
            #expect(n3.global.whereis("zed") == next)
            #expect(n2.runtime.isAlive(next))
        }
    }

    /// A late table that names a process of a node's earlier life (the node restarted while the
    /// sender was cut off, shorter than the tick time) does not take the name from its live
    /// one: not on a peer, and not on that node itself, which killed its live process when
    /// the lower incarnation won.
    @Test func aLateTableDoesNotTakeANameFromTheNodesCurrentLife() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            let live = n2.runtime.spawn(idle)
            #expect(try await n2.global.register("zed", live) == nil)
            try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.whereis("zed") == live } }
            // Lower in incarnation (never 0): the rule before kept it.
            let earlier = Pid(node: n2.runtime.node, incarnation: n2.runtime.incarnation - 1, serial: 1)
            try await handOnLate(["zed": earlier], from: n1, to: n3)
            try await handOnLate(["zed": earlier], from: n1, to: n2)
            #expect(n3.global.whereis("zed") == live)
            #expect(n2.global.whereis("zed") == live)
            #expect(n2.runtime.isAlive(live))
        }
    }

    /// A process on `node` that takes `name`, and ends once every node of `nodes` knew it; it is
    /// gone from their tables when this returns.
    private func registerAndEnd(_ name: String, on node: ClusterNode, seenBy nodes: [ClusterNode]) async throws -> Pid {
        let pid = node.runtime.spawn { context in _ = try await context.receive(String.self) }
        #expect(try await node.global.register(name, pid) == nil)
        try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.whereis(name) == pid } }
        node.runtime.send("end", to: pid)
        try await eventually("gone with its process") { nodes.allSatisfy { $0.global.whereis(name) == nil } }
        return pid
    }

    /// Sends `names` to `to`'s name server as `from`'s table at a reconnect, and waits until
    /// `to` took it in: a live name sent after them comes in the same order.
    private func handOnLate(_ names: [String: Pid], from: ClusterNode, to: ClusterNode) async throws {
        let marker = from.runtime.spawn(idle)
        for table in [names, ["marker-\(marker.serial)": marker]] {
            from.runtime.send(GlobalSync(from: from.name.description, names: table), toName: GlobalNameServer.name,
                              on: to.name.description)
        }
        try await eventually("the late table taken in") { to.global.whereis("marker-\(marker.serial)") == marker }
    }

    /// n2 sees n1 go first and registers a name n1's process held; n3, which still sees n1,
    /// keeps n1's owner (the lower node), as every node would. When n3 sees n1 go too, the
    /// name is n2's owner's on n3, as on n2. Before, n3 had no owner for it while n2 kept one
    /// that n3 never heard of again, and a second owner was registered through n3 (the
    /// partition soak: a second list server, whose writes reads through the others missed).
    @Test func aNameThatLostToAnOwnerOnANodeGoingDownIsTheLosersWhenThatNodeGoes() async throws {
        try await withTestCluster(tickTime: .milliseconds(600)) { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            let first = n1.runtime.spawn(idle)
            #expect(try await n1.global.register("dana", first) == nil)
            try await eventually("registered everywhere") { nodes.allSatisfy { $0.global.whereis("dana") == first } }
            cluster.cut(n1, n2)
            try await eventually("n2 saw n1 go") { n2.nodes() == [n3.name] && n2.global.whereis("dana") == nil }
            let next = n2.runtime.spawn(idle)
            #expect(try await n2.global.register("dana", next) == nil)
            try await eventually("n3 kept n1's owner over n2's") { cluster.logs.contains("Name conflict terminating {dana, \(next)}") }
            #expect(n3.global.whereis("dana") == first)
            cluster.cut(n1, n3)
            try await eventually("n3 saw n1 go") { n3.nodes() == [n2.name] }
            try await eventually("the name is n2's owner's on n3 too") { n3.global.whereis("dana") == next }
            #expect(n2.global.whereis("dana") == next)
            #expect(n2.runtime.isAlive(next))
            #expect(cluster.logs.contains("global: names back to the owners they overruled: dana to \(next)"))
        }
    }

    @Test func aHealedCutKeepsOneOwnerChosenAlikeEverywhereAndKillsTheOther() async throws {
        try await withTestCluster(tickTime: .milliseconds(600)) { cluster in
            let nodes = try await cluster.startMesh(3)
            let (n1, n2, n3) = (nodes[0], nodes[1], nodes[2])
            cluster.cut(n1, n3)
            cluster.cut(n2, n3)
            try await eventually("two sides") { n1.nodes() == [n2.name] && n3.nodes().isEmpty }
            let left = n2.runtime.spawn(idle)
            let right = n3.runtime.spawn(idle)
            #expect(try await n2.global.register("carol", left) == nil)
            #expect(try await n3.global.register("carol", right) == nil)
            cluster.restore(n1, n3)
            cluster.restore(n2, n3)
            try await cluster.waitForMesh(nodes)
            // The lower node name (n2) keeps carol; n3's process is killed.
            try await eventually("one carol on every node") { nodes.allSatisfy { $0.global.whereis("carol") == left } }
            try await eventually("the loser is dead") { !n3.runtime.isAlive(right) }
            #expect(cluster.logs.contains("Name conflict terminating {carol"))
        }
    }

    /// Registered with `.notify`, the loser of a clash is told who won, and lives on to hand
    /// its state over (what a to-do list server does).
    @Test func aHealedCutTellsALoserThatAskedToBeToldInsteadOfKillingIt() async throws {
        try await withTestCluster(tickTime: .milliseconds(600)) { cluster in
            let nodes = try await cluster.startMesh(2)
            let (n1, n2) = (nodes[0], nodes[1])
            cluster.cut(n1, n2)
            try await eventually("two sides") { n1.nodes().isEmpty && n2.nodes().isEmpty }
            let told = Mutex<GlobalNameConflict?>(nil)
            let left = n1.runtime.spawn(idle)
            let right = n2.runtime.spawn { context in
                let conflict = try await context.receive(GlobalNameConflict.self)
                told.withLock { $0 = conflict }
                _ = try await context.receive { _ -> Int? in nil }
            }
            #expect(try await n1.global.resolvingConflicts(.notify).register("dora", left) == nil)
            #expect(try await n2.global.resolvingConflicts(.notify).register("dora", right) == nil)
            cluster.restore(n1, n2)
            try await cluster.waitForMesh(nodes)
            try await eventually("one dora on every node") { nodes.allSatisfy { $0.global.whereis("dora") == left } }
            try await eventually("the loser was told") { told.withLock { $0?.name == "dora" && $0?.kept == left } }
            #expect(n2.runtime.isAlive(right))
            #expect(n1.runtime.isAlive(left))
            n2.runtime.exit(right, reason: .kill, from: right)
        }
    }

    @Test func aNodeThatJoinsSyncsTheTableBeforeLookups() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let pid = nodes[1].runtime.spawn(idle)
            #expect(try await nodes[0].global.register("early", pid) == nil)
            let late = try await cluster.startNode("late")
            try #require(await late.connect(nodes[0].name))
            try await cluster.waitForMesh(nodes + [late])
            try await late.global.sync()
            #expect(late.global.whereis("early") == pid)
        }
    }

    @Test func serversStartedUnderAGlobalNameAnswerAlreadyStartedFromAnyNode() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let first = try await nodes[0].runtime.withProcess { context async throws in
                try await context.startServer(name: .via(nodes[0].global, "todo:bob")) { _ in Echo() }
            }
            try await eventually("known on n2") { nodes[1].global.whereis("todo:bob") == first.pid }
            try await nodes[1].runtime.withProcess { context async throws in
                await #expect(throws: StartError.alreadyStarted(first.pid)) {
                    _ = try await context.startServer(name: .via(nodes[1].global, "todo:bob")) { _ in Echo() }
                }
            }
        }
    }
}

struct Echo: GenServer {
    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        .reply(request)
    }
}
