import Foundation
import Synchronization

/// Where log lines go: a descriptor (the standard error), written a line at a time under a
/// lock, so that lines from several threads never interleave and nothing is held in a buffer
/// when the process is killed; and never at the cost of a logging thread waiting on a reader
/// that does not read.
///
/// A plain `write(2)` into a pipe that nobody empties (`todo-node … 2>&1 | less`, paused; a
/// stuck log shipper) stops the thread whose line fills it, then every thread that logs after
/// it: a node takes no more writes to new lists once some 570 list servers have logged their
/// start. Here a line waits at most `patience` for room; when it has to be dropped, so is
/// every line after it, without waiting, until there is room again, and then a line says how
/// many went. Erlang's logger drops lines, too, when its output falls behind.
public final class LineOutput: TextOutputStream, Sendable {
    public static let standardError = LineOutput(descriptor: STDERR_FILENO)

    private let descriptor: Int32
    private let patience: Duration
    private let state = Mutex(State())

    struct State: Equatable {
        /// Lines dropped since the last one written whole, or since the notice that counted
        /// those before.
        var dropped = 0
        /// The last line written was cut short: the next starts on a line of its own.
        var cut = false

        /// What goes out before the next line: a line break after a cut one, and the notice
        /// of the lines dropped.
        var prefix: String {
            let lineBreak = cut ? "\n" : ""
            guard dropped > 0 else { return lineBreak }  // every line asks: no clock read then
            return lineBreak + "\(NodeLogHandler.timestamp()) warning todo.log: [Todo] \(dropped) log lines dropped: their reader fell behind\n"
        }

        /// After `written` bytes of a prefix of `prefixBytes` and a line, `totalBytes` in all,
        /// went out. Once the prefix is out, the lines it counted are told of, whatever becomes
        /// of the line after it: they are not counted again.
        func after(written: Int, prefixBytes: Int, totalBytes: Int) -> State {
            if written == totalBytes { return State() }
            if written >= prefixBytes { return State(dropped: 1, cut: written > prefixBytes) }
            return State(dropped: dropped + 1, cut: cut || written > 0)
        }
    }

    init(descriptor: Int32, patience: Duration = .milliseconds(200)) {
        self.descriptor = descriptor
        self.patience = patience
    }

    public func write(_ line: String) {
        state.withLock { state in
            let prefix = state.prefix
            var text = prefix + line
            let written = put(&text, waiting: state.dropped == 0 ? patience : .zero)
            state = state.after(written: written, prefixBytes: prefix.utf8.count, totalBytes: text.utf8.count)
        }
    }

    /// Writes `text` in pieces the descriptor takes without blocking (at most `PIPE_BUF`
    /// bytes once it is writable: a pipe takes them whole), each after waiting up to `waiting`
    /// for room; answers how many bytes went out.
    private func put(_ text: inout String, waiting: Duration) -> Int {
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count, let base = bytes.baseAddress {
                guard canWrite(within: waiting) else { return offset }
                let written = Foundation.write(descriptor, base + offset, min(bytes.count - offset, Int(PIPE_BUF)))
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return offset  // closed, full disk: the line is not worth more
                }
            }
            return offset
        }
    }

    /// Whether a write would not block: false too when the reader has gone (a pipe's `POLLERR`),
    /// so no write raises SIGPIPE.
    private func canWrite(within limit: Duration) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(clamping: limit.components.seconds * 1_000 + limit.components.attoseconds / 1_000_000_000_000_000)
        while true {
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0, errno == EINTR { continue }
            return ready > 0 && entry.revents & Int16(POLLOUT) != 0 && entry.revents & Int16(POLLERR) == 0
        }
    }
}
