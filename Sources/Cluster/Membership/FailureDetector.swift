/// Decides which peers have gone silent. Pure: it is told what was heard and what time it is
/// (a monotonic instant as a `Duration` since any origin), and never reads a clock itself.
///
/// A peer is declared down once nothing has been heard from it for `tickTime`. Peers send a
/// heartbeat every `tickTime / 4` and the owner checks every `tickTime / 8`, so a peer that
/// freezes is declared down between 0.75 and 1.125 tick times after its last sign of life.
/// A peer may have a tick time of its own (a `todo` client has the default, its node may
/// have 2 s): heartbeats go as often as the shortest tick time of this node and its peers asks.
///
/// Time this node itself did not run (stopped with `SIGSTOP`, its thread starved of CPU) is
/// nobody's silence: it read nothing then, and what its peers sent meanwhile waits in its
/// sockets. (A machine's suspend does not count already: the clock is `CLOCK_MONOTONIC`.) A
/// check that comes long after the one before leaves that gap out, as Erlang's count of ticks
/// does, rather than drop every peer as the node wakes.
public struct FailureDetector: Sendable {
    public let tickTime: Duration
    private var lastHeard: [NodeName: Duration] = [:]
    private var lastCheck: Duration?
    /// The tick times of watched peers shorter than this node's.
    private var shorterTicks: [NodeName: Duration] = [:]

    public init(tickTime: Duration) {
        self.tickTime = tickTime
    }

    public var heartbeatInterval: Duration { (shorterTicks.values.min() ?? tickTime) / 4 }
    public var checkInterval: Duration { tickTime / 8 }
    public var watched: Set<NodeName> { Set(lastHeard.keys) }

    /// Starts watching `peer`, as if just heard; `tickTime` is the peer's own, which this
    /// node's heartbeats must keep up with.
    public mutating func watch(_ peer: NodeName, now: Duration, tickTime peerTick: Duration? = nil) {
        lastHeard[peer] = now
        if let peerTick, peerTick < tickTime { shorterTicks[peer] = peerTick }
    }

    /// Anything from `peer` (a heartbeat or any message) counts as a sign of life.
    public mutating func heard(_ peer: NodeName, now: Duration) {
        if let index = lastHeard.index(forKey: peer) { lastHeard.values[index] = now }
    }

    public mutating func forget(_ peer: NodeName) {
        lastHeard.removeValue(forKey: peer)
        shorterTicks.removeValue(forKey: peer)
    }

    /// The peers silent for the tick time; they are no longer watched.
    public mutating func expired(now: Duration) -> [NodeName] {
        if let lastCheck, now - lastCheck > checkInterval * 2 {
            // Paused: only one check interval of the gap counts against the peers (and a peer
            // heard since the node woke stays heard now, not later).
            let paused = now - lastCheck - checkInterval
            for index in lastHeard.indices { lastHeard.values[index] = min(lastHeard.values[index] + paused, now) }
        }
        lastCheck = now
        let silent = lastHeard.filter { now - $0.value >= tickTime }.map(\.key).sorted()
        for peer in silent { forget(peer) }
        return silent
    }
}
