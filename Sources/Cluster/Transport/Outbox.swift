import Foundation
import Synchronization

/// Work handed to a node's transport thread.
enum Command: Sendable {
    /// Connect; the answer is nil once connected, or why not.
    case connect(NodeName, @Sendable (ConnectFailure?) -> Void)
    /// The mapper's answer to a lookup made for a connection attempt: the node's port, or why
    /// there is none (no such name, no mapper).
    case lookedUp(NodeName, Result<Int, ConnectFailure>)
    /// One encoded packet for a peer (connecting to it first if needed, like Erlang's send).
    case send(NodeName, [UInt8])
    case disconnect(NodeName, @Sendable (Bool) -> Void)
    /// The fault shim: silently drop all traffic with this peer, or stop doing so.
    case cut(NodeName)
    case restore(NodeName)
    case shutdown(@Sendable () -> Void)
    /// How many connections were accepted and have not logged in (finished the cookie
    /// handshake): for tests and operators.
    case countHandshakes(@Sendable (Int) -> Void)
    /// The node is ready: logins held until now go on (`TransportLoop.loginsOpen`).
    case openLogins
}

/// The queue into the transport thread, with a pipe that wakes its poll. Posting never
/// blocks; the pipe is written only when the thread has not been woken since it last took
/// its work, so a burst of posts costs one system call.
final class Outbox: Sendable {
    private struct Queue {
        var commands: [Command] = []
        var woken = false
    }

    private let queue = Mutex(Queue())
    let wakeDescriptor: Int32
    private let writeDescriptor: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw NodeStartError.system("pipe failed: errno \(errno)") }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeDescriptor = ends[0]
        writeDescriptor = ends[1]
    }

    deinit {
        close(wakeDescriptor)
        close(writeDescriptor)
    }

    func post(_ command: Command) {
        let needsWake = queue.withLock { queue in
            queue.commands.append(command)
            return Self.markWoken(&queue)
        }
        if needsWake { signal() }
    }

    /// Wakes the transport thread for work that is not a command (a frame to flush, a socket
    /// to read that a sending thread saw become readable).
    func wake() {
        if queue.withLock({ Self.markWoken(&$0) }) { signal() }
    }

    /// Whether commands wait to be taken (a cheap look, no system call).
    var hasWork: Bool { queue.withLock { !$0.commands.isEmpty } }

    /// Everything posted so far (the transport thread only). `drainingWake` empties the wake
    /// pipe first: the thread asks it when the pipe woke its poll. A byte written after that
    /// poll stays, and wakes the next one, which empties it then.
    func take(drainingWake: Bool) -> [Command] {
        if drainingWake {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { drain in
                while read(wakeDescriptor, drain.baseAddress, drain.count) > 0 {}
            }
        }
        return queue.withLock { queue in
            queue.woken = false
            defer { queue.commands = [] }
            return queue.commands
        }
    }

    private static func markWoken(_ queue: inout Queue) -> Bool {
        defer { queue.woken = true }
        return !queue.woken
    }

    private func signal() {
        var one: UInt8 = 1
        _ = write(writeDescriptor, &one, 1)
    }
}

/// Why a node did not start.
public enum NodeStartError: Error, Equatable, CustomStringConvertible {
    case nameInUse(String)
    case noPortMapper(String)
    case badAddress(String)
    case system(String)

    public var description: String {
        switch self {
        case .nameInUse(let name): "the node name \(name) is already in use on this host"
        case .noPortMapper(let detail): "no port mapper: \(detail)"
        case .badAddress(let detail): "cannot listen: \(detail)"
        case .system(let detail): detail
        }
    }
}
