import Foundation
import Processes

/// Resident memory of an idle GenServer with an idle timeout (what a list server is, before
/// its list): the figure to set beside an idle plain process.
enum ServerMemoryBench {
    struct Idle: GenServer {
        typealias Request = Int
        typealias Reply = Int
        var idleTimeout: Duration? { .seconds(3_600) }
        mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> { .reply(request) }
    }

    /// `bytesPerIdleServer` in a new OS process of this benchmark binary, so memory freed by
    /// an earlier run is not reused.
    static func inFreshProcess() throws -> Double {
        let text = try runBenchChild(["genserver-once"]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Double(text) else { throw BenchFailure("unexpected output: \(text)") }
        return bytes
    }

    static func bytesPerIdleServer(count: Int = 20_000) async throws -> Double {
        let runtime = ProcessRuntime(node: "bench@localhost")
        return try await runtime.withProcess { context in
            let before = residentBytes()
            var servers: [Pid] = []
            for _ in 0..<count { servers.append(try await context.startServer { _ in Idle() }.pid) }
            let bytes = Double(residentBytes() - before) / Double(count)
            for server in servers { context.exit(server, reason: .kill) }
            return bytes
        }
    }
}
