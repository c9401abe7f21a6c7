import Synchronization

/// The processes of one node: spawning, the pid table, local names, and signal routing.
/// A program makes one per node (no global state); tests make as many as they like.
public final class ProcessRuntime: Sendable {
    public let node: String
    public let incarnation: UInt64
    private let serials = Atomic<UInt64>(1)
    private let table = ProcessTable()
    /// The timeouts of receives with `after`.
    let timers: TimerThread
    /// Busy spells of hibernating servers begun, each a task (read by tests).
    let serverSpells = Atomic<Int>(0)
    /// The threads processes run on. Stored: reading the static lazily initialized `shared`
    /// calls `swift_once` every time, which was 1 to 2 % of a transport thread's CPU.
    public let scheduler = ProcessScheduler.shared
    let names = Mutex<[String: ProcessCell]>([:])
    private let remote = Mutex<(any RemoteRouting)?>(nil)

    /// `incarnation` should differ at every start of the same node name; the default is random.
    public init(node: String = "nonode@nohost", incarnation: UInt64 = UInt64.random(in: 1...UInt64.max)) {
        self.node = node
        self.incarnation = incarnation
        timers = TimerThread(table: table)
    }

    /// Installs the distribution layer's routing for remote pids.
    deinit { timers.stop() }

    public func setRemoteRouting(_ routing: (any RemoteRouting)?) {
        remote.withLock { $0 = routing }
    }

    /// How many processes are alive.
    public var processCount: Int { table.count }

    /// How many processes this runtime has started, short-lived ones (`withProcess`) included.
    public var processesStarted: UInt64 { serials.load(ordering: .relaxed) - 1 }

    // MARK: Spawning

    public enum SpawnOption: Sendable {
        case link(Pid)
        case trapExit
        /// Monitored by `watcher` under `ref` before the body runs (for remote spawn_monitor).
        case monitoredBy(Ref, Pid)
    }

    /// Starts `body` as a new process and returns its pid at once. A body ends its process by
    /// returning (`normal`) or throwing (an `ExitReason`, or any error as `.other`).
    @discardableResult
    public func spawn(_ body: @escaping @Sendable (ProcessContext) async throws -> Void) -> Pid {
        spawn(options: [], body)
    }

    /// `spawn` with options: linked to a pid before the body runs, or trapping exits from the start.
    @discardableResult
    public func spawn(
        options: [SpawnOption],
        _ body: @escaping @Sendable (ProcessContext) async throws -> Void
    ) -> Pid {
        let cell = makeCell()
        for option in options {
            switch option {
            case .link(let parent): link(cell, parent)
            case .trapExit: _ = cell.setTrapExit(true)
            case .monitoredBy(let ref, let watcher): _ = cell.addMonitor(ref, watcher: watcher)
            }
        }
        scheduler.start(ProcessStart(cell: cell, body: body))
        return cell.pid
    }

    /// Runs `work` as a short-lived process of its own, so code outside any process (an HTTP
    /// handler, a test) can receive, call servers and be monitored. It ends normally after.
    @discardableResult
    public func withProcess<T>(_ work: (ProcessContext) async throws -> T) async throws -> T {
        let cell = makeCell()
        defer { cell.terminate(.normal) }
        return try await work(ProcessContext(cell: cell))
    }

    private func makeCell() -> ProcessCell {
        let serial = serials.wrappingAdd(1, ordering: .relaxed).oldValue
        let cell = ProcessCell(runtime: self, serial: serial)
        table.insert(cell, serial: serial)
        return cell
    }

    func processEnded(serial: UInt64, name: String?) {
        table.remove(serial: serial)
        if let name {
            names.withLock { names in
                if names[name]?.serial == serial { names.removeValue(forKey: name) }
            }
        }
    }

    // MARK: Resolving pids

    /// True when `pid` names a process of this runtime (this node, this incarnation).
    public func isLocal(_ pid: Pid) -> Bool {
        pid.incarnation == incarnation && pid.node == node
    }

    func cell(for pid: Pid) -> ProcessCell? {
        if let cell = pid.cell, cell.runtime === self { return cell }
        guard isLocal(pid) else { return nil }
        return table[serial: pid.serial]
    }

    /// The local pid with this serial, if that process is alive (for decoding wire pids).
    public func localPid(serial: UInt64) -> Pid? {
        table[serial: serial]?.pid
    }

    /// Whether `pid` is a live process of this runtime.
    public func isAlive(_ pid: Pid) -> Bool {
        cell(for: pid)?.isAlive ?? false
    }

    var remoteRoutingForNames: (any RemoteRouting)? { remoteRouting }
    private var remoteRouting: (any RemoteRouting)? { remote.withLock { $0 } }

    private func isRemote(_ pid: Pid) -> Bool { pid.node != node }

    // MARK: Signals

    /// Sends `message` to `pid`: never blocks, never fails; dropped if the process is dead.
    /// (Always inlined for the reason `ProcessCell.deliver` is.)
    @inline(__always)
    public func send(_ message: any Sendable, to pid: Pid) {
        if let cell = cell(for: pid) {
            cell.deliver(message)
        } else if isRemote(pid) {
            remoteRouting?.send(message, to: pid)
        }
    }

    /// Sends an exit signal to `pid` as from `from` (Erlang's `exit/2`).
    public func exit(_ pid: Pid, reason: ExitReason, from: Pid) {
        exitSignal(to: pid, from: from, reason: reason, viaLink: false)
    }

    func exitSignal(to pid: Pid, from: Pid, reason: ExitReason, viaLink: Bool) {
        if let cell = cell(for: pid) {
            cell.exitSignal(from: from, reason: reason, viaLink: viaLink)
        } else if isRemote(pid) {
            remoteRouting?.exitSignal(to: pid, from: from, reason: reason, viaLink: viaLink)
        }
    }

    /// Links `cell` with `other`. A link to a process that is gone gives `cell` an exit signal
    /// `noproc`, as in Erlang.
    func link(_ cell: ProcessCell, _ other: Pid) {
        let me = cell.pid
        guard other != me, cell.addLink(other) else { return }
        if let target = self.cell(for: other) {
            if !target.addLink(me) {
                cell.exitSignal(from: other, reason: .noproc, viaLink: true)
            }
        } else if isRemote(other), let remote = remoteRouting {
            remote.link(me, to: other)
        } else {
            cell.exitSignal(from: other, reason: .noproc, viaLink: true)
        }
    }

    func unlink(_ cell: ProcessCell, _ other: Pid) {
        cell.removeLink(other)
        if let target = self.cell(for: other) {
            target.removeLink(cell.pid)
        } else if isRemote(other) {
            remoteRouting?.unlink(cell.pid, from: other)
        }
    }

    /// Monitors `target` for `watcher`; a target already gone answers `Down(noproc)` at once.
    func monitor(_ target: Pid, watcher: Pid) -> Ref {
        let ref = makeRef()
        if let cell = cell(for: target) {
            if !cell.addMonitor(ref, watcher: watcher) {
                send(Down(ref: ref, pid: target, reason: .noproc), to: watcher)
            }
        } else if isRemote(target), let remote = remoteRouting {
            remote.monitor(ref, watcher: watcher, target: target)
        } else {
            send(Down(ref: ref, pid: target, reason: .noproc), to: watcher)
        }
        return ref
    }

    /// `monitor`, then sends `target` the message made with the monitor's ref (a call's
    /// request); to a remote pid, both leave in one frame.
    @usableFromInline
    func monitor(_ target: Pid, watcher: Pid, thenSend message: (Ref) -> any Sendable) -> Ref {
        guard isRemote(target), let remote = remoteRouting else {
            let ref = monitor(target, watcher: watcher)
            send(message(ref), to: target)
            return ref
        }
        let ref = makeRef()
        remote.monitor(ref, watcher: watcher, target: target, thenSend: message(ref))
        return ref
    }

    func demonitor(_ ref: Ref, target: Pid) {
        if let cell = cell(for: target) {
            cell.removeMonitor(ref)
        } else if isRemote(target) {
            remoteRouting?.demonitor(ref, target: target)
        }
    }

    // MARK: Remote side of links and monitors (called by the distribution layer)

    /// A remote process linked to local `pid`; false when `pid` is not alive here.
    public func acceptRemoteLink(from remote: Pid, to pid: Pid) -> Bool {
        cell(for: pid)?.addLink(remote) ?? false
    }

    public func dropRemoteLink(from remote: Pid, to pid: Pid) {
        cell(for: pid)?.removeLink(remote)
    }

    /// A remote process monitors local `pid`; false when `pid` is not alive here.
    public func acceptRemoteMonitor(_ ref: Ref, watcher: Pid, target pid: Pid) -> Bool {
        cell(for: pid)?.addMonitor(ref, watcher: watcher) ?? false
    }

    public func dropRemoteMonitor(_ ref: Ref, target pid: Pid) {
        cell(for: pid)?.removeMonitor(ref)
    }

    /// The link between local `pid` and `remote` broke (its node was lost): `pid` gets an exit
    /// signal with `reason`, but only if the link still stands.
    public func linkBroken(local pid: Pid, remote: Pid, reason: ExitReason) {
        guard let cell = cell(for: pid), cell.hasLink(remote) else { return }
        cell.exitSignal(from: remote, reason: reason, viaLink: true)
    }

    /// Delivers an exit signal that arrived from another node.
    public func deliverExitSignal(to pid: Pid, from: Pid, reason: ExitReason, viaLink: Bool) {
        cell(for: pid)?.exitSignal(from: from, reason: reason, viaLink: viaLink)
    }

    private let refSerials = Atomic<UInt64>(1)

    public func makeRef() -> Ref {
        Ref(node: node, incarnation: incarnation, serial: refSerials.wrappingAdd(1, ordering: .relaxed).oldValue)
    }
}
