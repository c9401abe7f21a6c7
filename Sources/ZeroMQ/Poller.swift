import CZeroMQ

/// zmq_poll over a fixed set of sockets, reusable so that a loop polls without allocating.
/// Like its sockets, a poller belongs to one thread.
public final class Poller {
    private var sockets: [Socket] = []  // kept alive while polled
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a socket to watch for `events`; returns its index for `ready(_:)`.
    @discardableResult
    public func add(_ socket: Socket, for events: PollEvents = .readable) throws(ZMQError) -> Int {
        let handle = try socket.open("poll")
        sockets.append(socket)
        items.append(zmq_pollitem_t(socket: handle, fd: 0, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Adds a plain file descriptor (an eventfd, a pipe) to watch; returns its index.
    @discardableResult
    public func add(fileDescriptor: Int32, for events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Stops watching every socket.
    public func removeAll() {
        sockets.removeAll()
        items.removeAll()
    }

    /// Waits until a socket is ready or `timeoutMilliseconds` pass (-1 waits forever, 0 checks
    /// at once). Returns how many sockets are ready; 0 on timeout or on an interrupting signal.
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        for socket in sockets where socket.isClosed {
            throw ZMQError(code: ENOTSOCK, operation: "poll on a closed socket")
        }
        let count = items.withUnsafeMutableBufferPointer {
            zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
        }
        if count == -1 {
            let error = ZMQError.last("zmq_poll")
            if error.code == EINTR { return 0 }
            throw error
        }
        return Int(count)
    }

    /// What the socket at `index` was ready for in the last poll.
    public func ready(_ index: Int) -> PollEvents {
        PollEvents(rawValue: items[index].revents)
    }
}
