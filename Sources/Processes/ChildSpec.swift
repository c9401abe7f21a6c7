/// When a supervisor restarts a child that ended (Erlang's restart types).
public enum RestartType: Sendable {
    /// Always restarted.
    case permanent
    /// Never restarted (the book's `Todo.Server`).
    case temporary
    /// Restarted only after an abnormal exit (not `normal` or `shutdown`).
    case transient
}

/// How a supervisor stops a child: `shutdown` and a grace period, or `kill` at once.
public enum ShutdownPolicy: Sendable {
    case timeout(Duration)
    case brutalKill
}

/// How to start and look after one child. `start` runs in the supervisor's process and must
/// link the new child to it (use `spawnLink` or `startServer(link: true)`), as Erlang's
/// start_link functions do.
public struct ChildSpec: Sendable {
    public var id: String
    public var restart: RestartType
    public var shutdown: ShutdownPolicy
    public var start: @Sendable (ProcessContext) async throws -> Pid

    public init(
        id: String,
        restart: RestartType = .permanent,
        shutdown: ShutdownPolicy = .timeout(.seconds(5)),
        start: @escaping @Sendable (ProcessContext) async throws -> Pid
    ) {
        self.id = id
        self.restart = restart
        self.shutdown = shutdown
        self.start = start
    }

    /// A child that is a started server, linked to its supervisor. With `trapExit`, the
    /// supervisor's `shutdown` reaches it as a message, taken after the request in hand
    /// (Erlang's `Process.flag(:trap_exit, true)` in `init`); without, the signal ends the
    /// server wherever it waits, even inside a request.
    public static func server<Server: GenServer>(
        id: String,
        name: ServerName? = nil,
        restart: RestartType = .permanent,
        trapExit: Bool = false,
        _ initialize: @escaping @Sendable (ProcessContext) async throws -> Server
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart) { context in
            try await context.startServer(name: name, link: true, trapExit: trapExit, initialize).pid
        }
    }
}

/// The restart intensity: more than `maxRestarts` within `period` and the supervisor gives up.
public struct RestartIntensity: Sendable {
    public var maxRestarts: Int
    public var period: Duration

    public init(maxRestarts: Int = 3, period: Duration = .seconds(5)) {
        self.maxRestarts = maxRestarts
        self.period = period
    }
}

/// The answer to `startChild`.
public enum StartChildResult: Sendable, Equatable {
    case started(Pid)
    /// The child's name was taken: the owner (the book's cache takes it as the server).
    case alreadyStarted(Pid)
    case failed(ExitReason)

    /// The pid of the started child or of the one already started under its name.
    public var pid: Pid? {
        switch self {
        case .started(let pid), .alreadyStarted(let pid): pid
        case .failed: nil
        }
    }
}

/// One line of `whichChildren`.
public struct ChildInfo: Sendable, Equatable {
    public let id: String
    public let pid: Pid?

    public init(id: String, pid: Pid?) {
        self.id = id
        self.pid = pid
    }
}
