import Foundation
import Testing

/// Beyond the book: a long-running node's memory. glibc keeps what is freed below a block
/// still in use; a node that started and stopped 160,000 list servers held 219 MB where its
/// heap's peak was 20 MB. A node now gives its free heap back now and then (`HeapTrimming`).
@Suite(.timeLimit(.minutes(3)))
struct HeapEndToEndTests {
    /// The first trim is 10 s after the start (`HeapTrimSchedule.shortest`).
    @Test func aRunningNodeGivesItsFreeHeapBackToTheSystem() async throws {
        try await withEndToEnd { e2e in
            let node = try e2e.startNode("a", httpPort: try freePort(), ["--log-level", "debug"])
            try await e2e.waitFor("the node's first trim of its heap", within: .seconds(40)) {
                node.output.contains("of free heap back to the system in ")
            }
        }
    }
}
