import Glibc

/// Standard input, output and error, as a launcher left them.
public enum StandardStreams {
    /// Opens /dev/null on each of the three that is closed (`todo-node <&- >&- 2>&-`, or an
    /// init system that starts daemons so). Called first thing: else the first descriptors
    /// the process opens take numbers 0 to 2 (a node's were an epoll and two event
    /// descriptors), and what is written as output or log lines lands in them.
    public static func openMissing() {
        for descriptor in Int32(0)...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            guard opened >= 0 else { continue }
            if opened != descriptor {
                dup2(opened, descriptor)
                close(opened)
            }
        }
    }
}
