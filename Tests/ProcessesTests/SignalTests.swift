import Processes
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SignalTests {
    let runtime = ProcessRuntime(node: "test@localhost")

    @Test func aCrashTravelsAlongALinkChain() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            // a - b - c, linked in a chain; c crashes when told.
            let a = context.spawn { a in
                let b = a.spawnLink { b in
                    let c = b.spawnLink { c in
                        _ = try await c.receive(String.self)
                        throw Boom()
                    }
                    b.send(c, to: me)
                    try await idle(b)
                }
                _ = b
                try await idle(a)
            }
            let c = try await context.expectMessage(Pid.self)
            let watchA = context.monitor(a)
            let watchC = context.monitor(c)
            context.send("crash", to: c)
            #expect(try await context.expectDown(watchC).reason == .other("boom"))
            #expect(try await context.expectDown(watchA).reason == .other("boom"))
        }
    }

    @Test func aNormalExitDoesNotKillLinkedProcesses() async throws {
        try await runtime.withProcess { context async throws in
            let survivor = context.spawn { inner in
                inner.spawnLink { _ in }  // ends normally at once
                try await idle(inner)
            }
            let watch = context.monitor(survivor)
            #expect(try await context.nothing(Down.self, within: .milliseconds(100)))
            context.exit(survivor, reason: .kill)
            #expect(try await context.expectDown(watch).reason == .killed)
        }
    }

    @Test func trappingExitsTurnsSignalsIntoMessages() async throws {
        try await runtime.withProcess { context async throws in
            context.trapExit()
            let child = context.spawnLink { _ in throw ExitReason.other("child failed") }
            let exit = try await context.expectMessage(Exit.self)
            #expect(exit == Exit(from: child, reason: .other("child failed")))

            // exit/2 with a custom reason is trapped too.
            let other = context.spawn(idle)
            context.link(other)
            context.exit(context.pid, reason: .shutdown)
            #expect(try await context.expectMessage(Exit.self).reason == .shutdown)
            context.exit(other, reason: .kill)
            #expect(try await context.expectMessage(Exit.self) == Exit(from: other, reason: .killed))
        }
    }

    @Test func killCannotBeTrapped() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let trapper = context.spawn { inner in
                inner.trapExit()
                inner.send("ready", to: me)
                while true { _ = try await inner.receiveAny() }
            }
            _ = try await context.expectMessage(String.self)
            let watch = context.monitor(trapper)
            context.exit(trapper, reason: .shutdown)  // trapped: it lives on
            #expect(try await context.nothing(Down.self))
            context.exit(trapper, reason: .kill)
            #expect(try await context.expectDown(watch).reason == .killed)
        }
    }

    @Test func exitNormalIsIgnoredByANonTrappingProcess() async throws {
        try await runtime.withProcess { context async throws in
            let target = context.spawn(idle)
            let watch = context.monitor(target)
            context.exit(target, reason: .normal)
            #expect(try await context.nothing(Down.self))
            context.exit(target, reason: .other("stop"))
            #expect(try await context.expectDown(watch).reason == .other("stop"))
        }
    }

    @Test func monitoringADeadProcessGivesNoprocAtOnce() async throws {
        try await runtime.withProcess { context async throws in
            let gone = context.spawn { _ in }
            _ = try await context.awaitExit(of: gone)
            let ref = context.monitor(gone)
            let down = try await context.expectDown(ref)
            #expect(down == Down(ref: ref, pid: gone, reason: .noproc))
        }
    }

    @Test func monitorsCarryTheRealReasonAndDemonitorSilencesThem() async throws {
        try await runtime.withProcess { context async throws in
            let (crasher, ref) = context.spawnMonitor { inner in
                _ = try await inner.receive(String.self)
                throw ExitReason.other("bad input")
            }
            let quiet = context.spawn { inner in
                _ = try await inner.receive(String.self)
            }
            let quietRef = context.monitor(quiet)
            context.demonitor(quietRef, target: quiet)
            context.send("go", to: crasher)
            context.send("go", to: quiet)
            #expect(try await context.expectDown(ref).reason == .other("bad input"))
            #expect(try await context.receive(timeout: .milliseconds(100)) { ($0 as? Down)?.ref == quietRef ? true : nil } == nil)
        }
    }

    @Test func linkingToADeadProcessGivesNoproc() async throws {
        try await runtime.withProcess { context async throws in
            let gone = context.spawn { _ in }
            _ = try await context.awaitExit(of: gone)
            let (linker, watch) = context.spawnMonitor { inner in
                inner.link(gone)
                try await idle(inner)
            }
            _ = linker
            #expect(try await context.expectDown(watch).reason == .noproc)

            context.trapExit()
            context.link(gone)
            #expect(try await context.expectMessage(Exit.self) == Exit(from: gone, reason: .noproc))
        }
    }

    @Test func unlinkStopsPropagation() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let parent = context.spawn { inner in
                let child = inner.spawnLink { child in
                    _ = try await child.receive(String.self)
                    throw Boom()
                }
                inner.unlink(child)
                inner.send(child, to: me)
                try await idle(inner)
            }
            let child = try await context.expectMessage(Pid.self)
            let watchParent = context.monitor(parent)
            let watchChild = context.monitor(child)
            context.send("crash", to: child)
            _ = try await context.expectDown(watchChild)
            #expect(try await context.nothing(Down.self))
            context.exit(parent, reason: .kill)
            _ = try await context.expectDown(watchParent)
        }
    }

    @Test func aKilledProcessBlockedInReceiveEndsAtOnce() async throws {
        try await runtime.withProcess { context async throws in
            let sleeper = context.spawn { inner in
                _ = try await inner.receive(Int.self, timeout: .seconds(3_600))
            }
            let watch = context.monitor(sleeper)
            context.exit(sleeper, reason: .other("wake up"))
            #expect(try await context.expectDown(watch).reason == .other("wake up"))
        }
    }
}
