@testable import Processes
import Testing

/// A counter server: the smallest useful GenServer.
struct Counter: GenServer {
    enum Request: Sendable { case get, add(Int), crash, stall, stop }
    enum Cast: Sendable { case add(Int) }

    var value = 0
    var idleTimeout: Duration?
    var terminated: Pid?

    mutating func handleCall(_ request: Request, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        switch request {
        case .get: return .reply(value)
        case .add(let amount):
            value += amount
            return .reply(value)
        case .crash: throw ExitReason.other("counter crashed")
        case .stall: return .noReply
        case .stop: return .replyAndStop(value, .normal)
        }
    }

    mutating func handleCast(_ message: Cast, context: ProcessContext) async throws -> ServerAction {
        if case .add(let amount) = message { value += amount }
        return .continue
    }

    mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction {
        if let reportTo = message as? Pid { terminated = reportTo }
        return .continue
    }

    mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        .stop(.normal)
    }

    mutating func terminate(reason: ExitReason, context: ProcessContext) async {
        if let terminated { context.send("terminated \(reason)", to: terminated) }
    }
}

/// A hibernating server: each callback in a task of its own. It asks a helper and waits for
/// the answer inside a callback (selective receive from the callback's task).
struct Sleeper: GenServer {
    static var hibernates: Bool { true }
    var seen: [Int] = []
    let helper: Pid
    var idleTimeout: Duration? { .seconds(60) }

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<[Int]> {
        context.send(context.pid, to: helper)
        let answer = try await context.receive(Int.self)
        seen.append(request + answer)
        return .reply(seen)
    }

    mutating func handleInfo(_ message: any Sendable, context: ProcessContext) async throws -> ServerAction {
        if message as? String == "stop" { return .stop(.normal) }
        return .continue
    }
}

/// A hibernating server whose state holds a reference: it answers whether its callback holds
/// the only one (the state moved to the callback's task, so a write to it copies nothing).
struct Holder: GenServer {
    final class Storage {}
    static var hibernates: Bool { true }
    var storage = Storage()

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Bool> {
        .reply(isKnownUniquelyReferenced(&storage))
    }
}

/// A hibernating server whose spells, once it is in steady use, wait long for mail.
struct Dozer: GenServer {
    static var hibernates: Bool { true }
    static var hibernateAfter: Duration { .seconds(30) }

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        .reply(request)
    }
}

/// A hibernating server that hibernates soon, and tells `watcher` of each idle timeout (by
/// sending its pid).
struct Napper: GenServer {
    static var hibernates: Bool { true }
    static var hibernateAfter: Duration { .milliseconds(50) }
    let watcher: Pid
    let idleTimeout: Duration?

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        .reply(request)
    }

    mutating func handleTimeout(context: ProcessContext) async throws -> ServerAction {
        context.send(context.pid, to: watcher)
        return .continue
    }
}

/// A hibernating server that echoes calls and reports its `terminate` to `watcher`.
struct Dormouse: GenServer {
    static var hibernates: Bool { true }
    static var hibernateAfter: Duration { .milliseconds(50) }
    let watcher: Pid

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        .reply(request)
    }

    mutating func terminate(reason: ExitReason, context: ProcessContext) async {
        context.send("terminated \(reason)", to: watcher)
    }
}

/// A hibernating server that hibernates after every spell (it never lingers for mail).
struct Insomniac: GenServer {
    static var hibernates: Bool { true }
    static var hibernateAfter: Duration { .zero }

    mutating func handleCall(_ request: Int, from: CallFrom, context: ProcessContext) async throws -> CallResult<Int> {
        .reply(request)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct GenServerTests {
    let runtime = ProcessRuntime(node: "test@localhost")

    @Test func callsAndCastsChangeAndReadState() async throws {
        try await runtime.withProcess { context async throws in
            let counter = try await context.startServer { _ in Counter(value: 10) }
            #expect(try await context.call(counter, .add(5)) == 15)
            context.cast(counter, .add(1))
            #expect(try await context.call(counter, .get) == 16)
            #expect(try await runtime.call(counter, .get) == 16)
        }
    }

    @Test func aHibernatingServerKeepsItsStateAndReceivesInsideItsCallbacks() async throws {
        try await runtime.withProcess { context async throws in
            let helper = context.spawn { helper in
                while true { helper.send(100, to: try await helper.receive(Pid.self)) }
            }
            let sleeper = try await context.startServer { _ in Sleeper(helper: helper) }
            #expect(try await context.call(sleeper, 1) == [101])
            #expect(try await context.call(sleeper, 2) == [101, 102])
            let watch = context.monitor(sleeper.pid)
            context.send("stop", to: sleeper.pid)
            let down = try await context.receive(Down.self)
            #expect(down.ref == watch && down.reason == .normal)
            context.exit(helper, reason: .kill)
        }
    }

    @Test func aHibernatingServersStateIsMovedToItsCallbackNotCopied() async throws {
        try await runtime.withProcess { context async throws in
            let holder = try await context.startServer { _ in Holder() }
            #expect(try await context.call(holder, 1))
            #expect(try await context.call(holder, 2))
        }
    }

    /// Calls that follow each other are served by one task; after `hibernateAfter` without
    /// mail the task ends, and the next call starts another.
    @Test func aHibernatingServerServesABusySpellInOneTask() async throws {
        try await runtime.withProcess { context async throws in
            let napper = try await context.startServer { _ in Napper(watcher: context.pid, idleTimeout: nil) }
            let before = runtime.serverSpells.load(ordering: .relaxed)
            for request in 0..<100 { #expect(try await context.call(napper, request) == request) }
            // One, unless a loaded machine held a call back for longer than `hibernateAfter`
            // now and then; a task per message would make it 100.
            let spells = runtime.serverSpells.load(ordering: .relaxed) - before
            #expect(spells >= 1 && spells <= 20)
            // After a pause the next call starts a task (a starved machine may need more than
            // one pause before the busy task has seen its time pass).
            let deadline = ContinuousClock.now + patience
            repeat {
                #expect(try await context.nothing(Pid.self, within: .milliseconds(300)))
                #expect(try await context.call(napper, 1) == 1)
            } while runtime.serverSpells.load(ordering: .relaxed) - before == spells && ContinuousClock.now < deadline
            #expect(runtime.serverSpells.load(ordering: .relaxed) - before == spells + 1)
        }
    }

    /// A server woken after a long while hibernates as soon as it has answered; woken again
    /// soon after, it is in steady use, and its next task waits for more mail.
    @Test func aServerWokenNowAndThenHibernatesAtOnce() async throws {
        try await runtime.withProcess { context async throws in
            let dozer = try await context.startServer { _ in Dozer() }
            let before = runtime.serverSpells.load(ordering: .relaxed)
            #expect(try await context.call(dozer, 1) == 1)
            // The first spell did not wait 30 s for mail: once the server waits in its own
            // task again, the second call starts another.
            try await eventuallyWaiting([dozer.pid], runtime)
            #expect(try await context.call(dozer, 2) == 2)
            #expect(runtime.serverSpells.load(ordering: .relaxed) - before == 2)
            // That one lingers: every call after it is served by the same task.
            for request in 3...20 { #expect(try await context.call(dozer, request) == request) }
            #expect(runtime.serverSpells.load(ordering: .relaxed) - before == 2)
            context.exit(dozer.pid, reason: .kill)
        }
    }

    /// The idle timeout counts from the last message, whether the busy task or the server's
    /// own waited through it: shorter than `hibernateAfter` or longer.
    @Test func aHibernatingServersIdleTimeoutCountsFromItsLastMessage() async throws {
        try await runtime.withProcess { context async throws in
            for idle in [Duration.milliseconds(20), .milliseconds(300)] {
                let napper = try await context.startServer { _ in Napper(watcher: context.pid, idleTimeout: idle) }
                let idleOfNapper = { @Sendable (message: any Sendable) -> Bool? in message as? Pid == napper.pid ? true : nil }
                let called = ContinuousClock.now
                #expect(try await context.call(napper, 7) == 7)
                // A timeout that ran out before the call came (this process was not scheduled
                // for `idle` after the start) was reported before the reply: not this one.
                while try await context.receive(timeout: .zero, idleOfNapper) != nil {}
                #expect(try await context.receive(timeout: patience, idleOfNapper) == true)
                #expect(ContinuousClock.now - called >= idle)
                #expect(try await context.call(napper, 8) == 8)
                #expect(try await context.receive(timeout: patience, idleOfNapper) == true)
                context.exit(napper.pid, reason: .kill)
            }
        }
    }

    /// Idle, a hibernating server has no task: its cell holds the rest of its loop, from its
    /// start and after every busy spell, and its next call starts that as a task.
    @Test func anIdleHibernatingServerHasNoTask() async throws {
        try await runtime.withProcess { context async throws in
            let dormouse = try await context.startServer { _ in Dormouse(watcher: context.pid) }
            try await eventuallyHibernated(dormouse.pid, runtime)
            for request in 1...3 {
                #expect(try await context.call(dormouse, request) == request)
                try await eventuallyHibernated(dormouse.pid, runtime)
            }
            context.exit(dormouse.pid, reason: .kill)
        }
    }

    /// Calls from many tasks at once race servers that hibernate after every spell: mail that
    /// comes while a server hibernates either stops it from hibernating or wakes it, never
    /// neither (a lost wake would leave a call to time out).
    @Test func callsRacingHibernationAreAllAnswered() async throws {
        let servers = try await runtime.withProcess { context in
            var servers: [ServerRef<Insomniac>] = []
            for _ in 0..<4 { servers.append(try await context.startServer { _ in Insomniac() }) }
            return servers
        }
        let before = runtime.serverSpells.load(ordering: .relaxed)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<8 {
                group.addTask { [runtime] in
                    for index in 0..<300 {
                        let request = caller * 1_000 + index
                        let answer = try await runtime.call(servers[request % servers.count], request, timeout: .seconds(20))
                        #expect(answer == request)
                    }
                }
            }
            try await group.waitForAll()
        }
        // They hibernated again and again meanwhile (about 2,100 spells for the 2,400 calls
        // here, with two CPU hogs running too), so the race was run.
        #expect(runtime.serverSpells.load(ordering: .relaxed) - before >= 100)
        for server in servers { runtime.exit(server.pid, reason: .kill, from: server.pid) }
    }

    /// Killed while hibernated, a server ends with `killed` and without its `terminate`, as
    /// one killed in a receive does; its monitors and links hear of it.
    @Test func aHibernatedServerKilledEndsWithoutTerminate() async throws {
        try await runtime.withProcess { context async throws in
            let dormouse = try await context.startServer { _ in Dormouse(watcher: context.pid) }
            #expect(try await context.call(dormouse, 1) == 1)
            try await eventuallyHibernated(dormouse.pid, runtime)
            let watch = context.monitor(dormouse.pid)
            context.exit(dormouse.pid, reason: .kill)
            #expect(try await context.expectDown(watch).reason == .killed)
            #expect(try await context.nothing(String.self))
            #expect(!runtime.isAlive(dormouse.pid))
        }
    }

    /// A trapped exit signal wakes a hibernated server as mail does: its parent's stops it,
    /// with its `terminate`.
    @Test func aHibernatedServerWakesForItsParentsTrappedExit() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let parent = context.spawn { parent in
                let dormouse = try await parent.startServer(link: true, trapExit: true) { _ in Dormouse(watcher: me) }
                parent.send(dormouse, to: me)
                try await idle(parent)
            }
            let dormouse = try await context.expectMessage(ServerRef<Dormouse>.self)
            try await eventuallyHibernated(dormouse.pid, runtime)
            let watch = context.monitor(dormouse.pid)
            context.exit(parent, reason: .other("parent gone"))
            #expect(try await context.expectDown(watch).reason == .other("parent gone"))
            #expect(try await context.expectMessage(String.self) == "terminated parent gone")
        }
    }

    /// Waits for mail that begin within one 50 ms step end together, never sooner than
    /// `hibernateAfter`.
    @Test func hibernationWaitsEndOnAGrid() {
        let start = ContinuousClock.now
        let ends = (0..<50).map { millis in
            let now = start + .milliseconds(millis)
            let wait = hibernationWait(.milliseconds(250), now: now)
            #expect(wait >= .milliseconds(250) && wait < .milliseconds(300))
            return now + wait
        }
        #expect(ends.allSatisfy { $0 == ends[0] || $0 - ends[0] == .milliseconds(50) })
    }

    @Test func aCallWithoutAnAnswerTimesOutAndLeavesNoStrayReply() async throws {
        try await runtime.withProcess { context async throws in
            let counter = try await context.startServer { _ in Counter() }
            await #expect(throws: CallError.timeout) {
                try await context.call(counter, .stall, timeout: .milliseconds(50))
            }
            #expect(try await context.call(counter, .get) == 0)
        }
    }

    @Test func callingADeadServerFailsWithNoproc() async throws {
        try await runtime.withProcess { context async throws in
            let counter = try await context.startServer { _ in Counter() }
            #expect(try await context.call(counter, .stop) == 0)
            _ = try await context.awaitExit(of: counter.pid)
            await #expect(throws: CallError.noproc) { try await context.call(counter, .get) }
        }
    }

    @Test func aServerThatDiesDuringACallFailsTheCallWithItsReason() async throws {
        try await runtime.withProcess { context async throws in
            let counter = try await context.startServer { _ in Counter() }
            await #expect(throws: CallError.exited(.other("counter crashed"))) {
                try await context.call(counter, .crash)
            }
        }
    }

    /// The server is linked from its start and told whom to report to in its first state, so
    /// that a timeout that runs out before this process is scheduled again is not missed.
    @Test func idleTimeoutStopsTheServerAndRunsTerminate() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            context.trapExit()
            let counter = try await context.startServer(link: true) { _ in Counter(idleTimeout: .milliseconds(50), terminated: me) }
            let exit = try await context.receive(timeout: patience) { ($0 as? Exit).flatMap { $0.from == counter.pid ? $0 : nil } }
            #expect(exit?.reason == .normal)
            #expect(try await context.expectMessage(String.self) == "terminated normal")
        }
    }

    @Test func aTakenNameAnswersAlreadyStartedWithTheOwner() async throws {
        try await runtime.withProcess { context async throws in
            let first = try await context.startServer(name: .local("counter")) { _ in Counter() }
            #expect(runtime.whereis("counter") == first.pid)
            await #expect(throws: StartError.alreadyStarted(first.pid)) {
                _ = try await context.startServer(name: .local("counter")) { _ in Counter() }
            }
        }
    }

    @Test func aFailingInitIsReportedToTheStarter() async throws {
        try await runtime.withProcess { context async throws in
            await #expect(throws: StartError.initFailed(.other("no config"))) {
                _ = try await context.startServer { _ -> Counter in throw ExitReason.other("no config") }
            }
        }
    }

    @Test func aLinkedServerStopsWithItsTrappedParentsExitAndTerminates() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let parent = context.spawn { parent in
                let counter = try await parent.startServer(link: true, trapExit: true) { _ in Counter() }
                parent.send(counter, to: me)
                try await idle(parent)
            }
            let counter = try await context.expectMessage(ServerRef<Counter>.self)
            context.send(me, to: counter.pid)
            _ = try await context.call(counter, .get)
            let watch = context.monitor(counter.pid)
            context.exit(parent, reason: .other("parent gone"))
            #expect(try await context.expectDown(watch).reason == .other("parent gone"))
            #expect(try await context.expectMessage(String.self) == "terminated parent gone")
        }
    }
}
