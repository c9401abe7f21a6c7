import DequeModule
import Foundation
import Logging
import Processes
import Synchronization
import ZeroMQ

/// A node's sockets and the thread that serves them: the ROUTER inbox, a DEALER per peer this
/// node dialled, the PUB for heartbeats, the SUB that hears every peer's heartbeats (and,
/// through its monitor, sees a peer's process die at once), and the monitors of the DEALERs.
/// Work arrives through the `Outbox`; inbound messages leave through the process runtime.
///
/// Everything here is guarded by `lock`. The thread holds it while it works and lets go while
/// it waits, on the sockets' descriptors rather than on the sockets, so that a sending thread
/// can hand a packet to a connected peer's socket itself (`sendDirect`): the thread is woken
/// only for what it alone does.
final class TransportLoop: @unchecked Sendable {
    /// A peer this node dialled: its name and its link's sockets (`dealerLinks`).
    struct DealerLink {
        let name: NodeName
        let dealer: Socket
        let monitor: Socket
    }

    /// A peer whose handshake succeeded.
    struct Peer {
        enum Link {
            case dealer(Socket, monitor: Socket)
            case router(id: [UInt8])
        }

        let info: PeerInfo
        let link: Link
        var hidden: Bool
        /// This node's name and the peer's, which the strings read from its frames share
        /// (`WireReader.sharedStrings`); made once, not for every frame.
        var sharedNames: [String] = []
        /// The frame being filled this round, and frames ZeroMQ would not take yet.
        var batch: [UInt8] = []
        var backlog = Deque<[UInt8]>()
        var backlogBytes = 0
        /// Packets that ride with the next one to this peer (`sendLater`), framed as in a batch.
        var riders: [UInt8] = []
        /// A frame would have passed the backlog's bound: the peer is not reading. Nothing is
        /// queued after that, not even a frame small enough to fit later, which would arrive
        /// after the lost one as if nothing had been lost; the transport thread disconnects
        /// the peer at the end of its round (`disconnectOverflowed`).
        var overflowed = false
        /// The packet whose `part`s are coming in.
        var assembly = PartAssembly()

        /// Adds `packet` to this round's frame; the frame's size after.
        @discardableResult
        mutating func enqueue(_ packet: [UInt8]) -> Int {
            // A frame begun: one allocation for it, not one per growth.
            if batch.isEmpty { batch.reserveCapacity(riders.count + packet.count + Batch.maxLengthPrefix) }
            takeRiders()
            Batch.append(packet, to: &batch)
            return batch.count
        }

        /// Whether anything waits to go: a frame, a backlog or riders.
        var hasOutgoing: Bool { !batch.isEmpty || !backlog.isEmpty || !riders.isEmpty }

        /// Moves the riders into this round's frame, ahead of anything enqueued after them.
        mutating func takeRiders() {
            guard !riders.isEmpty else { return }
            batch.append(contentsOf: riders)
            riders.removeAll(keepingCapacity: true)
        }

        /// Moves this round's frame to the backlog, then hands ZeroMQ what it takes without
        /// blocking. False once the peer has `overflowed`: the frame would have passed `limit`
        /// bytes, now or before, and is dropped.
        mutating func flush(router: Socket, limit: Int) -> Bool {
            takeRiders()
            if !batch.isEmpty {
                if !overflowed && backlogBytes + batch.count <= limit {
                    backlogBytes += batch.count
                    backlog.append(batch)
                } else {
                    overflowed = true
                }
                batch = []
            }
            while let frame = backlog.first, send(frame, router: router) {
                backlog.removeFirst()
                backlogBytes -= frame.count
            }
            return !overflowed
        }

        /// Sends `packet` in a frame of its own, after the riders, when nothing else waits
        /// (`batch` and `backlog` empty): framed in `frame`, a buffer the caller keeps from one
        /// send to the next, and handed to ZeroMQ at once, without passing through `batch` and
        /// `backlog` (an allocation and a queue's push and pop a packet). What ZeroMQ will not
        /// take now waits in the backlog; false when that would pass `limit`, or the peer has
        /// `overflowed` before (it is dropped).
        mutating func sendAlone(_ packet: [UInt8], router: Socket, frame: inout [UInt8], limit: Int) -> Bool {
            guard !overflowed else { return false }
            frame.removeAll(keepingCapacity: true)
            if !riders.isEmpty {
                frame.append(contentsOf: riders)
                riders.removeAll(keepingCapacity: true)
            }
            Batch.append(packet, to: &frame)
            if send(frame, router: router) { return true }
            guard backlogBytes + frame.count <= limit else {
                overflowed = true
                return false
            }
            backlogBytes += frame.count
            backlog.append(frame)
            return true
        }

        /// Hands ZeroMQ one frame without blocking: false when it would block. A frame that
        /// fails otherwise counts as sent, and is lost with its connection.
        private func send(_ frame: [UInt8], router: Socket) -> Bool {
            switch link {
            case .dealer(let dealer, _):
                return (try? dealer.send(frame, dontWait: true)) ?? true
            case .router(let id):
                // The routing id and the frame as two sends, not `send([id, frame])`, which
                // makes an array of them each time; libzmq queues the two parts as one.
                do {
                    guard try router.send(id, more: true, dontWait: true) else { return false }
                    return try router.send(frame, dontWait: true)
                } catch {
                    return true
                }
            }
        }
    }

    /// A connection this node is dialling.
    struct Dialling {
        var handshake: InitiatorHandshake
        var dealer: Socket?
        var monitor: Socket?
        var waiters: [@Sendable (ConnectFailure?) -> Void] = []
        var queued: [[UInt8]] = []
        var queuedBytes = 0
        let deadline: Duration
        /// Lost a simultaneous connect: waiting for the peer's own connection to arrive.
        var parked = false
        /// ZeroMQ's handshake succeeded: with encryption, the peer holds the cookie's keys, so
        /// a close after it is not a different cookie (the peer died, or dropped us).
        var linkUp = false
        /// When the connection's TCP handshake was done: ZeroMQ closes one whose handshake got
        /// no answer for `LinkSecurity.handshakeMilliseconds`, and a peer without the cookie
        /// closes it at once.
        var connectedAt: Duration?

        /// Why the connection closed before the cookie handshake, as far as this side can tell.
        func closedBeforeLogin(now: Duration, encrypted: Bool) -> String {
            if linkUp { return "closed by the peer during the cookie handshake" }
            let handshakeTime = Duration.milliseconds(LinkSecurity.handshakeMilliseconds)
            // Two thirds: the events are read a round late at times, the connect's more often.
            if let connectedAt, now - connectedAt >= handshakeTime * 2 / 3 {
                return "closed: no answer to the handshake within \(handshakeTime) (a stopped or overloaded node?)"
            }
            return encrypted ? "closed during the encrypted handshake (a different cookie?)" : "closed"
        }

        /// Holds a packet until the connection is up; false when past `limit` bytes.
        mutating func hold(_ packet: [UInt8], limit: Int) -> Bool {
            guard queuedBytes + packet.count <= limit else { return false }
            queued.append(packet)
            queuedBytes += packet.count
            return true
        }
    }

    /// A connection being accepted, keyed by its ROUTER routing id: its descriptor (to forget
    /// it when its connection closes) and until when. How many there may be is bounded by
    /// `unloggedOnRouter`, which counts each connection from its acceptance.
    struct Accepting {
        let handshake: AcceptorHandshake
        let descriptor: Int32
        let deadline: Duration
    }

    /// The sockets a node listens with, bound before the loop starts.
    struct ListeningSockets {
        let router: Socket
        let publisher: Socket
        /// The ZAP handler's socket at `ZAPHandler.endpoint`.
        let zap: Socket
    }

    /// A visible peer lost without a goodbye: keep trying it, with back-off.
    struct Lost {
        var backoff: Duration
        var nextAttempt: Duration
    }

    /// Frames ZeroMQ may hold per peer and direction (see `ClusterNode.start`).
    static let frameHighWaterMark: Int32 = 1_000
    /// The largest heartbeat or farewell (a kind, an incarnation and a node name).
    static let maxPresenceFrameBytes = 4_096
    /// Sends to one peer closer together than this are batched by the transport thread.
    static let directSendSpacingNanoseconds: UInt64 = 20_000
    /// How many dropped inbox connections are remembered (`closedConnections`).
    static let maxClosedConnections = 64
    /// The most bytes of riders a peer holds (`sendLater`); past it, packets are sent as usual.
    static let maxRiderBytes = 4_096
    /// How many messages one round reads from a socket before it serves the others.
    static let readsPerRound = 10_000

    let node: ClusterNode
    let identity: LocalIdentity
    let settings: ClusterSettings
    let runtime: ProcessRuntime
    let logger: Logger
    let context: Context
    let security: LinkSecurity
    let router: Socket
    let routerMonitor: Socket
    let publisher: Socket
    let publisherMonitor: Socket
    let zap: Socket
    let subscriber: Socket
    let subscriberMonitor: Socket

    // The state below is guarded by `lock` (see the type's comment), so the run-time
    // exclusivity checks, one per access through a thread-local set, are left out, as in
    // `TimerThread`: they were about 3 % of the transport thread's user time.
    @exclusivity(unchecked) var peers: [NodeName: Peer] = [:]
    /// The sockets of the peers this node dialled (a `.dealer` link), kept beside `peers` by
    /// `peerUp` and `peerDown`: every round reads them, and walking `peers` for them copied
    /// each whole peer out (a retain and a release of each of its buffers and sockets), twice
    /// a round. A loop over it walks the list as it was when the loop began: a peer that goes
    /// down meanwhile (a goodbye read in the loop) has its sockets closed, so their reads fail
    /// and are skipped.
    @exclusivity(unchecked) var dealerLinks: [DealerLink] = []
    @exclusivity(unchecked) var routerIDs: [[UInt8]: NodeName] = [:]
    @exclusivity(unchecked) var dialling: [NodeName: Dialling] = [:]
    @exclusivity(unchecked) var accepting: [[UInt8]: Accepting] = [:]
    /// Whether peers may log in: not while the node readies itself (`ClusterNode.start`).
    /// Until then their connections are bounded as always, and their hellos held, by routing
    /// id, at most one per connection not logged in.
    @exclusivity(unchecked) var loginsOpen = false
    @exclusivity(unchecked) var heldHellos: [[UInt8]: (hello: Packet.Hello, descriptor: Int32)] = [:]
    /// Connections accepted that have not logged in, within their bounds: on the ROUTER (until
    /// the cookie handshake), and on the publisher (until ZeroMQ's handshake let them in).
    @exclusivity(unchecked) var unloggedOnRouter: UnloggedConnections<ConnectionEnds>
    @exclusivity(unchecked) var unloggedOnPublisher: UnloggedConnections<ConnectionEnds>
    @exclusivity(unchecked) var lost: [NodeName: Lost] = [:]
    @exclusivity(unchecked) var mesh: MeshRepair
    @exclusivity(unchecked) var cut: Set<NodeName> = []
    @exclusivity(unchecked) var detector: FailureDetector
    @exclusivity(unchecked) var running = true
    @exclusivity(unchecked) var pollerDirty = true
    let poller: DescriptorPoller
    @exclusivity(unchecked) var monitorSerial = 0
    /// When the loop was made (`monotonicNanoseconds`): its times count from here.
    let origin = monotonicNanoseconds()
    @exclusivity(unchecked) var nextHeartbeat: Duration = .zero
    @exclusivity(unchecked) var nextCheck: Duration = .zero
    /// Inbox connections this node dropped while their peer may still take them for up (it
    /// did not say goodbye: it stopped reading, froze past the tick time, or was disconnected
    /// with its queue full), by routing id, oldest first, at most `maxClosedConnections`. See
    /// `answerClosedConnection`; `told` once it was answered with a goodbye.
    @exclusivity(unchecked) var closedConnections: [(id: [UInt8], name: NodeName, told: Bool)] = []
    /// Peers that `overflowed` this round: disconnected at its end.
    @exclusivity(unchecked) private var overflowing: Set<NodeName> = []
    /// The frame `handToSocket` sends a packet in, kept for its buffer.
    @exclusivity(unchecked) private var directFrame: [UInt8] = []
    /// Packets that sending threads handed to a socket themselves (for tests and tuning).
    @exclusivity(unchecked) private(set) var sentDirect = 0
    /// Data frames read from established peers (for tests and tuning).
    @exclusivity(unchecked) private var framesReceived = 0
    /// Member lists heard from peers, at their joins and since (for tests: `MeshRepair`).
    @exclusivity(unchecked) var memberListsHeard = 0
    /// Frames that came on connections this node dropped (`closedConnections`; for tests).
    @exclusivity(unchecked) var closedConnectionFrames = 0
    /// When this round began: the time a peer was last heard from, read once a round rather
    /// than once a frame.
    @exclusivity(unchecked) private var roundStart = Duration.zero
    /// Rounds done, and how many of them swept (for tests: an idle loop waits in its poll).
    @exclusivity(unchecked) private var roundsDone = 0
    @exclusivity(unchecked) private var sweepsDone = 0
    /// A socket was left unread at `readsPerRound`, or must be looked at again: poll at once.
    @exclusivity(unchecked) private var unreadLeft = false
    /// Which sockets a round reads. A socket's descriptor (ZMQ_FD) signals when ZeroMQ has
    /// news for it, and any operation on the socket takes that signal in. So a round reads
    /// the sockets whose descriptors signalled, and those whose signal an operation may have
    /// taken (`mustRead`): a read that finds nothing costs two system calls (libzmq's poll
    /// and its fork check), which across every socket were most of a message's cost. A sweep
    /// reads every socket: after the poller changed, and every `sweepInterval` as a safety
    /// net.
    @exclusivity(unchecked) private var signalled: [Int32] = []
    @exclusivity(unchecked) private var sweeping = true
    @exclusivity(unchecked) private var descriptors: [ObjectIdentifier: Int32] = [:]
    @exclusivity(unchecked) private var mustRead: Set<ObjectIdentifier> = []
    /// Sockets this round sent on: sending may take in a signal too.
    @exclusivity(unchecked) private var touched: [ObjectIdentifier: Socket] = [:]
    @exclusivity(unchecked) private var nextSweep = Duration.zero
    /// At most the sweep interval: a socket left out of the poller is read at least this often.
    let pollWait: PollWait
    /// Times a sweep found mail on a socket that no signal had pointed to (for tests: zero
    /// when the signals are followed right).
    @exclusivity(unchecked) private var lateFinds = 0
    /// Guards everything above; see the type's comment.
    private let lock = Mutex(())
    /// The thread inside `lock` (pthread id), so that a send it makes while delivering goes
    /// through the outbox instead of taking the lock again.
    private let holder = Atomic<UInt>(0)
    /// The last packet a sending thread had: to whom (a hash) and when (`monotonicNanoseconds`).
    /// Only a hint for telling a stream: order is kept under `lock`.
    private let lastPeer = Atomic<Int>(0)
    private let lastSend = Atomic<UInt64>(0)
    /// Warnings about connections that have not logged in, at most one a minute each.
    var strangerWarnings = RateLimitedWarnings(interval: .seconds(60))

    init(node: ClusterNode, identity: LocalIdentity, context: Context, security: LinkSecurity, sockets: ListeningSockets) throws {
        self.node = node
        self.identity = identity
        self.settings = node.settings
        self.runtime = node.runtime
        self.logger = node.logger
        self.context = context
        self.security = security
        self.router = sockets.router
        self.publisher = sockets.publisher
        self.zap = sockets.zap
        // Accepted connections (to bound those not logged in), closed ones (to forget them and
        // their half-done handshakes) and CURVE handshakes that failed on a key (to log that
        // someone without the cookie knocked; not those that ended before any key was shown).
        try router.monitor(on: "inproc://router-monitor-\(identity.incarnation)",
                           events: [.accepted, .disconnected, .handshakeFailedProtocol, .handshakeFailedAuth])
        unloggedOnRouter = UnloggedConnections(perAddress: node.settings.maxHandshakesPerAddress, total: node.settings.maxHandshakes)
        // A subscriber's login is not heard of: the oldest is asked before it is cut.
        try publisher.monitor(on: "inproc://publisher-monitor-\(identity.incarnation)", events: [.accepted, .disconnected])
        publisherMonitor = try context.socket(.pair)
        try publisherMonitor.connect("inproc://publisher-monitor-\(identity.incarnation)")
        unloggedOnPublisher = UnloggedConnections(perAddress: node.settings.maxHandshakesPerAddress, total: node.settings.maxHandshakes)
        routerMonitor = try context.socket(.pair)
        try routerMonitor.connect("inproc://router-monitor-\(identity.incarnation)")
        subscriber = try context.socket(.sub)
        try subscriber.subscribe()
        try subscriber.setReceiveHighWaterMark(10_000)
        try security.connecting(subscriber, maxFrame: Self.maxPresenceFrameBytes)
        try subscriber.monitor(on: "inproc://subscriber-monitor-\(identity.incarnation)")
        subscriberMonitor = try context.socket(.pair)
        try subscriberMonitor.connect("inproc://subscriber-monitor-\(identity.incarnation)")
        detector = FailureDetector(tickTime: node.settings.tickTime)
        // As often as a lost peer is dialled at the slowest: a hole is mended as soon.
        mesh = MeshRepair(interval: node.settings.reconnectBackoff.upperBound, now: .zero)
        pollWait = PollWait(longestMilliseconds: max(1, Int(node.settings.sweepInterval / .milliseconds(1))))
        poller = try DescriptorPoller()
    }

    /// Time since the loop was made; a round reads it once. Through `ContinuousClock`, three
    /// readings a round (each a generic instant and 128-bit arithmetic) were about 7 % of the
    /// transport thread's user time in a round trip's profile.
    var now: Duration { .nanoseconds(Int64(bitPattern: monotonicNanoseconds() &- origin)) }

    // MARK: The loop

    func run() {
        var readEverything = true  // the first round reads every socket
        while running {
            // A process this round made ready runs here, before the wait: no other thread
            // is woken for the message that arrived.
            let timeout = runtime.scheduler.runningReady { locked { round(readEverything: readEverything) } }
            do {
                try poller.wait(timeoutMilliseconds: timeout)
                readEverything = false
            } catch {
                logger.error("transport poll: \(error)")
                readEverything = true
            }
        }
        locked { closeEverything() }
        // The process may exit as soon as the node has stopped, and with it ZeroMQ's I/O
        // thread: let the goodbyes leave first (the sockets' linger), waiting half a second at
        // most, so that peers do not take a graceful leave for a crash.
        let flushed = DispatchSemaphore(value: 0)
        Thread { [context] in
            context.terminate()
            flushed.signal()
        }.start()
        if flushed.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            logger.warning("transport: the last messages may not have left")
        }
    }

    /// One round of work under the lock: commands, everything inbound, this round's frames and
    /// the timers. Returns how long the poll that follows may wait, in milliseconds.
    private func round(readEverything: Bool) -> Int {
        let now = self.now
        do {
            let rebuilt = try rebuildPollerIfNeeded()
            roundStart = now
            if readEverything {
                signalled.removeAll(keepingCapacity: true)
            } else {
                poller.readableDescriptors(into: &signalled)
            }
            sweeping = rebuilt || readEverything || now >= nextSweep
            roundsDone += 1
            if sweeping {
                nextSweep = now + settings.sweepInterval
                sweepsDone += 1
            }
            // The wake pipe is emptied only when it woke the poll: no system call otherwise.
            let woken = sweeping || signalled.contains(node.outbox.wakeDescriptor)
            for command in node.outbox.take(drainingWake: woken) { handle(command) }
            unreadLeft = false
            // After this node's goodbyes, what its peers still had in flight comes from
            // connections it has forgotten: read, it would be warned about as strangers'.
            guard running else { return 0 }
            drainInbound()
            flushBatches()
            disconnectOverflowed()
            timers(now: now)
            // Sending may take in the I/O thread's signals, so the descriptors may not tell
            // of what came meanwhile: look at the sockets sent on before waiting.
            if lookAgainAtTouchedSockets() { unreadLeft = true }
        } catch {
            logger.error("transport loop: \(error)")
        }
        // A socket this round made (a dial, a new peer's link) is not in the poller yet: its
        // first messages would wait for the next sweep, a sweep interval (a `todo` command
        // took 120 ms, most of it this wait in the handshake). The next round puts it in.
        if !running || unreadLeft || pollerDirty { return 0 }
        return pollWait.milliseconds(untilDue: nextTimer - now)
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.withLock { _ in
            holder.store(Self.currentThread, ordering: .relaxed)
            defer { holder.store(0, ordering: .relaxed) }
            return body()
        }
    }

    /// How many packets sending threads handed to sockets themselves.
    var directSends: Int { lock.withLock { _ in sentDirect } }

    /// How many data frames came from established peers.
    var receivedFrames: Int { lock.withLock { _ in framesReceived } }

    /// How many member lists peers have sent this node.
    var memberListsReceived: Int { lock.withLock { _ in memberListsHeard } }

    /// How many frames came on connections this node had dropped.
    var framesOnDroppedConnections: Int { lock.withLock { _ in closedConnectionFrames } }

    /// How many rounds the loop has done, and how many of them were sweeps.
    var roundCounts: (rounds: Int, sweeps: Int) { lock.withLock { _ in (roundsDone, sweepsDone) } }

    /// How many times a sweep found mail that no signal had pointed to.
    var sweptMail: Int { lock.withLock { _ in lateFinds } }

    /// Stops the loop as a frozen process's would stop (for tests of a peer that stops
    /// reading): a thread of its own takes the lock and keeps it until the answer is called,
    /// so the loop reads, sends and ticks nothing meanwhile; ZeroMQ's I/O thread still fills
    /// the sockets' queues, up to their high-water marks, as the kernel would.
    func freeze() -> @Sendable () -> Void {
        let taken = DispatchSemaphore(value: 0)
        let thawed = DispatchSemaphore(value: 0)
        Thread { [self] in
            lock.withLock { _ in
                taken.signal()
                thawed.wait()
            }
        }.start()
        taken.wait()
        return { thawed.signal() }
    }

    private static var currentThread: UInt { UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) }

    /// Hands `packet` to a connected peer's socket from the calling thread, in order after
    /// everything sent before it; false when the transport thread must do it: the peer is not
    /// connected, commands or frames are waiting, the caller is the transport thread in its
    /// round (a send made while delivering), or the thread is at work (a sender does not wait
    /// for it). The processes that thread runs after its round send here. Packets to one peer
    /// closer together than `directSendSpacingNanoseconds` are a stream, which the thread sends
    /// batched.
    func sendDirect(_ packet: [UInt8], to name: NodeName) -> Bool {
        if holder.load(ordering: .relaxed) == Self.currentThread { return false }
        // FNV-1a over the name's UTF-8 in place, not `hashValue` (SipHash): 6 % of a streaming
        // sender's CPU in `todo-bench throughput-profile`. (Over `utf8`, byte by byte through
        // the view, it cost as much.)
        let peerKey = name.description.withUTF8Bytes { Int(truncatingIfNeeded: FNV1a.hash($0)) }
        let now = monotonicNanoseconds()
        let previous = lastSend.exchange(now, ordering: .relaxed)
        if lastPeer.exchange(peerKey, ordering: .relaxed) == peerKey, now &- previous < Self.directSendSpacingNanoseconds {
            return false
        }
        return withPeerForSender(name) { index in handToSocket(packet, peer: &peers.values[index], name: name) }
    }

    /// `sendDirect` under the lock, on the peer in place: each look at it through the
    /// dictionary's values would copy the whole peer out, and release it after.
    private func handToSocket(_ packet: [UInt8], peer: inout Peer, name: NodeName) -> Bool {
        guard peer.batch.isEmpty, peer.backlog.isEmpty, !peer.overflowed, packet.count <= Packet.maxWholeBytes else { return false }
        // Not `flush(at:)`: the socket is looked at right below, not at the round's end.
        if !peer.sendAlone(packet, router: router, frame: &directFrame, limit: settings.maxPendingBytesPerPeer) {
            overflowing.insert(name)
            node.outbox.wake()  // the thread disconnects it
        }
        sentDirect += 1
        // The send may have taken in the I/O thread's signals, which the transport thread
        // waits on: if the socket now has mail, or frames are left over, it must look.
        if needsLook(at: socket(of: peer), hasBacklog: { !peer.backlog.isEmpty }) { node.outbox.wake() }
        return true
    }

    /// Leaves `packet` with a connected peer to ride in the frame of the next packet to it, in
    /// order after everything sent before it, without a send or a wake of its own: for a
    /// signal nobody waits on now (a demonitor), or one a packet sent right after carries (a
    /// call's monitor, with the call). It leaves at the latest with the transport thread's
    /// next round. False when it must be sent as usual: as for `sendDirect`, or when riders
    /// already hold `maxRiderBytes`.
    func sendLater(_ packet: [UInt8], to name: NodeName) -> Bool {
        if holder.load(ordering: .relaxed) == Self.currentThread { return false }
        return withPeerForSender(name) { index in
            guard withPeer(at: index, { $0.riders.count }) + packet.count <= Self.maxRiderBytes else { return false }
            Batch.append(packet, to: &peers.values[index].riders)
            return true
        }
    }

    /// What a sending thread may do with a peer itself (`sendDirect`, `sendLater`): `body`
    /// runs under the lock when the lock is free (a sender does not wait for the transport
    /// thread), the node runs, the peer is connected and not cut, and no command waits (it
    /// would go first). False when any of that fails, or `body` says so.
    private func withPeerForSender(_ name: NodeName, _ body: (Dictionary<NodeName, Peer>.Index) -> Bool) -> Bool {
        let done = lock.withLockIfAvailable { _ -> Bool in
            guard running, cut.isEmpty || !cut.contains(name), let index = peers.index(forKey: name), !node.outbox.hasWork
            else { return false }
            return body(index)
        }
        return done ?? false
    }

    /// Whether the transport thread must look at `socket` before it waits on descriptors
    /// again: it has mail (then it is marked to be read), or room while frames wait for it.
    /// Asked after sending on it, which may have taken in the I/O thread's signals.
    private func needsLook(at socket: Socket, hasBacklog: () -> Bool) -> Bool {
        guard !socket.isClosed else { return false }  // a peer that went meanwhile
        guard let events = try? socket.events() else { return true }
        if events.contains(.readable) {
            mustRead.insert(ObjectIdentifier(socket))
            return true
        }
        return events.contains(.writable) && hasBacklog()
    }

    private func socket(of peer: Peer) -> Socket {
        switch peer.link {
        case .dealer(let dealer, _): dealer
        case .router: router
        }
    }

    /// The end of a round: whether a socket the round sent on needs another look.
    private func lookAgainAtTouchedSockets() -> Bool {
        defer { touched.removeAll(keepingCapacity: true) }
        var again = false
        for socket in touched.values {
            // Every socket is asked (not `contains`): each may need marking to be read.
            if needsLook(at: socket, hasBacklog: { hasBacklog(on: socket) }) { again = true }
        }
        return again
    }

    /// Whether a peer reached through `socket` has frames ZeroMQ would not take yet.
    private func hasBacklog(on socket: Socket) -> Bool {
        peers.values.contains { !$0.backlog.isEmpty && self.socket(of: $0) === socket }
    }

    private enum Reading { case skip, told, sweep }

    /// Whether this round reads `socket`, and why.
    private func reading(_ socket: Socket) -> Reading {
        let id = ObjectIdentifier(socket)
        if !mustRead.isEmpty, mustRead.remove(id) != nil { return .told }
        guard let descriptor = descriptors[id] else { return .told }  // not polled: always read
        if signalled.contains(descriptor) { return .told }
        return sweeping ? .sweep : .skip
    }

    /// A socket sent on this round (`lookAgainAtTouchedSockets`).
    func touch(_ socket: Socket) { touched[ObjectIdentifier(socket)] = socket }

    /// The poll waits on descriptors (ZMQ_FD), which signal changes, not states: a round
    /// reads a signalled socket until it is empty, which also takes in its signals (see
    /// `signalled`). Gives whether it was rebuilt (then the round is a sweep).
    private func rebuildPollerIfNeeded() throws -> Bool {
        guard pollerDirty else { return false }
        // Not tried again at once when it fails: a socket left out is read every round (see
        // `reading`), and the wait lasts a sweep interval at most.
        pollerDirty = false
        try poller.removeAll()
        descriptors.removeAll(keepingCapacity: true)
        try poller.add(node.outbox.wakeDescriptor)
        var sockets = [router, routerMonitor, publisherMonitor, zap, subscriber, subscriberMonitor]
        for attempt in dialling.values {
            if let dealer = attempt.dealer { sockets.append(dealer) }
            if let monitor = attempt.monitor { sockets.append(monitor) }
        }
        for link in dealerLinks { sockets += [link.dealer, link.monitor] }
        for socket in sockets {
            let descriptor = try socket.fileDescriptor()
            try poller.add(descriptor)
            descriptors[ObjectIdentifier(socket)] = descriptor
        }
        return true
    }

    /// Reads everything waiting on every socket, without blocking (at most `readsPerRound`
    /// messages a socket: `unreadLeft` says some were left).
    private func drainInbound() {
        let routerReading = reading(router)
        if routerReading != .skip {
            var reads = 0
            // Where a message came from matters only before its connection has logged in.
            // The routing id is looked up once, here, for both questions.
            var sender: NodeName?
            while let message = try? router.receiveMessageWithOrigin(
                dontWait: true, when: { id in sender = routerIDs[id]; return sender == nil }
            ) {
                receiveFromRouter(message, sender: sender)
                sender = nil  // a one-frame message is not asked about
                reads += 1
                if reads == Self.readsPerRound { leftUnread(router); break }
            }
            if routerReading == .sweep, reads > 0 { lateFinds += 1 }
        }
        if reading(zap) != .skip { answerZAP() }
        for (name, attempt) in dialling {
            guard let dealer = attempt.dealer else { continue }
            while let frames = try? dealer.receiveMessage(dontWait: true) {
                for frame in frames { receiveWhileDialling(name, frame: frame) }
                if dialling[name] == nil { break }
            }
        }
        for link in dealerLinks {
            let dealerReading = reading(link.dealer)
            guard dealerReading != .skip else { continue }
            if drainDealer(link.name, link.dealer) > 0, dealerReading == .sweep { lateFinds += 1 }
        }
        if reading(subscriber) != .skip { drainSubscriber() }
        drainMonitors()
    }

    /// A socket left with mail at `readsPerRound`: its descriptor will not signal again.
    private func leftUnread(_ socket: Socket) {
        unreadLeft = true
        mustRead.insert(ObjectIdentifier(socket))
    }

    private func timers(now: Duration) {
        if now >= nextHeartbeat {
            nextHeartbeat = now + detector.heartbeatInterval
            publish(Self.heartbeat)
        }
        if now >= nextCheck {
            nextCheck = now + detector.checkInterval
            for silent in detector.expired(now: now) where peers[silent] != nil {
                logger.warning("node \(silent) not responding: no sign of life for \(settings.tickTime); removing the connection")
                peerDown(silent, reason: .netTickTimeout, reconnect: true)
            }
            accepting = accepting.filter { $0.value.deadline > now }
            if let (count, what) = strangerWarnings.due(now: now) {
                logger.warning("\(what): \(count) more since the last warning")
            }
        }
        // Every round, not at the failure detector's checks (a tick time / 8 apart: 1.9 s by
        // default), which held a lost peer's next dial, due after 200 ms, until the next check
        // (7.4 s in a test with a 60 s tick), an attempt past its deadline as long, and a
        // connection that had not logged in past its accept timeout.
        for _ in unloggedOnRouter.cutExpired(before: now - settings.acceptTimeout) {
            warnAboutStrangers("a connection did not log in within \(settings.acceptTimeout); closed it")
        }
        for (name, attempt) in dialling where attempt.deadline <= now {
            failDialling(name, reason: "no answer within \(settings.connectTimeout)")
        }
        if mesh.announcementDue(now: now) { announceMembers() }
        for (name, state) in lost where state.nextAttempt <= now {
            if peers[name] != nil || dialling[name] != nil { continue }
            lost[name]?.nextAttempt = now + state.backoff
            lost[name]?.backoff = min(state.backoff * 2, settings.reconnectBackoff.upperBound)
            startDialling(name, waiter: nil)
        }
    }

    /// When the timers next need a round: a heartbeat, a check, the expiry of the oldest
    /// connection not logged in, the mesh's next announcement, or the next dial of a lost peer
    /// that is neither back nor being dialled (one that is waits for its attempt's end, which
    /// a round sees anyway).
    private var nextTimer: Duration {
        let expiry = unloggedOnRouter.oldestSince.map { $0 + settings.acceptTimeout } ?? nextCheck
        return lost.reduce(min(nextHeartbeat, nextCheck, expiry, mesh.nextAnnouncement)) { next, peer in
            peers[peer.key] != nil || dialling[peer.key] != nil ? next : min(next, peer.value.nextAttempt)
        }
    }

    // MARK: Commands

    private func handle(_ command: Command) {
        switch command {
        case .connect(let name, let waiter):
            if peers[name] != nil || name == identity.node {
                waiter(nil)
            } else {
                startDialling(name, waiter: waiter)
            }
        case .lookedUp(let name, let port):
            lookedUp(name, port)
        case .send(let name, let packet):
            send(packet, to: name)
        case .disconnect(let name, let waiter):
            guard peers[name] != nil else { return waiter(false) }
            sendNow(Batch.encode(.goodbye(.disconnect)), to: name)
            peerDown(name, reason: .disconnect, reconnect: false)
            lost.removeValue(forKey: name)
            mesh.part(name)
            waiter(true)
        case .countHandshakes(let answer):
            answer(unloggedOnRouter.unlogged.count)
        case .openLogins:
            openLogins()
        case .cut(let name):
            cut.insert(name)
        case .restore(let name):
            cut.remove(name)
        case .shutdown(let done):
            // Over a copy of the names: `sendNow` changes the peers, which would copy the whole
            // dictionary held by an iteration over its keys.
            for name in Array(peers.keys) { sendNow(Batch.encode(.goodbye(.shutdown)), to: name) }
            // Also on the heartbeat stream, which peers hear closing: on one connection the
            // farewell arrives first, so no peer takes the close for a crash and keeps dialling.
            publish(Self.farewell)
            for name in Array(peers.keys) { peerDown(name, reason: .shutdown, reconnect: false) }
            for name in Array(dialling.keys) { failDialling(name, reason: "node shutting down") }
            running = false
            done()
        }
    }

    /// Queues an encoded packet for `name`: into this round's frame when connected, held while
    /// dialling, or dialling first (Erlang connects on first send).
    private func send(_ packet: [UInt8], to name: NodeName) {
        if !cut.isEmpty, cut.contains(name) { return }
        if let index = peers.index(forKey: name) {
            // Through the index: `peers[name]?` would hash again and copy the peer out.
            enqueue(packet, at: index)
            return
        }
        if dialling[name] == nil { startDialling(name, waiter: nil) }
        if dialling[name]?.hold(packet, limit: settings.maxPendingBytesPerPeer) == false {
            // As a connection that overflows (`disconnectOverflowed`): what was held is lost
            // with the attempt, never a packet from the middle of it.
            failDialling(name, reason: "more than \(Self.mebibytes(settings.maxPendingBytesPerPeer)) queued for it while connecting")
        }
    }

    /// Disconnects the peers whose outgoing queue passed its bound this round. Dropping the
    /// frame and carrying on, as this did before, left a gap in the middle of the peer's
    /// stream that nothing told of: a lost exit signal, link or reply, and everything after it
    /// delivered. Erlang loses a message only with its connection, and so does this: the
    /// peer's links and monitors fire with `noconnection` now, and it is dialled again (as a
    /// peer lost without a goodbye, which could not be queued), so that the peer, seeing this
    /// node connect again, drops its side of the old connection and fires its own (`peerUp`).
    private func disconnectOverflowed() {
        guard !overflowing.isEmpty else { return }
        for name in overflowing where peers[name]?.overflowed == true {
            logger.warning("""
                \(name) is not reading: more than \(Self.mebibytes(settings.maxPendingBytesPerPeer)) queued for it; \
                disconnecting (links and monitors across the connection fire with noconnection)
                """)
            peerDown(name, reason: .disconnect, reconnect: true)
        }
        overflowing.removeAll(keepingCapacity: true)
    }

    private static func mebibytes(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }

    /// Adds `packet` to the frame of the peer at `index`, in `part`s when it is too big to go
    /// whole, and hands the frame to ZeroMQ each time it holds a batch.
    func enqueue(_ packet: [UInt8], at index: Dictionary<NodeName, Peer>.Index) {
        guard packet.count > Packet.maxWholeBytes else { return add(packet, at: index) }
        for part in Packet.parts(of: packet) { add(part, at: index) }
    }

    private func add(_ packet: [UInt8], at index: Dictionary<NodeName, Peer>.Index) {
        if withPeer(at: index, { $0.enqueue(packet) }) >= Batch.flushBytes { flush(at: index) }
    }

    /// `enqueue` for a connected peer named `name`.
    func enqueue(_ packet: [UInt8], for name: NodeName) {
        if let index = peers.index(forKey: name) { enqueue(packet, at: index) }
    }

    /// Sends one packet now, after what is queued (handshake and goodbye packets).
    func sendNow(_ packet: [UInt8], to name: NodeName) {
        guard let index = peers.index(forKey: name), !cut.contains(name) else { return }
        enqueue(packet, at: index)
        flush(at: index)
    }

    /// Every round sends what is waiting, riders too: a rider waits at most for the next round
    /// (the poll waits a sweep interval at most), not for a packet that may never come.
    private func flushBatches() {
        // Index by index rather than over `peers.indices`, which holds the dictionary's
        // storage: flushing a peer in place then copied the whole dictionary, every round
        // that sent anything (about 1.5 % of the thread in `todo-bench roundtrip-profile`).
        var index = peers.startIndex
        while index != peers.endIndex {
            if withPeer(at: index, { $0.hasOutgoing }) { flush(at: index) }
            index = peers.index(after: index)
        }
    }

    /// `body` on the peer at `index`, in place: read as a value, `peers.values[index]` copies
    /// the whole peer out (a retain of each of its buffers and sockets) and releases it after,
    /// which was about a quarter of a streaming sender's transport thread in
    /// `todo-bench throughput-profile`.
    private func withPeer<T>(at index: Dictionary<NodeName, Peer>.Index, _ body: (inout Peer) -> T) -> T {
        body(&peers.values[index])
    }

    /// Hands the peer's frames to ZeroMQ without blocking; what it will not take waits in the
    /// peer's bounded backlog (past the bound, the peer is disconnected at the round's end).
    func flush(_ name: NodeName) {
        if let index = peers.index(forKey: name) { flush(at: index) }
    }

    private func flush(at index: Dictionary<NodeName, Peer>.Index) {
        touch(withPeer(at: index) { socket(of: $0) })
        if !peers.values[index].flush(router: router, limit: settings.maxPendingBytesPerPeer) { overflowing.insert(peers.keys[index]) }
    }

    // MARK: Inbound

    /// A message on the ROUTER; `sender` is the node its routing id belongs to, if logged in.
    private func receiveFromRouter(_ message: Socket.Received, sender: NodeName?) {
        guard message.frames.count == 2 else {
            return warnAboutStrangers("dropped a ROUTER message of \(message.frames.count) frames")
        }
        if let sender {
            receiveData(from: sender, frame: message.frames[1])
            return
        }
        if answerClosedConnection(message.frames[0]) { return }
        receiveUnauthenticated(id: message.frames[0], frame: message.frames[1], descriptor: message.descriptor)
    }

    /// Data from an established peer: every packet of the frame, in order.
    func receiveData(from name: NodeName, frame: [UInt8]) {
        if !cut.isEmpty, cut.contains(name) { return }
        framesReceived += 1
        detector.heard(name, now: roundStart)
        let error = Batch.walk(frame, sharedNames: peers[name]?.sharedNames ?? [],
                               message: { pid, payload in deliverMessage(to: pid, reading: &payload, from: name) },
                               other: { packet in
                                   deliver(packet, from: name)
                                   return peers.index(forKey: name) != nil  // gone after a goodbye
                               })
        if let error { logger.warning("dropped the rest of a bad frame from \(name): \(error)") }
    }

    static let heartbeat = UInt8(ascii: "H")
    static let farewell = UInt8(ascii: "G")

    /// A heartbeat or a farewell on the publisher: the kind, this node's incarnation and name.
    private func publish(_ kind: UInt8) {
        var writer = WireWriter()
        writer.write(kind)
        writer.writeVarint(identity.incarnation)
        writer.writeString(identity.node.description)
        _ = try? publisher.send(writer.bytes, dontWait: true)
    }

    /// Reads what a connected peer's DEALER holds; gives how many messages.
    @discardableResult
    private func drainDealer(_ name: NodeName, _ dealer: Socket) -> Int {
        var reads = 0
        // Frame by frame: a peer's messages have one each, and a frame of a longer one is data all the same.
        while let frame = try? dealer.receive(dontWait: true) {
            receiveData(from: name, frame: frame)
            reads += 1
            if peers.index(forKey: name) == nil { break }
            if reads == Self.readsPerRound { leftUnread(dealer); break }
        }
        return reads
    }

    private func drainSubscriber() {
        while let frames = try? subscriber.receiveMessage(dontWait: true) {
            for frame in frames { receivePresence(frame) }
        }
    }

    private func receivePresence(_ frame: [UInt8]) {
        var reader = WireReader(frame)
        guard let kind = try? reader.read(), kind == Self.heartbeat || kind == Self.farewell,
              let incarnation = try? reader.readVarint(),
              let text = try? reader.readString(),
              let name = try? NodeName(parsing: text, defaultHost: "-"),
              let peer = peers[name], peer.info.incarnation == incarnation, !cut.contains(name)
        else { return }
        if kind == Self.farewell {
            logger.info("node \(name) said goodbye (on its heartbeat stream)")
            peerDown(name, reason: .connectionClosed, reconnect: false, farewell: .onTheHeartbeatStream)
        } else {
            detector.heard(name, now: roundStart)
        }
    }

    private func drainMonitors() {
        if reading(routerMonitor) != .skip { drainRouterMonitor() }
        if reading(publisherMonitor) != .skip { drainPublisherMonitor() }
        let subscriberMonitorReading = reading(subscriberMonitor)
        while subscriberMonitorReading != .skip, let event = subscriberMonitor.nextMonitorEvent() {
            guard event.kind == .disconnected else { continue }
            drainSubscriber()  // a farewell read off the connection before it closed is here by now
            if let (name, _) = peers.first(where: { $0.value.info.publishEndpoint == event.endpoint }), !cut.contains(name) {
                logger.info("node \(name) closed its connection")
                peerDown(name, reason: .connectionClosed, reconnect: true)
            }
        }
        for link in dealerLinks where reading(link.monitor) != .skip {
            let name = link.name
            while let event = link.monitor.nextMonitorEvent() {
                guard event.kind == .disconnected, peers[name] != nil, !cut.contains(name) else { continue }
                drainDealer(name, link.dealer)  // a goodbye read off the connection before it closed is here by now
                guard peers[name] != nil else { break }
                logger.info("node \(name) closed its connection")
                peerDown(name, reason: .connectionClosed, reconnect: true)
            }
        }
        for (name, attempt) in dialling {
            guard let monitor = attempt.monitor else { continue }
            while let event = monitor.nextMonitorEvent() {
                if event.kind == .connected { dialling[name]?.connectedAt = now }
                if event.kind == .handshakeSucceeded { dialling[name]?.linkUp = true }
                if event.kind == .connectRetried || event.kind == .disconnected, let attempt = dialling[name] {
                    let closed = attempt.closedBeforeLogin(now: now, encrypted: security.keys != nil)
                    failDialling(name, reason: "connection \(event.kind == .connectRetried ? "refused" : closed)")
                }
            }
        }
    }

    /// Accepted connections are counted until they log in, and the oldest cut past a bound;
    /// closed inbox connections forget their half-done handshakes; CURVE handshakes that
    /// failed on a key are strangers knocking. Read before a hello too: libzmq reports a
    /// close before it frees the descriptor, so this keeps a new connection on a reused
    /// descriptor from being forgotten for the old one.
    func drainRouterMonitor() {
        while let event = routerMonitor.nextMonitorEvent() {
            let descriptor = event.descriptor
            switch event.kind {
            case .accepted:
                warnAboutCuts(unloggedOnRouter.acceptCutting(descriptor, at: now), on: "cluster port")
            case .disconnected:
                unloggedOnRouter.closed(descriptor)
                accepting = accepting.filter { $0.value.descriptor != descriptor }
                if !heldHellos.isEmpty { heldHellos = heldHellos.filter { $0.value.descriptor != descriptor } }
            case .handshakeFailedProtocol, .handshakeFailedAuth:
                warnAboutStrangers("Connection attempt rejected: the peer does not share our cookie (encrypted handshake failed)")
            // `.handshakeFailedNoDetail` is not asked for: libzmq reports it for a connection that
            // closed or stayed silent before it showed any key (a port scan), which says nothing
            // of a cookie. A silent one is logged if the accept timeout's check closes it, and not
            // if libzmq's handshake timer, as long, comes first: a stranger costs a line at most.
            default: break
            }
        }
    }

    /// Subscribers are counted from their acceptance; the oldest is cut past a bound, unless
    /// it has sent more than a stranger can (then it was let in, and is forgotten).
    func drainPublisherMonitor() {
        while let event = publisherMonitor.nextMonitorEvent() {
            let descriptor = event.descriptor
            switch event.kind {
            case .accepted:
                let admitted = security.bytesBeforeAdmission
                let cuts = unloggedOnPublisher.acceptCutting(descriptor, at: now) { $0.ends.hasSent(moreThan: admitted, on: $0.descriptor) }
                warnAboutCuts(cuts, on: "heartbeat port")
            case .disconnected:
                unloggedOnPublisher.closed(descriptor)
            default: break
            }
        }
    }

    private func warnAboutCuts(_ cuts: [UnloggedConnections<ConnectionEnds>.Connection], on port: String) {
        for connection in cuts {
            warnAboutStrangers("too many connections to the \(port) that have not logged in, from \(connection.address) or in all; closed the oldest")
        }
    }

    // MARK: Sockets

    /// A DEALER to `endpoint` with a monitor; its routing id names this node and connection.
    func makeDealer(to endpoint: String) throws -> (Socket, Socket) {
        monitorSerial += 1
        let dealer = try context.socket(.dealer)
        // Random, so that nobody can predict it (and the ROUTER refuses a second connection
        // with an id in use: see `setRouterHandover(false)`).
        var generator = SystemRandomNumberGenerator()
        try dealer.setRoutingID((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try security.connecting(dealer, maxFrame: Packet.maxFrameBytes)
        try dealer.setSendHighWaterMark(Self.frameHighWaterMark)
        try dealer.setReceiveHighWaterMark(Self.frameHighWaterMark)
        try dealer.setReconnectInterval(milliseconds: 100)
        let monitorEndpoint = "inproc://dealer-monitor-\(identity.incarnation)-\(monitorSerial)"
        try dealer.monitor(on: monitorEndpoint)
        let monitor = try context.socket(.pair)
        try monitor.connect(monitorEndpoint)
        try dealer.connect(endpoint)
        return (dealer, monitor)
    }

    /// Stops the monitor before closing: libzmq's I/O thread sends monitor events with a
    /// blocking send, so a monitored socket that outlives its event reader (its close is
    /// asynchronous, and a dead peer's reconnects keep making events) can hang that thread,
    /// and with it every socket of the node.
    func closeDealer(_ dealer: Socket?, monitor: Socket?) {
        try? dealer?.stopMonitor()
        dealer?.close()
        monitor?.close()
    }

    private func closeEverything() {
        for attempt in dialling.values {
            closeDealer(attempt.dealer, monitor: attempt.monitor)
        }
        for link in dealerLinks { closeDealer(link.dealer, monitor: link.monitor) }
        // Goodbyes and the farewell were queued just before: give them a moment to leave.
        try? router.stopMonitor()
        try? router.setLinger(milliseconds: 200)
        router.close()
        routerMonitor.close()
        zap.close()
        try? publisher.stopMonitor()
        try? publisher.setLinger(milliseconds: 200)
        publisher.close()
        publisherMonitor.close()
        try? subscriber.stopMonitor()
        subscriber.close()
        subscriberMonitor.close()
    }
}

/// The monotonic clock in nanoseconds: the loop's time (`now`) and the stream hint on every
/// send. `ContinuousClock`'s `Duration` arithmetic (128-bit attoseconds) cost more than the
/// reading itself.
private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
