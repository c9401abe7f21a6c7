import CZeroMQ
import Glibc

/// Waits for any of a set of plain descriptors (sockets' `fileDescriptor()`, a pipe) to become
/// readable, with epoll: the set is handed to the kernel once, when it changes, not at every
/// wait as `poll` hands it over and walks it. A loop that waits once for every message that
/// comes alone (a node's transport) waits here. Like `Poller`, it belongs to one thread.
public final class DescriptorPoller {
    // One thread's: the run-time exclusivity checks (one per access, several per descriptor
    // read back) are left out.
    @exclusivity(unchecked) private var epoll: Int32
    @exclusivity(unchecked) private var ready: [epoll_event] = Array(repeating: epoll_event(), count: 64)
    @exclusivity(unchecked) private var readyCount = 0

    public init() throws(ZMQError) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw ZMQError(code: errno, operation: "epoll_create1") }
    }

    deinit { close(epoll) }

    /// Watches `descriptor` for reading (level-triggered, as `poll` is).
    public func add(_ descriptor: Int32) throws(ZMQError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = descriptor
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else {
            throw ZMQError(code: errno, operation: "epoll_ctl")
        }
    }

    /// Stops watching every descriptor. It starts a new epoll set, so that a descriptor closed
    /// meanwhile (ZeroMQ closes a socket's own on its reaper thread) needs no care. When no
    /// new set can be had (no descriptor left), it throws and the old set stays: a stale set
    /// still wakes for what it holds, where none would leave nothing to wait on.
    public func removeAll() throws(ZMQError) {
        let fresh = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fresh >= 0 else { throw ZMQError(code: errno, operation: "epoll_create1") }
        close(epoll)
        epoll = fresh
        readyCount = 0
    }

    /// Waits until a descriptor is readable or `timeoutMilliseconds` pass (-1 waits forever, 0
    /// looks at once). An interrupting signal counts as a wait that found nothing.
    public func wait(timeoutMilliseconds: Int) throws(ZMQError) {
        let count = ready.withUnsafeMutableBufferPointer {
            epoll_wait(epoll, $0.baseAddress, Int32($0.count), Int32(clamping: timeoutMilliseconds))
        }
        guard count >= 0 else {
            readyCount = 0
            if errno == EINTR { return }
            throw ZMQError(code: errno, operation: "epoll_wait")
        }
        readyCount = Int(count)
    }

    /// The descriptors the last wait found readable, in place of `readable`'s contents (a loop
    /// reuses one array).
    public func readableDescriptors(into readable: inout [Int32]) {
        readable.removeAll(keepingCapacity: true)
        for index in 0..<readyCount where ready[index].events & EPOLLIN.rawValue != 0 {
            readable.append(ready[index].data.fd)
        }
    }
}
