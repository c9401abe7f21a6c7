/// The message a process that traps exits gets for an exit signal (Erlang's `{:EXIT, from, reason}`).
public struct Exit: Sendable, Hashable, Codable {
    public let from: Pid
    public let reason: ExitReason

    public init(from: Pid, reason: ExitReason) {
        self.from = from
        self.reason = reason
    }
}

/// The message a monitor delivers when its process ends (Erlang's `{:DOWN, ref, :process, pid, reason}`).
public struct Down: Sendable, Hashable, Codable {
    public let ref: Ref
    public let pid: Pid
    public let reason: ExitReason

    public init(ref: Ref, pid: Pid, reason: ExitReason) {
        self.ref = ref
        self.pid = pid
        self.reason = reason
    }
}
