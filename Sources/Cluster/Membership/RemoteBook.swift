import Processes

/// The links and monitors between local processes and processes of each peer, so that losing
/// a peer can fire them with `noconnection` (Erlang's rule).
///
/// A monitor is kept by serial numbers where the rest of its refs and pids is implied: this
/// node's for a local watcher, a local target and a ref this node made; the peer's for a
/// remote target and a ref the peer made. Every list server in a cluster is watched by each
/// peer's name server, so these records are held per list on every node: 32 and 24 bytes
/// each rather than 112 and 72 (a full ref is 32, a pid 40). Records that do not fit the
/// pattern (a ref made elsewhere) are kept whole.
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

    /// A local watcher's monitor of a peer's process, under the serial of its ref: the
    /// watcher's serial, and the target's serial and incarnation.
    private struct Watch: Sendable {
        let watcher: UInt64
        let target: UInt64
        let targetIncarnation: UInt64
    }

    /// A ref the peer made, by its serial and incarnation.
    private struct PeerRef: Hashable, Sendable {
        let serial: UInt64
        let incarnation: UInt64
    }

    /// This node's name and incarnation, which its refs and pids carry.
    let localNode: String
    let localIncarnation: UInt64

    private var links: [NodeName: Set<LinkPair>] = [:]
    /// Local watchers of processes on a peer.
    private var monitorsOfRemote: [NodeName: [UInt64: Watch]] = [:]
    private var otherMonitorsOfRemote: [NodeName: [Ref: WatchedRemote]] = [:]
    /// Watchers on a peer of local processes: the ref and the local target's serial.
    private var monitorsByRemote: [NodeName: [PeerRef: UInt64]] = [:]
    private var otherMonitorsByRemote: [NodeName: [Ref: Pid]] = [:]

    init(localNode: String, localIncarnation: UInt64) {
        self.localNode = localNode
        self.localIncarnation = localIncarnation
    }

    mutating func addLink(_ pair: LinkPair, peer: NodeName) { links[peer, default: []].insert(pair) }
    mutating func removeLink(_ pair: LinkPair, peer: NodeName) { links[peer]?.remove(pair) }

    mutating func addMonitorOfRemote(_ ref: Ref, _ watched: WatchedRemote, peer: NodeName) {
        if let serial = localSerial(of: ref), let watch = watch(watched, peer: peer) {
            monitorsOfRemote[peer, default: [:]][serial] = watch
        } else {
            otherMonitorsOfRemote[peer, default: [:]][ref] = watched
        }
    }

    /// Whether the monitor was on record: a `Down` for one that is not (demonitored, or fired
    /// already) is not delivered.
    @discardableResult
    mutating func removeMonitorOfRemote(_ ref: Ref, peer: NodeName) -> Bool {
        if let serial = localSerial(of: ref), monitorsOfRemote[peer]?.removeValue(forKey: serial) != nil { return true }
        return otherMonitorsOfRemote[peer]?.removeValue(forKey: ref) != nil
    }

    /// Names the target of a monitor recorded before its pid was known, if it is still on record.
    mutating func setTarget(_ target: Pid, ofMonitor ref: Ref, peer: NodeName) {
        guard let watched = monitorOfRemote(ref, peer: peer) else { return }
        removeMonitorOfRemote(ref, peer: peer)
        addMonitorOfRemote(ref, WatchedRemote(watcher: watched.watcher, target: target), peer: peer)
    }

    mutating func addMonitorByRemote(_ ref: Ref, target: Pid, peer: NodeName) {
        if ref.node == peer.description, target.node == localNode, target.incarnation == localIncarnation {
            monitorsByRemote[peer, default: [:]][PeerRef(serial: ref.serial, incarnation: ref.incarnation)] = target.serial
        } else {
            otherMonitorsByRemote[peer, default: [:]][ref] = target
        }
    }

    mutating func removeMonitorByRemote(_ ref: Ref, peer: NodeName) {
        if ref.node == peer.description,
           monitorsByRemote[peer]?.removeValue(forKey: PeerRef(serial: ref.serial, incarnation: ref.incarnation)) != nil { return }
        otherMonitorsByRemote[peer]?.removeValue(forKey: ref)
    }

    /// How many monitors `peer`'s processes hold on local ones (for tests).
    func monitorCount(byRemote peer: NodeName) -> Int {
        (monitorsByRemote[peer]?.count ?? 0) + (otherMonitorsByRemote[peer]?.count ?? 0)
    }

    /// How many monitors are kept whole rather than by serials (for tests).
    var monitorsKeptWhole: Int {
        otherMonitorsOfRemote.values.reduce(0) { $0 + $1.count } + otherMonitorsByRemote.values.reduce(0) { $0 + $1.count }
    }

    /// The local watcher's monitor `ref` of a process on `peer`, if on record.
    func monitorOfRemote(_ ref: Ref, peer: NodeName) -> WatchedRemote? {
        if let serial = localSerial(of: ref), let watch = monitorsOfRemote[peer]?[serial] { return watched(watch, peer: peer) }
        return otherMonitorsOfRemote[peer]?[ref]
    }

    /// Forgets everything about `peer` and returns it, to be fired.
    mutating func lose(_ peer: NodeName) -> Lost {
        var lost = Lost()
        lost.links = Array(links.removeValue(forKey: peer) ?? [])
        for (serial, watch) in monitorsOfRemote.removeValue(forKey: peer) ?? [:] {
            lost.monitorsOfRemote.append((localRef(serial), watched(watch, peer: peer)))
        }
        lost.monitorsOfRemote += (otherMonitorsOfRemote.removeValue(forKey: peer) ?? [:]).map { ($0.key, $0.value) }
        for (ref, target) in monitorsByRemote.removeValue(forKey: peer) ?? [:] {
            lost.monitorsByRemote.append((Ref(node: peer.description, incarnation: ref.incarnation, serial: ref.serial), localPid(target)))
        }
        lost.monitorsByRemote += (otherMonitorsByRemote.removeValue(forKey: peer) ?? [:]).map { ($0.key, $0.value) }
        return lost
    }

    private func localSerial(of ref: Ref) -> UInt64? {
        ref.node == localNode && ref.incarnation == localIncarnation ? ref.serial : nil
    }

    /// `watched` by serials, when its watcher is local and its target on `peer`.
    private func watch(_ watched: WatchedRemote, peer: NodeName) -> Watch? {
        guard watched.watcher.node == localNode, watched.watcher.incarnation == localIncarnation,
              watched.target.node == peer.description else { return nil }
        return Watch(watcher: watched.watcher.serial, target: watched.target.serial, targetIncarnation: watched.target.incarnation)
    }

    private func watched(_ watch: Watch, peer: NodeName) -> WatchedRemote {
        WatchedRemote(watcher: localPid(watch.watcher),
                      target: Pid(node: peer.description, incarnation: watch.targetIncarnation, serial: watch.target))
    }

    private func localRef(_ serial: UInt64) -> Ref { Ref(node: localNode, incarnation: localIncarnation, serial: serial) }
    private func localPid(_ serial: UInt64) -> Pid { Pid(node: localNode, incarnation: localIncarnation, serial: serial) }
}
