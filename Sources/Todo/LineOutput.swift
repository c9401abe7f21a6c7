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

    private struct State {
        /// Lines dropped since the last one written whole.
        var dropped = 0
        /// The last line written was cut short: the next starts on a line of its own.
        var cut = false
    }

    /// How much of a line went out.
    private enum Written { case whole, part, none }

    init(descriptor: Int32, patience: Duration = .milliseconds(200)) {
        self.descriptor = descriptor
        self.patience = patience
    }

    public func write(_ line: String) {
        state.withLock { state in
            var text = line
            if state.dropped > 0 {
                text = "\(NodeLogHandler.timestamp()) warning todo.log: [Todo] \(state.dropped) log lines dropped: their reader fell behind\n" + text
            }
            if state.cut { text = "\n" + text }
            switch put(text, waiting: state.dropped == 0 ? patience : .zero) {
            case .whole: state = State()
            case .part: state.dropped += 1; state.cut = true
            case .none: state.dropped += 1
            }
        }
    }

    /// Writes `text` in pieces the descriptor takes without blocking (at most `PIPE_BUF`
    /// bytes once it is writable: a pipe takes them whole), each after waiting up to `waiting`
    /// for room.
    private func put(_ text: String, waiting: Duration) -> Written {
        var text = text
        return text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count, let base = bytes.baseAddress {
                guard canWrite(within: waiting) else { return offset == 0 ? .none : .part }
                let written = Foundation.write(descriptor, base + offset, min(bytes.count - offset, Int(PIPE_BUF)))
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return offset == 0 ? .none : .part  // closed, full disk: the line is not worth more
                }
            }
            return .whole
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
