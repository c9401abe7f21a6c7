import Foundation
import Logging
import OSProcess
import Synchronization
import ZeroMQ

/// Keeps a node's name registered with the host's port mapper: registers at start (starting
/// a mapper when none answers and a launcher is given), then refreshes the lease every
/// `refreshInterval` on a thread of its own, and at once when a mapper takes its connection
/// again, so a restarted mapper learns the name as soon as it runs; and, with a launcher,
/// restarts a mapper that has stopped answering (killed, or out of memory), which epmd's
/// nodes do not: names, and with them nodes joining and clients, would be gone until the
/// next node started. All of it on one connection, which the mapper ties the
/// registration to: when this process dies, the name goes with it. The node's lookups of
/// names on its own host go over it too (`lookup`).
final class MapperKeeper: Sendable {
    let client: PortMapperClient
    let name: String
    let port: Int
    let incarnation: UInt64
    let launcher: [String]?
    let refreshInterval: Duration
    let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// A pipe `stop` writes to once, to wake the refresh loop, whose poll watches its read end
    /// beside the connection's events.
    private let wake: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// The first registration's thread, then the refresh loop's and the lookups', in turn.
    private let mapper: Mutex<PortMapperConnection>
    /// Whether the connection's last request was answered (see `lookup`).
    private let answering = Atomic<Bool>(true)

    init(
        client: PortMapperClient, name: String, port: Int, incarnation: UInt64, launcher: [String]?,
        refreshInterval: Duration, logger: Logger
    ) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw NodeStartError.system("pipe failed: errno \(errno)") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        wake = (ends[0], ends[1])
        mapper = Mutex(try PortMapperConnection(client))
        self.refreshInterval = refreshInterval
        self.client = client
        self.name = name
        self.port = port
        self.incarnation = incarnation
        self.launcher = launcher
        self.logger = logger
    }

    /// The first registration, off the Swift concurrency threads (it blocks on the network).
    func registerFirst() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread { [self] in
                do {
                    try self.registerStartingMapper()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// How long a node tries to reach a port mapper: from its first try, or from the launch
    /// of one (which may find the port taken, by a mapper another node launched meanwhile).
    static let answerWithin = Duration.seconds(5)
    /// How long a node waits for a mapper it launched while that process runs: a loaded host
    /// (a whole test suite on one core) took longer than `answerWithin` to start one.
    static let launchedMapperWithin = Duration.seconds(30)
    /// Between two failed tries (seconds). A try that gets no answer already takes a second.
    static let retryPause = 0.1

    private func registerStartingMapper() throws {
        var deadline = ContinuousClock.now + Self.answerWithin
        var launched: (mapper: ChildProcess, at: ContinuousClock.Instant)?
        // Nothing listens: started at once, not after a request waited out its second.
        if launcher != nil, client.isRefused { launched = try launchMapper("no port mapper answers on port \(client.port)") }
        while true {
            do {
                guard try register() else {
                    throw NodeStartError.nameInUse(name)
                }
                return
            } catch let error as PortMapperClient.Failure {
                let now = ContinuousClock.now
                if launched == nil, let started = try launchMapper("no port mapper answers on port \(client.port)") {
                    launched = started
                    deadline = now + Self.answerWithin
                    continue
                }
                // A mapper this node launched is waited for while it runs (it is starting).
                let starting = launched.map { $0.mapper.isRunning && now < $0.at + Self.launchedMapperWithin } ?? false
                guard starting || now < deadline else { throw NodeStartError.noPortMapper(error.description) }
                // A try that failed at once (something on the port answers, but not as a
                // mapper) is not repeated at once: the node would spin until it gives up.
                Thread.sleep(forTimeInterval: Self.retryPause)
            }
        }
    }

    private func register() throws -> Bool {
        try request { try $0.register(name: name, port: port, incarnation: incarnation) }
    }

    /// The port of the node registered as `name` with this host's mapper, asked over the
    /// registration's connection (blocking, as `PortMapperClient.lookup`). A lookup on a
    /// connection of its own is two connections the mapper counts as a stranger's until they
    /// close (the request's and a probe's): 16 nodes of one host dialling each other at once
    /// passed the mapper's bound of 16 from one address, and it cut some of them. While the
    /// mapper does not answer, lookups go on connections of their own again: those fail at once
    /// where nothing listens, where these would queue, a second each, behind one another.
    /// Asked again while the mapper settles (`PortMapperClient.lookUp`), without holding the
    /// connection meanwhile.
    func lookup(_ name: String) throws -> Int? {
        try PortMapperClient.lookUp {
            guard isAnswering else { return try client.request(["LOOKUP", name]) }
            return try request { try $0.request(["LOOKUP", name]) }
        }
    }

    /// Whether the mapper answered the connection's last request.
    var isAnswering: Bool { answering.load(ordering: .relaxed) }

    private func request<T: Sendable>(_ body: (inout sending PortMapperConnection) throws -> T) throws -> T {
        do {
            let result = try mapper.withLock { try body(&$0) }
            answering.store(true, ordering: .relaxed)
            return result
        } catch let failure as PortMapperClient.Failure {
            if case .noAnswer = failure { answering.store(false, ordering: .relaxed) }
            throw failure
        }
    }

    /// Starts a mapper with the launcher, if there is one, saying `why` in the log.
    private func launchMapper(_ why: String, level: Logger.Level = .info) throws -> (mapper: ChildProcess, at: ContinuousClock.Instant)? {
        guard let launcher, let program = launcher.first else { return nil }
        logger.log(level: level, "\(why); starting one")
        return (try Self.launch(program, Array(launcher.dropFirst())), ContinuousClock.now)
    }

    /// Starts the mapper as a process of its own session: it outlives this node. A thread
    /// waits for it, so that if it ends first it leaves no zombie.
    private static func launch(_ program: String, _ arguments: [String]) throws -> ChildProcess {
        let mapper = try ChildProcess(program, arguments, newSession: true)
        Thread { mapper.waitForExit() }.start()
        return mapper
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    func start() {
        started.store(true, ordering: .relaxed)
        Thread { [self] in
            let events = try? self.mapper.withLock { try $0.connectionEvents() }
            let poller = Poller()
            if let events { _ = try? poller.add(events) }
            poller.add(fileDescriptor: self.wake.read)
            var launchedAt: ContinuousClock.Instant?
            var nextRefresh = ContinuousClock.now + self.refreshInterval
            while !self.stopping.load(ordering: .relaxed) {
                let left = nextRefresh - ContinuousClock.now
                // A poll that fails waits out the time anyway, so that the loop never spins.
                if left > .zero, (try? poller.poll(timeoutMilliseconds: Int((left / .milliseconds(1)).rounded(.up)))) == nil {
                    Thread.sleep(forTimeInterval: left / .seconds(1))
                }
                if self.stopping.load(ordering: .relaxed) { break }
                var taken = false
                while let event = events?.nextMonitorEvent() { taken = taken || event.kind == .connected }
                guard taken || ContinuousClock.now >= nextRefresh else { continue }
                nextRefresh = ContinuousClock.now + self.refreshInterval
                do {
                    if try !self.register() {
                        self.logger.error("the port mapper gave our name \(self.name) to another node")
                    }
                } catch {
                    self.logger.warning("port mapper refresh failed: \(error)")
                    if case .noAnswer? = error as? PortMapperClient.Failure { launchedAt = self.relaunch(after: launchedAt) }
                }
            }
            do {
                try self.request { try $0.unregister(name: self.name, incarnation: self.incarnation) }
            } catch {
                self.logger.info("could not unregister from the port mapper (\(error)); the name goes with the connection")
            }
            events?.close()  // before the connection's context ends
            self.finished.signal()
        }.start()
    }

    /// Starts a mapper in place of one that no longer answers, unless this node started one
    /// less than `launchedMapperWithin` ago (it may still be starting); answers when the last
    /// one was started. Every node of the host may do so at once: one mapper gets the port,
    /// the others end, and the next refresh registers with the one that runs.
    private func relaunch(after launchedAt: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        guard launchedAt.map({ now - $0 >= Self.launchedMapperWithin }) ?? true else { return launchedAt }
        do {
            return try launchMapper("the port mapper on port \(client.port) stopped answering", level: .notice)?.at ?? launchedAt
        } catch {
            logger.error("cannot start a port mapper: \(error)")
            return now
        }
    }

    /// Unregisters the name (on the refresh thread, which owns the connection) and waits a
    /// moment for it, off the Swift concurrency threads; the connection's close would end the
    /// registration anyway.
    func stop() async {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        guard started.load(ordering: .relaxed) else { return }  // no refresh loop to wait for
        let finished = self.finished
        await waitOffThePool { _ = finished.wait(timeout: .now() + .milliseconds(1_500)) }
    }
}
