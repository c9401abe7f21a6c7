import OSProcess

/// Everything a node needs to know to start, built from flags and environment in one place.
public struct ClusterSettings: Sendable {
    /// The mapper's default port: fixed and documented, and not epmd's 4369.
    public static let defaultMapperPort = 4370

    public var node: NodeName
    public var cookie: String
    public var hidden = false
    public var tickTime: Duration = .seconds(15)
    /// Where the node's cluster ports come from; nil lets the system pick.
    public var listenPorts: ClosedRange<Int>?
    public var mapperPort = ClusterSettings.defaultMapperPort
    /// How to start a port mapper when none answers: the program and its arguments (our own
    /// binary with `--mapper-daemon`). Nil: never start one (tests run their own).
    public var mapperLauncher: [String]?
    /// Whether to register the name with the port mapper (a command-line client need not: no
    /// one dials it).
    public var registerWithMapper = true
    /// How often the node refreshes its registration with the port mapper (which also registers
    /// it again with a mapper started anew, as does its connection to one coming back).
    public var mapperRefreshInterval: Duration = .seconds(2)
    /// How long a connection attempt (lookup and handshake) may take.
    public var connectTimeout: Duration = .seconds(5)
    /// Outgoing bytes held for one peer that is not reading. Past it the peer is disconnected
    /// (a connection being made: the attempt fails), so that a message is never lost from the
    /// middle of a connection's stream without `noconnection` for its links and monitors.
    public var maxPendingBytesPerPeer = 64 << 20
    /// Whether every cluster link is encrypted and authenticated with CURVE, keyed by the
    /// cookie (see `ClusterKeys`). Turn it off for benchmarks only: without it, the cookie
    /// handshake is all that keeps strangers out, and anyone on the path can read the traffic.
    public var encrypted = true
    /// Connections accepted that have not logged in (finished the cookie handshake): at most
    /// this many in all, and per remote address, each for at most `acceptTimeout`. Past a
    /// bound the oldest is closed. Each holds a descriptor: keep `maxHandshakes` well inside
    /// the process's limit: by default a sixteenth of it (`maxHandshakes(forDescriptors:)`).
    public var maxHandshakes = ClusterSettings.maxHandshakes(forDescriptors: DescriptorLimit.current)
    public var maxHandshakesPerAddress = 16
    public var acceptTimeout: Duration = .seconds(3)
    /// Back-off between attempts to reach a peer lost without a goodbye.
    public var reconnectBackoff: ClosedRange<Duration> = .milliseconds(200) ... .seconds(5)
    /// Global names per message of the table sent to a peer that comes up (about 0.5 MB).
    public var namesPerSyncPart = 10_000
    /// How often the transport reads every socket, whatever their descriptors signalled, and
    /// so the longest its poll waits: a safety net (ZeroMQ's descriptors signal changes, not
    /// states), which nothing should need. Tests make it long to show that nothing does.
    public var sweepInterval: Duration = .milliseconds(100)

    /// Connections not logged in for a process that may hold `descriptors` at once: a
    /// sixteenth of them, at least 16 and at most 1,000. The rest are the node's: its peers,
    /// its database's files and its HTTP clients (`HTTPLimits`).
    public static func maxHandshakes(forDescriptors descriptors: Int) -> Int {
        min(1_000, max(16, descriptors / 16))
    }

    public init(node: NodeName, cookie: String) {
        self.node = node
        self.cookie = cookie
    }
}
