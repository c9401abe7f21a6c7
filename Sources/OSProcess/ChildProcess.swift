import CSpawn
import Glibc
import Synchronization

/// An operating-system process this one started, through `posix_spawn`.
///
/// Foundation's `Process` is not used for this: in this toolchain its `run()` now and then
/// crashes (a 256-byte over-read of a `dirent` in `findMaximumOpenFromProcSelfFD`, fixed
/// upstream in swift-corelibs-foundation#5472), the more often the more descriptors are open,
/// and a child it starts from a Swift task inherits that thread's blocked SIGTERM.
///
/// A child here starts with no blocked signals and default dispositions, its standard input
/// on /dev/null, and no descriptor of ours but the outputs it is given, so it can never hold
/// a pipe its starter waits on.
public final class ChildProcess: Sendable {
    /// Where the child's standard output or error goes.
    public enum Output: Sendable {
        case discarded
        case inherited
        case descriptor(Int32)
    }

    public let pid: pid_t
    /// The exit status, once the child has ended and been reaped.
    private let ended = Mutex<Int32?>(nil)

    /// Starts `executable` (a path; a relative one is taken from this process's directory,
    /// not `directory`) with `arguments`; `environment` nil inherits ours. `newSession` makes
    /// the child the leader of a session of its own, as daemons are.
    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                directory: String? = nil, output: Output = .discarded, errors: Output = .discarded,
                newSession: Bool = false) throws(ChildProcessError) {
        let executable = Self.absolute(executable)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (target, output) in [(Int32(1), output), (Int32(2), errors)] {
            switch output {
            case .discarded: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            case .inherited: break
            case .descriptor(let descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, target)
            }
        }
        cspawn_add_closefrom(&actions, 3)
        if let directory { cspawn_add_chdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= cspawn_flag_setsid() }
        posix_spawnattr_setflags(&attributes, flags)

        var argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var child: pid_t = 0
        let failure = argv.withUnsafeMutableBufferPointer { argv -> Int32 in
            guard let arguments = argv.baseAddress else { return EINVAL }
            guard var strings = envp else { return posix_spawn(&child, executable, &actions, &attributes, arguments, environ) }
            return strings.withUnsafeMutableBufferPointer {
                posix_spawn(&child, executable, &actions, &attributes, arguments, $0.baseAddress)
            }
        }
        guard failure == 0 else { throw ChildProcessError(executable: executable, errno: failure) }
        pid = child
    }

    /// Sends `number` to the child (nothing once it has been reaped).
    public func signal(_ number: Int32) {
        ended.withLock { status in
            if status == nil { _ = Glibc.kill(pid, number) }
        }
    }

    /// The exit status if the child has ended: its exit code, or 128 plus the signal that
    /// ended it, as shells report it. Nil while it runs.
    public var status: Int32? {
        ended.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid { status = Self.decode(raw) }
            }
            return status
        }
    }

    public var isRunning: Bool { status == nil }

    /// Blocks this thread until the child ends; its status.
    @discardableResult
    public func waitForExit() -> Int32 {
        var raw: Int32 = 0
        var reaped = waitpid(pid, &raw, 0)
        while reaped == -1, errno == EINTR { reaped = waitpid(pid, &raw, 0) }
        return ended.withLock { status in
            if status == nil { status = reaped == pid ? Self.decode(raw) : -1 }  // -1: not our child
            return status ?? -1
        }
    }

    /// Waits (without blocking a thread) up to `limit` for the child to end; nil if it has not.
    public func waitForExit(within limit: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let status { return status }
            try await Task.sleep(for: .milliseconds(10))
        }
        return status
    }

    /// SIGKILL, then waits for the end: for children that must go whatever they are doing.
    @discardableResult
    public func kill() -> Int32 {
        signal(SIGCONT)  // a stopped child dies of SIGKILL too, but only once it runs
        signal(SIGKILL)
        return waitForExit()
    }

    private static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), let directory = getcwd(nil, 0) else { return path }
        defer { free(directory) }
        return String(cString: directory) + "/" + path
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let executable: String
    public let errno: Int32

    public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
}
