import Processes

/// The global name table of one node, and the rule that settles clashes. Pure: the name
/// server feeds it what it hears and carries out what it returns.
///
/// A clash (two pids under one name, after a partition heals or a race across a leader
/// change) keeps the pid on the lower node name, as Erlang's default resolver does, so every
/// node that sees the same two pids picks the same winner. Two pids of one node are not two
/// sides: the name went to the later one only once the earlier one had lost it, so a table
/// that still names the earlier one heard late (`winner`).
public struct GlobalTable: Sendable, Equatable {
    public struct Clash: Sendable, Equatable {
        public let name: String
        public let kept: Pid
        public let lost: Pid
    }

    public private(set) var names: [String: Pid] = [:]
    /// Owners on another node than the one kept over them here, by name. The loser's own node
    /// may never see the clash: it had already seen the kept owner's node go down when it
    /// registered. So when the kept owner goes here too (its node, or itself), the name is
    /// the loser's again, as it still is on the loser's node. Forgotten, the name had no owner
    /// here while a peer had one, and a second one was registered from here (the partition
    /// soak: two list servers in one connected cluster, each taking writes for 5 s).
    public private(set) var overruled: [String: Pid] = [:]

    public init() {}

    public func whereis(_ name: String) -> Pid? { names[name] }

    /// The leader's check-and-set: the current owner when taken, nil once registered.
    public mutating func register(_ name: String, _ pid: Pid) -> Pid? {
        if let owner = names[name], owner != pid { return owner }
        names[name] = pid
        return nil
    }

    /// Another node's word that `name` is `pid`'s; a clash is settled by `winner`, told by
    /// `lives` which incarnation of a node is the one up (nil: not known).
    public mutating func learn(_ name: String, _ pid: Pid, lives: (String) -> UInt64? = { _ in nil }) -> Clash? {
        guard let current = names[name], current != pid else {
            names[name] = pid
            return nil
        }
        let kept = Self.winner(current, pid, life: current.node == pid.node ? lives(pid.node) : nil)
        let lost = kept == current ? pid : current
        names[name] = kept
        if lost.node != kept.node { overruled[name] = lost }
        return Clash(name: name, kept: kept, lost: lost)
    }

    /// Forgets `name` if `pid` still has it (the name is then the overruled owner's, if any),
    /// and `pid` as its overruled owner.
    public mutating func forget(_ name: String, _ pid: Pid) {
        if overruled[name] == pid { overruled[name] = nil }
        if names[name] == pid { names[name] = overruled.removeValue(forKey: name) }
    }

    /// Forgets every name whose process lived on `node` (it went down); those with an
    /// overruled owner elsewhere are that owner's again.
    public mutating func forgetNode(_ node: String) -> [String] {
        overruled = overruled.filter { $0.value.node != node }
        let gone = names.filter { $0.value.node == node }.map(\.key).sorted()
        for name in gone { names[name] = overruled.removeValue(forKey: name) }
        return gone
    }

    /// Merges a peer's table into this one; returns the clashes, settled.
    public mutating func merge(_ other: [String: Pid], lives: (String) -> UInt64? = { _ in nil }) -> [Clash] {
        other.sorted { $0.key < $1.key }.compactMap { learn($0.key, $0.value, lives: lives) }
    }

    /// The default resolver: the pid on the lower node name stays. Of two pids of one node, the
    /// later one (the higher serial) stays: after a cut, a node that had not heard yet that
    /// the earlier one died handed it on to a peer that had, and the peer kept the dead one
    /// and dropped the live one. Of two lives of one node, the one it lives now (`life`, as
    /// the node itself and every node connected to it know it): the other is dead, and a node
    /// that kept it killed the live one. When neither is, the lower incarnation, a rule alike
    /// everywhere (both are dead; their names go with them, as `GlobalNameServer` watches
    /// every owner).
    public static func winner(_ a: Pid, _ b: Pid, life: UInt64? = nil) -> Pid {
        if a.node != b.node { return a.node < b.node ? a : b }
        if a.incarnation == b.incarnation { return a.serial >= b.serial ? a : b }
        if let life, a.incarnation == life || b.incarnation == life { return a.incarnation == life ? a : b }
        return a.incarnation < b.incarnation ? a : b
    }
}
