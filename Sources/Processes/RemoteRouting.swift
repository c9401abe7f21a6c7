/// What the runtime hands to the distribution layer for pids of other nodes. The `Cluster`
/// module installs one; without it, signals to remote pids behave as to dead processes.
public protocol RemoteRouting: Sendable {
    func send(_ message: any Sendable, to pid: Pid)
    func send(_ message: any Sendable, toName name: String, on node: String)
    /// `local` linked itself to `remote`; the remote side must record the link (or answer noproc).
    func link(_ local: Pid, to remote: Pid)
    func unlink(_ local: Pid, from remote: Pid)
    /// `watcher` monitors `target`; the remote side answers with a `Down` when it ends.
    func monitor(_ ref: Ref, watcher: Pid, target: Pid)
    /// `monitor`, then `message` sent to `target` (a call's monitor and request, which the
    /// distribution layer may put in one frame).
    func monitor(_ ref: Ref, watcher: Pid, target: Pid, thenSend message: any Sendable)
    func demonitor(_ ref: Ref, target: Pid)
    func exitSignal(to remote: Pid, from: Pid, reason: ExitReason, viaLink: Bool)
}
