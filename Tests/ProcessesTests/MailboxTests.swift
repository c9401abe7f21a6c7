@testable import Processes
import Testing

@Suite(.timeLimit(.minutes(1)))
struct MailboxTests {
    let runtime = ProcessRuntime(node: "test@localhost")

    @Test func messagesFromOneSenderArriveInOrder() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let collector = context.spawn { inner in
                var seen: [Int] = []
                for _ in 0..<10_000 { seen.append(try await inner.receive(Int.self)) }
                inner.send(seen, to: me)
            }
            for value in 0..<10_000 { context.send(value, to: collector) }
            #expect(try await context.expectMessage([Int].self) == Array(0..<10_000))
        }
    }

    @Test func selectiveReceiveTakesTheFirstMatchAndKeepsTheRestInOrder() async throws {
        try await runtime.withProcess { context async throws in
            for message: any Sendable in ["a", 1, "b", 2, "c"] { context.send(message, to: context.pid) }
            #expect(try await context.receive(Int.self) == 1)
            #expect(try await context.receive(Int.self) == 2)
            #expect(try await context.receiveAny() as? String == "a")
            #expect(try await context.receiveAny() as? String == "b")
            #expect(try await context.receive { $0 as? String == "c" ? true : nil })
        }
    }

    /// A burst taken in with nothing saved becomes the saved queue as it is (not copied): a
    /// second burst, taken in while the first is still saved, queues behind it, and a take
    /// from the middle of either keeps the order of the rest.
    @Test func burstsTakenInOneAfterAnotherKeepTheirOrder() async throws {
        try await runtime.withProcess { context async throws in
            for message: any Sendable in ["a", 1, "b", "c"] { context.send(message, to: context.pid) }
            #expect(try await context.receive(Int.self) == 1)
            for message: any Sendable in ["d", 2, "e"] { context.send(message, to: context.pid) }
            #expect(try await context.receive(Int.self) == 2)
            #expect(try await context.receive { $0 as? String == "c" ? true : nil })
            var rest: [String] = []
            while let next = try await context.receive(String.self, timeout: .zero) { rest.append(next) }
            #expect(rest == ["a", "b", "d", "e"])
        }
    }

    /// New mail is offered to the match as it is taken in: a match that throws takes
    /// nothing, and every message stays, in order, whether it came before or after.
    @Test func aMatchThatThrowsLosesNoMessage() async throws {
        struct Refused: Error {}
        try await runtime.withProcess { context async throws in
            for message: any Sendable in ["a", 1, "b"] { context.send(message, to: context.pid) }
            await #expect(throws: Refused.self) {
                try await context.receive { message -> Bool? in if message is Int { throw Refused() } else { nil } }
            }
            context.send("c", to: context.pid)
            await #expect(throws: Refused.self) {
                try await context.receive { message -> Bool? in if message as? String == "c" { throw Refused() } else { nil } }
            }
            for expected: any Sendable in ["a", 1, "b", "c"] {
                // A lost message would never come: the wait is bounded, so that shows as a failure.
                let message = try await context.receiveAny(timeout: .seconds(10))
                #expect(message.map { "\($0)" } == "\(expected)")
            }
        }
    }

    /// The first saved message, turned down or refused with a throw, stays first.
    @Test func theFirstSavedMessageStaysFirstWhenTurnedDownOrRefused() async throws {
        struct Refused: Error {}
        try await runtime.withProcess { context async throws in
            for message: any Sendable in [1, "a", "b"] { context.send(message, to: context.pid) }
            #expect(try await context.receive(Int.self) == 1)  // "a" and "b" are saved now
            await #expect(throws: Refused.self) {
                try await context.receive { message -> Bool? in if message as? String == "a" { throw Refused() } else { nil } }
            }
            #expect(try await context.receive(Int.self, timeout: .zero) == nil)
            #expect(try await context.receive(String.self) == "a")
            #expect(try await context.receive(String.self) == "b")
        }
    }

    /// A selective receive looks at each waiting message once, whether it is new or saved
    /// (its fast path tells the slow one what it already turned down).
    @Test func aSelectiveReceiveLooksAtEachMessageOnce() async throws {
        try await runtime.withProcess { context async throws in
            for value in 0..<100 { context.send(value, to: context.pid) }
            var looks = 0
            let count = { (message: any Sendable) -> String? in
                looks += 1
                return message as? String
            }
            #expect(try await context.receive(timeout: .zero, count) == nil)  // all new
            #expect(looks == 100)
            looks = 0
            #expect(try await context.receive(timeout: .zero, count) == nil)  // all saved
            #expect(looks == 100)
            looks = 0
            context.send("last", to: context.pid)
            #expect(try await context.receive(count) == "last")  // 100 saved, then the new one
            #expect(looks == 101)
        }
    }

    @Test func selectiveReceiveWaitsForAMatchWhileOthersQueue() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            context.spawn { inner in
                inner.send("noise", to: me)
                inner.send(42, to: me)
            }
            #expect(try await context.expectMessage(Int.self) == 42)
            #expect(try await context.expectMessage(String.self) == "noise")
        }
    }

    @Test func receiveTimesOutThenStillGetsLaterMail() async throws {
        try await runtime.withProcess { context async throws in
            let start = ContinuousClock.now
            #expect(try await context.receive(Int.self, timeout: .milliseconds(30)) == nil)
            #expect(ContinuousClock.now - start >= .milliseconds(30))
            #expect(try await context.receive(Int.self, timeout: .zero) == nil)
            context.send(7, to: context.pid)
            #expect(try await context.receive(Int.self, timeout: .zero) == 7)
        }
    }

    @Test func sendingToADeadProcessIsDroppedSilently() async throws {
        try await runtime.withProcess { context async throws in
            let (short, watch) = context.spawnMonitor { _ in }
            #expect(try await context.expectDown(watch).reason == .normal)
            #expect(!runtime.isAlive(short))
            context.send("hello?", to: short)
        }
    }

    @Test func processesLeaveTheTableWhenTheyEnd() async throws {
        try await runtime.withProcess { context async throws in
            let before = runtime.processCount
            var refs: [Ref] = []
            for _ in 0..<100 { refs.append(context.spawnMonitor { _ in }.1) }
            for ref in refs { _ = try await context.expectDown(ref) }
            #expect(runtime.processCount == before)
        }
    }

    /// A child that ends at once is monitored before it runs: its Down says `normal`, never
    /// `noproc` (a monitor set after the spawn could come too late).
    @Test func spawnMonitorWatchesTheChildFromItsStart() async throws {
        try await runtime.withProcess { context async throws in
            var refs: [Ref] = []
            for _ in 0..<1_000 { refs.append(context.spawnMonitor { _ in }.1) }
            for ref in refs { #expect(try await context.expectDown(ref).reason == .normal) }
        }
    }

    /// A spawned process's task is made when it first runs; one killed before then never
    /// runs its body.
    @Test func aProcessKilledBeforeItRanNeverRuns() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let cell = ProcessCell(runtime: runtime, serial: UInt64.max)
            cell.terminate(.killed)
            ProcessStart(cell: cell, body: { _ in context.runtime.send("ran", to: me) }).begin(on: runtime.scheduler)
            let alive = ProcessCell(runtime: runtime, serial: UInt64.max - 1)
            ProcessStart(cell: alive, body: { _ in context.runtime.send("alive ran", to: me) }).begin(on: runtime.scheduler)
            #expect(try await context.expectMessage(String.self) == "alive ran")
            #expect(try await context.nothing(String.self))
        }
    }

    @Test func localNamesRegisterResolveAndVanishWithTheProcess() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let named = context.spawn { inner in
                let text = try await inner.receive(String.self)
                inner.send("echo \(text)", to: me)
            }
            try runtime.register("echo", named)
            #expect(runtime.whereis("echo") == named)
            #expect(throws: RegistrationError.taken(by: named)) { try runtime.register("echo", me) }
            #expect(throws: RegistrationError.alreadyNamed("echo")) { try runtime.register("other", named) }

            context.send("hi", toName: "echo")
            #expect(try await context.expectMessage(String.self) == "echo hi")
            _ = try await context.awaitExit(of: named)
            #expect(runtime.whereis("echo") == nil)
            try context.register("echo")
            #expect(runtime.whereis("echo") == me)
        }
    }

    @Test func pidsOfAnEarlierIncarnationAreDead() async throws {
        try await runtime.withProcess { context async throws in
            let live = context.spawn(idle)
            let stale = Pid(node: live.node, incarnation: live.incarnation &+ 1, serial: live.serial)
            #expect(stale != live)
            #expect(!runtime.isAlive(stale))
            #expect(runtime.isAlive(Pid(node: live.node, incarnation: live.incarnation, serial: live.serial)))
            #expect(try await context.awaitExit(of: stale) == .noproc)
            context.exit(live, reason: .kill)
        }
    }

    @Test func pidsPrintLikeErlangAndCodeWithoutTheirProcess() throws {
        let pid = Pid(node: "a@h", incarnation: 3, serial: 12)
        #expect(pid.description == "<a@h.12.3>")
        #expect(pid.hashValue == Pid(node: "a@h", incarnation: 3, serial: 12).hashValue)
    }
}
