import Processes

/// The links and monitors between local processes and processes of each peer, so that losing
/// a peer can fire them with `noconnection` (Erlang's rule).
struct RemoteBook: Sendable {
    struct LinkPair: Hashable, Sendable {
        let local: Pid
        let remote: Pid
    }

    struct WatchedRemote: Sendable {
        let watcher: Pid
        let target: Pid
    }

    /// What losing a peer must fire.
    struct Lost: Sendable {
        var links: [LinkPair] = []
        var monitorsOfRemote: [(Ref, WatchedRemote)] = []
        var monitorsByRemote: [(Ref, Pid)] = []
    }

    private var links: [NodeName: Set<LinkPair>] = [:]
    /// Local watchers of processes on a peer.
    private var monitorsOfRemote: [NodeName: [Ref: WatchedRemote]] = [:]
    /// Watchers on a peer of local processes: the ref and the local target.
    private var monitorsByRemote: [NodeName: [Ref: Pid]] = [:]

    mutating func addLink(_ pair: LinkPair, peer: NodeName) { links[peer, default: []].insert(pair) }
    mutating func removeLink(_ pair: LinkPair, peer: NodeName) { links[peer]?.remove(pair) }

    mutating func addMonitorOfRemote(_ ref: Ref, _ watched: WatchedRemote, peer: NodeName) {
        monitorsOfRemote[peer, default: [:]][ref] = watched
    }

    /// Whether the monitor was on record: a `Down` for one that is not (demonitored, or fired
    /// already) is not delivered.
    @discardableResult
    mutating func removeMonitorOfRemote(_ ref: Ref, peer: NodeName) -> Bool {
        monitorsOfRemote[peer]?.removeValue(forKey: ref) != nil
    }

    /// Names the target of a monitor recorded before its pid was known, if it is still on record.
    mutating func setTarget(_ target: Pid, ofMonitor ref: Ref, peer: NodeName) {
        guard let watched = monitorsOfRemote[peer]?[ref] else { return }
        monitorsOfRemote[peer]?[ref] = WatchedRemote(watcher: watched.watcher, target: target)
    }

    mutating func addMonitorByRemote(_ ref: Ref, target: Pid, peer: NodeName) { monitorsByRemote[peer, default: [:]][ref] = target }
    mutating func removeMonitorByRemote(_ ref: Ref, peer: NodeName) { monitorsByRemote[peer]?.removeValue(forKey: ref) }

    /// How many monitors `peer`'s processes hold on local ones (for tests).
    func monitorCount(byRemote peer: NodeName) -> Int { monitorsByRemote[peer]?.count ?? 0 }

    /// Forgets everything about `peer` and returns it, to be fired.
    mutating func lose(_ peer: NodeName) -> Lost {
        var lost = Lost()
        lost.links = Array(links.removeValue(forKey: peer) ?? [])
        lost.monitorsOfRemote = Array(monitorsOfRemote.removeValue(forKey: peer) ?? [:]).map { ($0.key, $0.value) }
        lost.monitorsByRemote = Array(monitorsByRemote.removeValue(forKey: peer) ?? [:]).map { ($0.key, $0.value) }
        return lost
    }
}
