import Cluster
import ClusterTestKit
import Foundation
import Processes
import Testing
@testable import Todo

struct ListShelfTests {
    /// A read of a list whose server runs on the reader's node, loaded, comes from the
    /// server's shelf: no process of its own, no message to the server. On another node the
    /// read goes to the server, as before.
    @Test func aReadOnTheServersNodeStartsNoProcess() async throws {
        try await withTodoCluster { todo in
            let systems = try await todo.startSystems(2)
            let (one, two) = (systems[0], systems[1])
            _ = try await one.add("hana", "2018-12-19", "Dentist")  // its server runs on n1
            #expect(one.shelves.count == 1 && two.shelves.count == 0)
            let startedHere = one.node.runtime.processesStarted
            for _ in 1...50 { #expect(try await one.entries("hana", "2018-12-19") == ["2018-12-19 Dentist"]) }
            // None of its own (one per read before); the bound leaves room for other work.
            #expect(one.node.runtime.processesStarted - startedHere < 10)
            #expect(try await two.entries("hana") == ["2018-12-19 Dentist"])
            _ = try await two.add("hana", "2018-12-20", "Gym")
            #expect(try await one.entries("hana") == ["2018-12-19 Dentist", "2018-12-20 Gym"])
        }
    }

    /// A server killed without closing its shelf (as a shutdown kills its servers) is never
    /// read from: the next read starts a new server, which loads the list from the database.
    @Test func aKilledServersShelfIsNotRead() async throws {
        try await withTodoCluster { todo in
            let one = try await todo.startSystems(1)[0]
            _ = try await one.add("jade", "2018-12-19", "Dentist")
            let killed = try #require(one.node.global.whereis(TodoServer.globalName("jade")))
            one.node.runtime.exit(killed, reason: .kill, from: killed)
            #expect(try await one.entries("jade") == ["2018-12-19 Dentist"])
            let next = try #require(one.node.global.whereis(TodoServer.globalName("jade")))
            #expect(next != killed && one.shelves.count == 1)
        }
    }

    /// Reads from the shelf count as requests for the idle timeout: a server read more often
    /// than its timeout outlives it, and stops once the reads stop.
    @Test func readsKeepTheServerFromGoingIdle() async throws {
        try await withTodoCluster { todo in
            // Reads span three idle timeouts; only a reader stalled for a whole one (2 s) could
            // let the server stop.
            let one = try await todo.startSystems(1, idle: .seconds(2))[0]
            let added = ContinuousClock.now
            _ = try await one.add("ivan", "2018-12-19", "Dentist")
            let server = try #require(one.node.global.whereis(TodoServer.globalName("ivan")))
            let until = ContinuousClock.now + .seconds(6)
            // The longest the server may have gone unread: from the start of one request (the
            // add, then each read) to the end of the next.
            var longestGap = Duration.zero
            var lastStart = added
            while ContinuousClock.now < until {  // a reader's load, paced
                let start = ContinuousClock.now
                #expect(try await one.entries("ivan") == ["2018-12-19 Dentist"])
                longestGap = max(longestGap, ContinuousClock.now - lastStart)
                lastStart = start
                try await Task.sleep(for: .milliseconds(20))
            }
            // A machine so loaded that the reader stalled for a whole timeout (the suite's
            // processes beside two CPU hogs on two cores) may rightly have let it stop.
            #expect(one.node.runtime.isAlive(server) || longestGap >= .seconds(2), "unread for at most \(longestGap)")
            // Its name goes after its shelf (and a successor's, after a stall, too).
            try await eventually("the server stops once the reads stop") {
                !one.node.runtime.isAlive(server) && one.whereis("ivan") == nil
            }
            #expect(one.shelves.count == 0)
        }
    }

    @Test func theIdleTimeoutCountsFromTheLastRead() {
        let now = ContinuousClock.now
        #expect(TodoServer.idleLeft(lastRead: nil, now: now, expiry: .seconds(60)) == nil)
        #expect(TodoServer.idleLeft(lastRead: now - .seconds(20), now: now, expiry: .seconds(60)) == .seconds(40))
        #expect(TodoServer.idleLeft(lastRead: now - .seconds(60), now: now, expiry: .seconds(60)) == nil)
    }

    /// A new server waits for the request it was started for until that request's deadline,
    /// when that is later than its idle timeout.
    @Test func aNewServerWaitsUntilItsFirstRequestsDeadline() {
        let now = ContinuousClock.now
        #expect(TodoServer.firstWait(expiry: .seconds(60), requestDeadline: now + .milliseconds(9_500), now: now) == nil)
        #expect(TodoServer.firstWait(expiry: .milliseconds(100), requestDeadline: now + .seconds(5), now: now) == .seconds(5))
        #expect(TodoServer.firstWait(expiry: .milliseconds(100), requestDeadline: now - .seconds(1), now: now) == nil)
    }

    /// A shelf serves reads only while its server holds the copies of the peers that came up
    /// (by the node's count of connections made): after a heal, one that did not would miss
    /// the other side's writes. Until then the read goes to the server (nil here).
    @Test func aShelfServesReadsOnlyOnceItsServerTookInThePeersThatCameUp() {
        let shelf = ListShelf(server: Pid(node: "shelves@localhost", incarnation: 1, serial: 1))
        #expect(shelf.read(connectionsMade: 0) { _ in true } == nil)  // not loaded yet
        shelf.peersTakenIn = 3
        #expect(shelf.read(connectionsMade: 3) { _ in true } == true)
        #expect(shelf.lastRead != nil)
        #expect(shelf.read(connectionsMade: 4) { _ in true } == nil)  // a peer came up since
    }

    /// A shelf is closed only by its own server: a successor's stays open.
    @Test func aShelfClosesOnlyItself() async throws {
        let runtime = ProcessRuntime(node: "shelves@localhost")
        let shelves = ListShelves(runtime: runtime)
        try await runtime.withProcess { first in
            try await runtime.withProcess { second in
                let old = ListShelf(server: first.pid), new = ListShelf(server: second.pid)
                shelves.open(old, for: "kate")
                shelves.open(new, for: "kate")
                shelves.close(old, for: "kate")
                #expect(shelves.shelf(of: "kate", server: second.pid) === new)
                #expect(shelves.shelf(of: "kate", server: first.pid) == nil)
            }
        }
    }
}
