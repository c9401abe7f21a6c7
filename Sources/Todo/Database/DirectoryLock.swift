import Foundation
import Synchronization

/// A data directory held by one process: an exclusive `flock` on `todo.lock` in it, with the
/// holder's pid written there for the next one to name. A second node started on the same
/// directory (`--data-dir` copied from another's command line) would share the copy that was
/// to be its own, and the cluster would keep one copy fewer than it believes; it is refused
/// instead. The kernel drops the lock when the process ends, however it ends.
final class DirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    /// Takes the lock, or says which process holds it.
    init(directory: String) throws(TodoStore.DirectoryProblem) {
        let path = (directory as NSString).appendingPathComponent("todo.lock")
        let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw TodoStore.DirectoryProblem(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.contents(of: opened)
            close(opened)
            throw TodoStore.DirectoryProblem(
                description: "\(directory) is in use by another node\(holder.isEmpty ? "" : " (process \(holder))"): give each node a directory of its own")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(opened, 0)
        _ = pwrite(opened, pid, pid.utf8.count, 0)
        descriptor = Mutex(opened)
    }

    /// Lets the directory go (a stopped system, before a new one starts on it).
    func release() {
        descriptor.withLock { held in
            if let open = held { close(open) }
            held = nil
        }
    }

    deinit { release() }

    /// The holder's pid as it wrote it (at most a line).
    private static func contents(of descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &bytes, bytes.count, 0)
        guard count > 0 else { return "" }
        return String(decoding: bytes[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
