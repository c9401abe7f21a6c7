/// What a process body works with: its own pid, its mailbox and its signals. Receive only from
/// the process's own task (the body it was given to); the rest may be used from anywhere.
public struct ProcessContext: Sendable {
    @usableFromInline let cell: ProcessCell

    init(cell: ProcessCell) { self.cell = cell }

    public var pid: Pid { cell.pid }
    public var runtime: ProcessRuntime { cell.runtime }

    // MARK: Messages

    public func send(_ message: any Sendable, to pid: Pid) {
        runtime.send(message, to: pid)
    }

    public func send(_ message: any Sendable, toName name: String) {
        runtime.send(message, toName: name)
    }

    /// Waits for the first message `match` accepts (others stay in the mailbox, in order).
    @inlinable
    public func receive<T>(_ match: (any Sendable) throws -> T?) async throws -> T {
        if let result = try takeIfPresent(match) { return result }
        var result: T?
        while true {
            _ = try await cell.receive(timeout: nil) { message in
                result = try match(message)
                return result != nil
            }
            if let result { return result }
        }
    }

    /// The fast path of receive (`ProcessCell.takeIfPresent`), specialized for `T` where it is
    /// called, but never inlined: the receiving process's async frame, most of a waiting
    /// process's memory, then holds none of its locals (inlined, it cost an idle process 1 KB).
    @inlinable @inline(never)
    func takeIfPresent<T>(_ match: (any Sendable) throws -> T?) throws -> T? {
        var result: T?
        guard try cell.takeIfPresent({ message in
            result = try match(message)
            return result != nil
        }) else { return nil }
        return result
    }

    /// As `receive(_:)`, but gives nil when nothing matched within `timeout` (Erlang's `after`).
    @inlinable
    public func receive<T>(timeout: Duration, _ match: (any Sendable) throws -> T?) async throws -> T? {
        if let result = try takeIfPresent(match) { return result }
        var result: T?
        _ = try await cell.receive(timeout: timeout) { message in
            result = try match(message)
            return result != nil
        }
        return result
    }

    /// The next message of type `M`.
    @inlinable
    public func receive<M: Sendable>(_ type: M.Type) async throws -> M {
        try await receive { $0 as? M }
    }

    /// The next message of type `M`, or nil after `timeout`.
    @inlinable
    public func receive<M: Sendable>(_ type: M.Type, timeout: Duration) async throws -> M? {
        try await receive(timeout: timeout) { $0 as? M }
    }

    /// The next message, whatever it is.
    @inlinable
    public func receiveAny() async throws -> any Sendable {
        try await receive { $0 }
    }

    /// The next message, or nil after `timeout`.
    @inlinable
    public func receiveAny(timeout: Duration) async throws -> (any Sendable)? {
        try await receive(timeout: timeout) { $0 }
    }

    // MARK: Links, monitors, exits

    public func link(_ other: Pid) { runtime.link(cell, other) }
    public func unlink(_ other: Pid) { runtime.unlink(cell, other) }

    /// Monitors `target`: a `Down` with the returned ref arrives when it ends (at once, with
    /// `noproc`, if it is already gone).
    public func monitor(_ target: Pid) -> Ref { runtime.monitor(target, watcher: pid) }

    /// Stops a monitor; with `flush`, also drops its `Down` if one already arrived.
    public func demonitor(_ ref: Ref, target: Pid, flush: Bool = true) {
        runtime.demonitor(ref, target: target)
        if flush { cell.discard { ($0 as? Down)?.ref == ref } }
    }

    /// Turns exit signals into `Exit` messages (Erlang's `trap_exit`). Returns the old setting.
    @discardableResult
    public func trapExit(_ on: Bool = true) -> Bool { cell.setTrapExit(on) }

    /// Sends an exit signal to `target` (Erlang's `exit/2`).
    public func exit(_ target: Pid, reason: ExitReason) {
        runtime.exit(target, reason: reason, from: pid)
    }

    /// Registers this process under a local name.
    public func register(_ name: String) throws(RegistrationError) {
        try runtime.register(name, pid)
    }

    // MARK: Spawning

    @discardableResult
    public func spawn(_ body: @escaping @Sendable (ProcessContext) async throws -> Void) -> Pid {
        runtime.spawn(body)
    }

    /// Spawns a process linked to this one before it runs.
    @discardableResult
    public func spawnLink(_ body: @escaping @Sendable (ProcessContext) async throws -> Void) -> Pid {
        runtime.spawn(options: [.link(pid)], body)
    }

    /// Spawns a process monitored by this one before it runs (atomically, as Erlang's
    /// `spawn_monitor`: a child that ends at once gives its own reason, never `noproc`).
    public func spawnMonitor(_ body: @escaping @Sendable (ProcessContext) async throws -> Void) -> (Pid, Ref) {
        let ref = runtime.makeRef()
        return (runtime.spawn(options: [.monitoredBy(ref, pid)], body), ref)
    }
}
