@testable import Processes
import Testing

/// Every wait in these tests has a deadline: a broken feature fails, it never hangs. A long
/// one: every test of the binary shares the pool's threads (two on a machine of two cores),
/// and at the suite's start a job queued there waited 2 to 3 s for its turn (4 to 6 s with four
/// CPU hogs running), where alone it waits microseconds.
let patience = Duration.seconds(30)

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

extension ProcessContext {
    /// The next message of type `M`, or a test failure after `patience`.
    func expectMessage<M: Sendable>(_ type: M.Type, sourceLocation: SourceLocation = #_sourceLocation) async throws -> M {
        try #require(try await receive(type, timeout: patience), sourceLocation: sourceLocation)
    }

    /// The `Down` for `ref`, or a test failure after `patience`.
    func expectDown(_ ref: Ref, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Down {
        let down = try await receive(timeout: patience) { ($0 as? Down).flatMap { $0.ref == ref ? $0 : nil } }
        return try #require(down, sourceLocation: sourceLocation)
    }

    /// Monitors `pid` and waits for its end; returns its exit reason.
    func awaitExit(of pid: Pid, sourceLocation: SourceLocation = #_sourceLocation) async throws -> ExitReason {
        try await expectDown(monitor(pid), sourceLocation: sourceLocation).reason
    }

    /// True when no message of type `M` arrives within `window` (for "nothing happens" checks).
    func nothing<M: Sendable>(_ type: M.Type, within window: Duration = .milliseconds(100)) async throws -> Bool {
        try await receive(type, timeout: window) == nil
    }
}

/// A process that waits forever (until killed).
let idle: @Sendable (ProcessContext) async throws -> Void = { context in
    _ = try await context.receive { _ -> Bool? in nil }
}

/// Waits (with a deadline) until every process waits for mail: suspended in receive, or
/// hibernated.
func eventuallyWaiting(_ pids: [Pid], _ runtime: ProcessRuntime) async throws {
    try await eventually("the processes never waited") { pids.allSatisfy { runtime.cell(for: $0)?.isWaiting == true } }
}

/// Waits (with a deadline) until `pid` hibernates: its process waits for mail with no task.
func eventuallyHibernated(_ pid: Pid, _ runtime: ProcessRuntime) async throws {
    try await eventually("the process never hibernated") { runtime.cell(for: pid)?.isHibernated == true }
}

/// Polls `holds` every millisecond until it is true; fails with `failure` after `patience`.
private func eventually(_ failure: Comment, _ holds: () -> Bool) async throws {
    let deadline = ContinuousClock.now + patience
    while !holds() {
        try #require(ContinuousClock.now < deadline, failure)
        try await Task.sleep(for: .milliseconds(1))
    }
}
