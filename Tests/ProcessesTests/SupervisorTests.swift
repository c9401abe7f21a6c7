import Processes
import Testing

/// A child that tells `observer` its pid when it starts, then waits to be told to end.
func worker(id: String, restart: RestartType = .permanent, observer: Pid) -> ChildSpec {
    ChildSpec(id: id, restart: restart) { supervisor in
        supervisor.spawnLink { child in
            child.send(Started(id: id, pid: child.pid), to: observer)
            let reason = try await child.receive(ExitReason.self)
            throw reason
        }
    }
}

struct Started: Sendable, Equatable {
    let id: String
    let pid: Pid
}

@Suite(.timeLimit(.minutes(1)))
struct SupervisorTests {
    let runtime = ProcessRuntime(node: "test@localhost")

    @Test func oneForOneRestartsOnlyTheChildThatDied() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let supervisor = try await context.startSupervisor(children: [
                worker(id: "a", observer: me), worker(id: "b", observer: me),
            ])
            // The supervisor starts them in order, but both then run at once on the pool: their
            // first words may come in either order.
            let first = try await context.expectMessage(Started.self)
            let second = try await context.expectMessage(Started.self)
            let started = Dictionary([first, second].map { ($0.id, $0) }) { one, _ in one }
            #expect(started.keys.sorted() == ["a", "b"])
            let a = try #require(started["a"]), b = try #require(started["b"])

            context.send(ExitReason.other("crash"), to: a.pid)
            let again = try await context.expectMessage(Started.self)
            #expect(again.id == "a" && again.pid != a.pid)
            #expect(runtime.isAlive(b.pid))
            let children = try await context.whichChildren(supervisor)
            #expect(children == [ChildInfo(id: "a", pid: again.pid), ChildInfo(id: "b", pid: b.pid)])
        }
    }

    @Test func restartTypesDecideWhoComesBack() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let supervisor = try await context.startSupervisor(children: [
                worker(id: "temporary", restart: .temporary, observer: me),
                worker(id: "transient", restart: .transient, observer: me),
            ])
            let temporary = try await context.expectMessage(Started.self)
            let transient = try await context.expectMessage(Started.self)

            context.send(ExitReason.other("crash"), to: temporary.pid)
            context.send(ExitReason.other("crash"), to: transient.pid)
            let back = try await context.expectMessage(Started.self)
            #expect(back.id == "transient")
            #expect(try await context.nothing(Started.self))

            context.send(ExitReason.normal, to: back.pid)
            #expect(try await context.nothing(Started.self))
            let children = try await context.whichChildren(supervisor)
            #expect(children == [ChildInfo(id: "transient", pid: nil)])
        }
    }

    @Test func tooManyRestartsStopTheSupervisorAndItsChildren() async throws {
        try await runtime.withProcess { context async throws in
            context.trapExit()  // the supervisor is linked to us: its exit becomes a message
            let me = context.pid
            let supervisor = try await context.startSupervisor(
                // A long period: on a loaded machine the restarts below may take seconds, and
                // restarts older than the period no longer count.
                intensity: RestartIntensity(maxRestarts: 3, period: .seconds(120)),
                children: [worker(id: "flaky", observer: me), worker(id: "steady", observer: me)])
            var flaky = try await context.expectMessage(Started.self)
            let steady = try await context.expectMessage(Started.self)
            let watchSteady = context.monitor(steady.pid)

            for _ in 0..<3 {  // three restarts are within the intensity
                context.send(ExitReason.other("crash"), to: flaky.pid)
                flaky = try await context.expectMessage(Started.self)
            }
            context.send(ExitReason.other("crash"), to: flaky.pid)  // the fourth is one too many
            let exit = try await context.expectMessage(Exit.self)
            #expect(exit == Exit(from: supervisor.pid, reason: .shutdown))
            #expect(try await context.expectDown(watchSteady).reason == .shutdown)
        }
    }

    @Test func dynamicChildrenStartAtRunTimeAndANameTakenAnswersAlreadyStarted() async throws {
        try await runtime.withProcess { context async throws in
            let cache = try await context.startDynamicSupervisor()
            let spec = ChildSpec.server(id: "bob", name: .local("list:bob"), restart: .temporary) { _ in Counter() }
            let first = try await context.startChild(cache, spec)
            guard case .started(let pid) = first else {
                Issue.record("expected a started child, got \(first)")
                return
            }
            #expect(try await context.startChild(cache, spec) == .alreadyStarted(pid))
            #expect(try await context.whichChildren(cache).map(\.pid) == [pid])

            // A temporary child that ends is forgotten, and the name can be started again.
            #expect(try await context.call(ServerRef<Counter>(pid), .stop) == 0)
            _ = try await context.awaitExit(of: pid)
            let again = try await context.startChild(cache, spec)
            #expect(again.pid != nil && again.pid != pid)
        }
    }

    @Test func terminateChildStopsItWithShutdown() async throws {
        try await runtime.withProcess { context async throws in
            let me = context.pid
            let supervisor = try await context.startSupervisor(children: [worker(id: "a", observer: me)])
            let a = try await context.expectMessage(Started.self)
            let watch = context.monitor(a.pid)
            #expect(try await context.terminateChild(supervisor, id: "a"))
            #expect(try await context.expectDown(watch).reason == .shutdown)
            #expect(try await context.terminateChild(supervisor, id: "a") == false)
        }
    }

    @Test func aChildThatFailsToStartFailsTheSupervisorStart() async throws {
        try await runtime.withProcess { context async throws in
            context.trapExit()
            let broken = ChildSpec(id: "broken") { _ in throw ExitReason.other("cannot start") }
            await #expect(throws: StartError.self) {
                _ = try await context.startSupervisor(children: [broken])
            }
        }
    }

    @Test func aStaticSupervisorStopsItsChildrenOneAtATimeLastStartedFirst() async throws {
        try await runtime.withProcess { context async throws in
            context.trapExit()
            let me = context.pid
            let supervisor = try await context.startSupervisor(children: ["a", "b", "c"].map { stopReporter(id: $0, observer: me) })
            for _ in 0..<3 { _ = try await context.expectMessage(Started.self) }
            context.exit(supervisor.pid, reason: .shutdown)
            var order: [String] = []
            for _ in 0..<3 { order.append(try await context.expectMessage(Stopping.self).id) }
            #expect(order == ["c", "b", "a"])
            #expect(try await context.expectMessage(Exit.self) == Exit(from: supervisor.pid, reason: .shutdown))
        }
    }

    /// Each child, told to stop, waits for word that every sibling was told too: stopped one
    /// at a time, the first would wait in vain. (Their grace is long: at the start of the
    /// whole suite, a child may not run for over a second, and a killed child reports nothing.)
    @Test func aDynamicSupervisorStopsItsChildrenAllAtOnce() async throws {
        try await runtime.withProcess { context async throws in
            context.trapExit()
            let me = context.pid
            let supervisor = try await context.startDynamicSupervisor()
            let count = 4
            var pids: [Pid] = []
            for index in 0..<count {
                let spec = ChildSpec(id: "child", restart: .temporary, shutdown: .timeout(patience * 2)) { supervisor in
                    supervisor.spawnLink { child in
                        child.trapExit()
                        child.send(Started(id: "\(index)", pid: child.pid), to: me)
                        let siblings = try await child.receive([Pid].self).filter { $0 != child.pid }
                        _ = try await child.receive { ($0 as? Exit).flatMap { $0.reason == .shutdown ? $0 : nil } }
                        for sibling in siblings { child.send(Told(), to: sibling) }
                        var heard = 0
                        while heard < siblings.count, try await child.receive(Told.self, timeout: patience) != nil { heard += 1 }
                        child.send(Stopping(id: "\(index)", heardFromAll: heard == siblings.count), to: me)
                        throw ExitReason.shutdown
                    }
                }
                pids.append(try #require(try await context.startChild(supervisor, spec).pid))
            }
            for _ in 0..<count { _ = try await context.expectMessage(Started.self) }
            for pid in pids { context.send(pids, to: pid) }

            context.exit(supervisor.pid, reason: .shutdown)
            var stopped: [Stopping] = []
            for _ in 0..<count { stopped.append(try await context.expectMessage(Stopping.self)) }
            #expect(stopped.filter(\.heardFromAll).count == count)
            #expect(try await context.expectMessage(Exit.self) == Exit(from: supervisor.pid, reason: .shutdown))
        }
    }
}

/// A child that tells `observer` when it starts and, trapping exits, when it is told to stop.
private func stopReporter(id: String, observer: Pid) -> ChildSpec {
    ChildSpec(id: id) { supervisor in
        supervisor.spawnLink { child in
            child.trapExit()
            child.send(Started(id: id, pid: child.pid), to: observer)
            _ = try await child.receive { ($0 as? Exit).flatMap { $0.reason == .shutdown ? $0 : nil } }
            child.send(Stopping(id: id, heardFromAll: true), to: observer)
            throw ExitReason.shutdown
        }
    }
}

private struct Stopping: Sendable {
    let id: String
    let heardFromAll: Bool
}

private struct Told: Sendable {}
