import CZeroMQ
import Synchronization

/// A libzmq context: the owner of I/O threads and sockets. Thread-safe, unlike sockets.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let terminated = Mutex(false)

    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        if ioThreads != 1 {
            try check(zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads), "zmq_ctx_set(ZMQ_IO_THREADS)")
        }
    }

    /// Makes a socket of `type`; it closes itself with linger 0 when released.
    public func socket(_ type: SocketType) throws(ZMQError) -> Socket {
        try Socket(context: self, type: type)
    }

    /// Wakes every blocking call on this context's sockets with ETERM without waiting for them.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// Blocks until the messages of every closed socket have left, each within its linger,
    /// then frees the context. Every socket must be closed first, or this waits for ever. For
    /// a process about to exit, whose last messages (goodbyes) would otherwise die with it.
    public func terminate() {
        let already = terminated.withLock { terminated in
            defer { terminated = true }
            return terminated
        }
        guard !already else { return }
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }

    deinit {
        // Sockets hold a strong reference to their context, so every socket is closed by now
        // and zmq_ctx_term cannot block on one.
        if !terminated.withLock({ $0 }) {
            while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
        }
    }
}

/// libzmq's version as (major, minor, patch).
public func libzmqVersion() -> (major: Int32, minor: Int32, patch: Int32) {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return (major, minor, patch)
}
