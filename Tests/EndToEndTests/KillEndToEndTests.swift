import Foundation
import Synchronization
import Testing

/// Beyond the book: `kill -9` of a node while clients write through all three loses no write
/// that was acknowledged.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct KillEndToEndTests {
    @Test func killingANodeUnderLoadLosesNoAcknowledgedWrite() async throws {
        try await withEndToEnd { e2e in
            let (nodes, ports) = try await e2e.startMesh(3)

            // Three writers, one per node, on 12 shared lists; each keeps what was acknowledged.
            let acknowledged = Mutex<[String: [String]]>([:])
            let refused = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
            let writers = (0..<3).map { writer in
                Thread {
                    var sequence = 0, target = writer
                    while !stop.load(ordering: .relaxed) {
                        sequence += 1
                        let list = "load-\(sequence % 12)", title = "w\(writer)-\(sequence)"
                        switch httpPost(port: ports[target], "/add_entry?list=\(list)&date=2018-12-19&title=\(title)") {
                        case 200?: acknowledged.withLock { $0[list, default: []].append(title) }
                        case nil: target = (target + 1) % ports.count  // no answer: fail over, as a balancer would
                        default: refused.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            for writer in writers { writer.start() }
            try await e2e.waitFor("writes before the kill", within: .seconds(30)) { acknowledged.withLock { $0.values.map(\.count).reduce(0, +) } >= 500 }
            nodes[0].signal(SIGKILL)  // n1 ran the first servers: lists move while writes go on
            try await e2e.waitForPeers(httpPort: ports[1], within: .seconds(10)) { $0 == ["n3@localhost"] }
            let atKill = acknowledged.withLock { $0.values.map(\.count).reduce(0, +) }
            try await e2e.waitFor("writes after the kill", within: .seconds(30)) {
                acknowledged.withLock { $0.values.map(\.count).reduce(0, +) } >= atKill + 500
            }
            stop.store(true, ordering: .relaxed)
            try await e2e.waitFor("the writers to stop", within: .seconds(30)) { writers.allSatisfy(\.isFinished) }

            let written = acknowledged.withLock { $0 }
            var lost = 0
            for port in ports.dropFirst() {
                for (list, titles) in written {
                    let body = try #require(await httpGet(port: port, "/entries?list=\(list)&date=2018-12-19")).body
                    let lines = entryTitles(in: body)
                    let present = Set(lines)
                    lost += titles.filter { !present.contains($0) }.count
                    #expect(lines.count == present.count, "an entry twice in \(list)")
                }
            }
            let total = written.values.map(\.count).reduce(0, +)
            print("kill test: \(total) acknowledged writes, \(refused.load(ordering: .relaxed)) answered with an error, \(lost) lost")
            #expect(lost == 0)
            #expect(total >= 1_000)
        }
    }

    /// A node killed and started again serves lists only once it has tried to join through
    /// its `--connect` nodes: its first answer holds the writes it missed, not its older copy.
    /// While none of them answers, it holds requests for that first try, then serves alone.
    @Test func aRestartedNodeServesOnlyOnceItHasTriedToJoin() async throws {
        try await withEndToEnd { e2e in
            let (nodes, ports) = try await e2e.startMesh(2)
            let (add, read) = ("/add_entry?list=frank&date=2018-12-19&title=", "/entries?list=frank&date=2018-12-19")
            #expect(httpPost(port: ports[0], add + "one") == 200)
            await nodes[1].stop()
            #expect(httpPost(port: ports[0], add + "two") == 200)

            // n1 frozen: n2's first try to join it fails only after seconds, unanswered.
            nodes[0].signal(SIGSTOP)
            let frozenOut = try e2e.startNode("n2", httpPort: ports[1], e2e.meshFlags(for: 2, of: 2))
            var first: (status: Int, body: String)?
            try await e2e.waitFor("n2's first answer", within: .seconds(30)) {
                first = await httpGet(port: ports[1], read)
                return first != nil
            }
            #expect(frozenOut.output.contains("no node of n1@localhost answers yet"), "answered before it tried to join")
            #expect(first?.status == 200, "then served alone, as a node cut off")
            nodes[0].signal(SIGCONT)
            try await e2e.waitForPeers(httpPort: ports[1]) { $0 == ["n1@localhost"] }

            // With n1 up, the first answer after a restart has every write n2 missed.
            await frozenOut.stop()
            try await e2e.waitForPeers(httpPort: ports[0]) { $0.isEmpty }
            #expect(httpPost(port: ports[0], add + "three") == 200)
            _ = try e2e.startNode("n2", httpPort: ports[1], e2e.meshFlags(for: 2, of: 2))
            first = nil
            try await e2e.waitFor("n2's first answer after the second restart", within: .seconds(30)) {
                first = await httpGet(port: ports[1], read)
                return first != nil
            }
            #expect(first?.status == 200)
            #expect(Set(entryTitles(in: first?.body ?? "")) == ["one", "two", "three"], "\(first?.body ?? "")")
        }
    }

    /// A node restarted while the host's port mapper is gone starts another, which knows the
    /// nodes still running only once they register again. The node took "no such name" for
    /// "no peer of mine runs", served alone, and its first answers came from its own older
    /// copy (the restarts soak with `--mapper-kills`: hundreds of stale reads). Its lookups
    /// now ask again while the new mapper settles, and the others register again as soon as
    /// their connections to it come back.
    @Test func aNodeRestartedWithANewPortMapperServesOnlyOnceItHasFoundItsPeers() async throws {
        try await withEndToEnd { e2e in
            let (nodes, ports) = try await e2e.startMesh(2)
            let (add, read) = ("/add_entry?list=grace&date=2018-12-19&title=", "/entries?list=grace&date=2018-12-19")
            #expect(httpPost(port: ports[0], add + "one") == 200)
            // Stopped with a goodbye, so that n1 does not dial it again: only n2's own join
            // can bring the two together.
            nodes[1].signal(SIGTERM)
            #expect(try await nodes[1].exitCode(within: .seconds(20)) == 0)
            #expect(httpPost(port: ports[0], add + "two") == 200)
            let mappers = { processes(matching: "--mapper-daemon --mapper-port \(e2e.mapperPort)").filter { !isZombie($0) } }
            for mapper in mappers() { kill(mapper, SIGKILL) }

            let restarted = try e2e.startNode("n2", httpPort: ports[1], e2e.meshFlags(for: 2, of: 2))
            var first: (status: Int, body: String)?
            try await e2e.waitFor("n2's first answer", within: .seconds(30)) {
                first = await httpGet(port: ports[1], read)
                return first != nil
            }
            #expect(first?.status == 200)
            #expect(Set(entryTitles(in: first?.body ?? "")) == ["one", "two"], "\(first?.body ?? "")")
            #expect(!restarted.output.contains("no node of n1@localhost answers yet"))
        }
    }
}
