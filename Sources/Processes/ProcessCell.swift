import DequeModule
import Dispatch
import Synchronization

/// One process: its mailbox, links, monitors and life state. Senders and signals touch only the
/// `state` under its lock; the mailbox's scanned part (`saved`) belongs to the process's own task.
@usableFromInline
final class ProcessCell: @unchecked Sendable {
    enum Wake: Sendable { case mail, timeout }

    struct State {
        var alive = true
        var reason = ExitReason.normal
        /// Messages delivered since the process last looked, in arrival order.
        var incoming = Deque<Mail>()
        var waiter: UnsafeContinuation<Wake, Never>?
        /// A hibernated process's rest, with no task: its next mail, trapped exit or
        /// deadline starts it as a task (`hibernate(until:then:)`).
        var hibernated: ProcessStart.Body?
        var timer = WaitTimer()
        var trapExit = false
        var links: Set<Pid> = []
        /// Monitors others hold on this process: tag to watcher.
        var monitors: [Ref: Pid] = [:]
        var name: String?
    }

    let runtime: ProcessRuntime
    let serial: UInt64
    let state = Mutex(State())
    /// Messages the process has already looked at and not taken (selective receive keeps them
    /// in order). Only the process's own task touches it.
    private var saved = Deque<Mail>()
    private var spare = Deque<Mail>()
    /// The most messages a delivery buffer kept for reuse has held.
    static let keptBufferMessages = 64
    /// Saved messages the fast path of receive turned down, for the slow path that follows.
    private var turnedDown = 0

    init(runtime: ProcessRuntime, serial: UInt64) {
        self.runtime = runtime
        self.serial = serial
    }

    var pid: Pid { Pid(node: runtime.node, incarnation: runtime.incarnation, serial: serial, cell: self) }

    var isAlive: Bool { state.withLock { $0.alive } }

    /// Whether the process waits for mail: suspended in receive, or hibernated.
    var isWaiting: Bool { state.withLock { $0.waiter != nil || $0.hibernated != nil } }

    /// Whether the process waits for mail hibernated, with no task.
    var isHibernated: Bool { state.withLock { $0.hibernated != nil } }

    // MARK: Delivery (any thread)

    /// Queues a message; dropped when the process is dead. Never blocks on the receiver.
    /// Always inlined: the optimizer does not then turn `message` into a generic parameter
    /// (existential specialization), which boxed it anew, a malloc per message.
    @inline(__always)
    func deliver(_ message: any Sendable) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.alive else { return nil }
            state.incoming.append(Mail(message: message))
            return state.takeWaiter()
        }
        if let waiter { wake(waiter, .mail) }
    }

    /// Resumes a waiting process, or starts a hibernated one's rest as a task (on this thread
    /// next, when it delivers inside `runningReady` or a call's send, as a resumed one would).
    private func wake(_ waiter: Waiter, _ cause: Wake) {
        switch waiter {
        case .suspended(let continuation): continuation.resume(returning: cause)
        case .hibernated(let rest): runtime.scheduler.start(ProcessStart(cell: self, body: rest))
        }
    }

    /// How a process waits for mail: suspended in its task, or hibernated without one.
    enum Waiter {
        case suspended(UnsafeContinuation<Wake, Never>)
        case hibernated(ProcessStart.Body)
    }

    /// An exit signal from `from` (Erlang's rules): `kill` sent directly cannot be trapped; a
    /// trapping process gets an `Exit` message; `normal` is ignored; anything else ends it.
    func exitSignal(from: Pid, reason: ExitReason, viaLink: Bool) {
        enum Outcome { case ignore, die(ExitReason), wake(Waiter?) }
        let outcome = state.withLock { state -> Outcome in
            guard state.alive else { return .ignore }
            if viaLink { state.links.remove(from) }
            if reason == .kill && !viaLink { return .die(.killed) }
            if state.trapExit {
                state.incoming.append(Mail(message: Exit(from: from, reason: reason)))
                return .wake(state.takeWaiter())
            }
            if reason == .normal { return from.serial == serial && from.cell === self ? .die(.normal) : .ignore }
            return .die(reason)
        }
        switch outcome {
        case .ignore: break
        case .die(let reason): terminate(reason)
        case .wake(let waiter): if let waiter { wake(waiter, .mail) }
        }
    }

    // MARK: Links and monitors (any thread)

    /// Records a link; false when the process is already dead.
    func addLink(_ other: Pid) -> Bool {
        state.withLock { state in
            guard state.alive else { return false }
            state.links.insert(other)
            return true
        }
    }

    func hasLink(_ other: Pid) -> Bool {
        state.withLock { $0.links.contains(other) }
    }

    func removeLink(_ other: Pid) {
        state.withLock { _ = $0.links.remove(other) }
    }

    /// Records a monitor held by `watcher`; false when the process is already dead.
    func addMonitor(_ ref: Ref, watcher: Pid) -> Bool {
        state.withLock { state in
            guard state.alive else { return false }
            state.monitors[ref] = watcher
            return true
        }
    }

    func removeMonitor(_ ref: Ref) {
        state.withLock { _ = $0.monitors.removeValue(forKey: ref) }
    }

    func setTrapExit(_ on: Bool) -> Bool {
        state.withLock { state in
            defer { state.trapExit = on }
            return state.trapExit
        }
    }

    // MARK: Ending

    /// Ends the process with `reason` (once): wakes it if it waits in receive (where it then
    /// throws; a process busy elsewhere stops at its next receive), drops its mailbox and
    /// name, then signals its links and monitors.
    func terminate(_ reason: ExitReason) {
        struct Ending {
            var links: Set<Pid>
            var monitors: [Ref: Pid]
            var waiter: Waiter?
            var name: String?
        }
        let ending = state.withLock { state -> Ending? in
            guard state.alive else { return nil }
            state.alive = false
            state.reason = reason
            defer {
                state.links = []
                state.monitors = [:]
                state.incoming = Deque()
                state.name = nil
            }
            return Ending(links: state.links, monitors: state.monitors, waiter: state.takeWaiter(), name: state.name)
        }
        guard let ending else { return }
        // A suspended process wakes to throw its reason; a hibernated one's rest never runs.
        if case .suspended(let continuation) = ending.waiter { continuation.resume(returning: .mail) }
        runtime.processEnded(serial: serial, name: ending.name)
        let me = pid
        for linked in ending.links {
            runtime.exitSignal(to: linked, from: me, reason: reason, viaLink: true)
        }
        for (ref, watcher) in ending.monitors {
            runtime.send(Down(ref: ref, pid: me, reason: reason), to: watcher)
        }
    }

    // MARK: Receiving (the process's own task only)

    /// The fast path of receive, without suspending: takes the first message `accept` takes
    /// among the first saved one and the new ones; false when none. Synchronous, so a busy
    /// mailbox costs no async frame. It leaves the slow path (`receive`, which must follow
    /// when it gives false) the number of saved messages `accept` has already turned down, so
    /// that those are not looked at again. In the cell, not passed along: a waiting process's
    /// memory is mostly its frames, and one more word in them took an idle process a step of
    /// the task allocator up (1.7 to 2.7 KB). Not generic: unspecialized, a generic one looked
    /// up the metadata of its `T?` at run time on every receive.
    @usableFromInline
    func takeIfPresent(_ accept: (any Sendable) throws -> Bool) throws -> Bool {
        if !saved.isEmpty {
            // Taken out first, and put back when turned down: looking at it in place copied it
            // (a retain and a release per message taken from a burst).
            let first = saved.removeFirst()
            let accepted: Bool
            do {
                accepted = try accept(first.message)
            } catch {
                saved.prepend(first)
                throw error
            }
            if !accepted {
                saved.prepend(first)
                turnedDown = 1
            }
            return accepted
        }
        let accepted = try takeIncoming(offering: accept).accepted
        if !accepted { turnedDown = saved.count }
        return accepted
    }

    /// Selective receive: the first message, oldest first, that `accept` takes is removed
    /// (`accept` keeps what it needs of it) and true returned; the others stay in order.
    /// Returns false when `timeout` (nil: none) passes first. Throws the process's exit reason
    /// once it has been killed. Not generic, so that its frame has a fixed size: a waiting
    /// process's memory is mostly its frames, and a generic frame also allocates room for each
    /// `T` (as it does for each `ContinuousClock.Instant`: hence a `Duration` in, a
    /// `WaitTimer.Moment` held).
    @usableFromInline
    func receive(timeout: Duration?, _ accept: (any Sendable) throws -> Bool) async throws -> Bool {
        let deadline = timeout.map(WaitTimer.moment(after:))
        var scanned = turnedDown  // by `takeIfPresent`, just before
        turnedDown = 0
        var timedOut = false
        while true {
            if try scan(from: &scanned, accept) { return true }
            if timedOut { return false }
            if let deadline, deadline <= WaitTimer.now() { return false }
            timedOut = await wait(until: deadline) == .timeout
        }
    }

    /// Scans what has not been looked at yet, taking in new mail until a message is accepted
    /// or there is no more.
    private func scan(from scanned: inout Int, _ accept: (any Sendable) throws -> Bool) throws -> Bool {
        while true {
            while scanned < saved.count {
                if try accept(saved[scanned].message) {
                    saved.remove(at: scanned)
                    return true
                }
                scanned += 1
            }
            // Everything saved has been looked at: new mail is offered as it is taken in.
            let taken = try takeIncoming(offering: accept)
            if taken.accepted { return true }
            if !taken.any { return false }
            scanned = saved.count
        }
    }

    /// Moves newly delivered messages behind the saved ones, offering them to `offer` first,
    /// in order, straight from the delivery buffer: the first it accepts is taken, and only
    /// the others are saved. A process that waits for one message (a call's reply) so never
    /// touches the saved queue's storage; with nothing saved, the others become the saved
    /// queue as they are, rather than being copied there one by one (a burst, as a sink of a
    /// stream takes in: a copy and a release per message). Whether there were any, and one
    /// was accepted.
    private func takeIncoming(offering offer: (any Sendable) throws -> Bool) throws -> (any: Bool, accepted: Bool) {
        var fresh = spare
        spare = Deque()
        let dead = state.withLock { state -> ExitReason? in
            guard state.alive else { return state.reason }
            swap(&state.incoming, &fresh)
            return nil
        }
        if let dead { throw dead }
        let any = !fresh.isEmpty
        let index: Int?
        do {
            index = try fresh.firstIndex { try offer($0.message) }
        } catch {
            saved.append(contentsOf: fresh)  // a match that throws takes nothing
            throw error
        }
        if fresh.count > (index == nil ? 0 : 1) {
            if let index { fresh.remove(at: index) }
            if saved.isEmpty {
                swap(&saved, &fresh)
                // The saved queue's old buffer, emptied, is the next delivery buffer; after a
                // big burst it is let go, so that a process keeps at most one buffer of its
                // biggest burst, as when bursts were copied into the saved queue.
                if saved.count > Self.keptBufferMessages { fresh = Deque() }
            } else {
                saved.append(contentsOf: fresh)
            }
        }
        // A buffer that held a burst is let go rather than kept as the next one. An empty
        // one is left as it is: clearing the shared empty storage would allocate.
        if !fresh.isEmpty { fresh.removeAll(keepingCapacity: fresh.count <= Self.keptBufferMessages) }
        spare = fresh
        return (any, index != nil)
    }

    /// Erlang's hibernation: unless mail already waits, the process lets its task end and
    /// waits with none, its mailbox's buffers let go; `rest` is then started as a new task by
    /// its next mail, an exit signal it traps, or `deadline` (as a receive's timeout, which
    /// `rest` finds passed). A task keeps the memory of its deepest frames until it ends, so a
    /// hibernated process is its cell and what `rest` holds. False when mail is here, or the
    /// process has ended: the caller goes on in its task (its next receive takes the mail, or
    /// throws). The process's own task only, which must end at once on true.
    func hibernate(until deadline: WaitTimer.Moment?, then rest: @escaping ProcessStart.Body) -> Bool {
        guard saved.isEmpty else { return false }
        // Before the lock: once `rest` is in the state, its task may be taking mail in.
        saved = Deque()
        spare = Deque()
        enum Outcome { case mailIsHere, hibernated(arm: WaitTimer.Moment?) }
        let outcome = state.withLock { state -> Outcome in
            guard state.alive, state.incoming.isEmpty else { return .mailIsHere }
            state.hibernated = rest
            return .hibernated(arm: state.timer.begin(until: deadline))
        }
        guard case .hibernated(let arm) = outcome else { return false }
        if let arm { runtime.timers.schedule(self, at: arm) }
        return true
    }

    /// Drops every message `match` accepts without waiting (used to flush a stale DOWN).
    /// Empty queues are left alone: removing from one would give it storage of its own.
    @usableFromInline
    func discard(where match: (any Sendable) -> Bool) {
        if !saved.isEmpty { saved.removeAll { match($0.message) } }
        state.withLock { state in
            if !state.incoming.isEmpty { state.incoming.removeAll { match($0.message) } }
        }
    }

    private func wait(until deadline: WaitTimer.Moment?) async -> Wake {
        await withUnsafeContinuation { continuation in beginWait(continuation, until: deadline) }
    }

    /// Parks the continuation, or resumes it at once when mail is already here; arms a timer
    /// entry when the wait needs one.
    private func beginWait(_ continuation: UnsafeContinuation<Wake, Never>, until deadline: WaitTimer.Moment?) {
        enum Begun { case mailIsHere, waiting(arm: WaitTimer.Moment?) }
        let begun = state.withLock { state -> Begun in
            guard state.alive, state.incoming.isEmpty else { return .mailIsHere }
            state.waiter = continuation
            return .waiting(arm: state.timer.begin(until: deadline))
        }
        switch begun {
        case .mailIsHere:
            continuation.resume(returning: .mail)
            runtime.scheduler.queueHandOff()
        case .waiting(let arm):
            if let arm { runtime.timers.schedule(self, at: arm) }
            runtime.scheduler.runHandedOff { isWaiting }
        }
    }

    // MARK: Calls (the process's own task only)

    /// Sends a call's request with `send`; the server it wakes runs on this thread once the
    /// caller waits for the answer (`ProcessScheduler.collectingHandOff`). The caller must
    /// `endCall()` when its wait is over, in case it never waited.
    @usableFromInline
    func sendingCall(_ send: () -> Ref) -> Ref {
        runtime.scheduler.collectingHandOff(send)
    }

    /// Queues the call's server, if its caller never waited for it.
    @usableFromInline
    func endCall() {
        runtime.scheduler.queueHandOff()
    }

    /// Whether the timer entry for `entry` is one this process relies on (else it can go).
    func needsTimer(entry: WaitTimer.Moment) -> Bool {
        state.withLock { $0.alive && $0.timer.needs(entry: entry) }
    }

    /// A timer entry came due: wakes the wait whose deadline has passed, or arms an entry for
    /// the deadline of the wait under way.
    func timerFired(entry: WaitTimer.Moment) {
        let now = WaitTimer.now()
        enum Action { case wake(Waiter?), arm(WaitTimer.Moment), nothing }
        let action = state.withLock { state -> Action in
            switch state.timer.fired(entry: entry, now: now) {
            case .timeOut:
                return .wake(state.takeWaiterOnly())
            case .arm(let deadline): return .arm(deadline)
            case .nothing: return .nothing
            }
        }
        switch action {
        case .wake(let waiter): if let waiter { wake(waiter, .timeout) }
        case .arm(let deadline): runtime.timers.schedule(self, at: deadline)
        case .nothing: break
        }
    }
}

/// A message in the mailbox, wrapped: appending a bare `any Sendable` to an array let the
/// optimizer specialize the append for the message's type, which boxed each message twice
/// more (two mallocs per message on top of the sender's).
struct Mail {
    let message: any Sendable
}

extension ProcessCell.State {
    /// The waiting process, if any, now woken by mail or an ending: its wait is over.
    mutating func takeWaiter() -> ProcessCell.Waiter? {
        timer.end()
        return takeWaiterOnly()
    }

    /// The waiting process, if any, taken without touching the timer (its wait timed out).
    mutating func takeWaiterOnly() -> ProcessCell.Waiter? {
        if let continuation = waiter {
            waiter = nil
            return .suspended(continuation)
        }
        if let rest = hibernated {
            hibernated = nil
            return .hibernated(rest)
        }
        return nil
    }
}
