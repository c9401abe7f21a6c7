/// Keeps the full mesh whole. A node dials the members a new peer knows, once; an attempt
/// that failed (a port mapper too busy to answer, a cut since healed) left a hole nothing
/// mended: two members each connected to every other node but never to each other. So a node
/// tells its visible peers its members again every `interval`, and a peer dials those it is
/// not connected to, as at a join; one that no peer lists any more is not dialled again.
/// Members parted on purpose (`ClusterNode.disconnect`, on either side) are left apart until
/// they connect again, as Erlang leaves them. Pure: the transport carries it out, on its clock.
struct MeshRepair {
    let interval: Duration
    private(set) var nextAnnouncement: Duration
    private var parted: Set<NodeName> = []

    init(interval: Duration, now: Duration) {
        self.interval = interval
        nextAnnouncement = now + interval
    }

    /// Whether this node's members are due to be told again at `now` (the next time is then set).
    mutating func announcementDue(now: Duration) -> Bool {
        guard now >= nextAnnouncement else { return false }
        nextAnnouncement = now + interval
        return true
    }

    /// `name` was disconnected on purpose, by this node or by itself.
    mutating func part(_ name: NodeName) {
        parted.insert(name)
    }

    /// `name` is connected again, however that came about.
    mutating func connected(_ name: NodeName) {
        parted.remove(name)
    }

    /// Whether hearing of `name` from a peer is reason to dial it.
    func mayDial(_ name: NodeName) -> Bool {
        !parted.contains(name)
    }
}
