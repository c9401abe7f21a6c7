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
}
