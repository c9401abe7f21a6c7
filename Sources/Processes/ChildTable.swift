/// A supervisor's children in start order, found by pid in constant time. The to-do cache's
/// dynamic supervisor holds one child per list server, tens of thousands on a busy node. In
/// an array searched and shifted on every exit, 50,000 children ending took the supervisor
/// 45 to 51 µs each (3 to 7 µs now, `todo-bench supervisor-exits`), and a supervisor busy
/// with that starts no new server meanwhile.
struct ChildTable {
    struct Child {
        let spec: ChildSpec
        var pid: Pid?
    }

    /// A child's place in start order; a restarted child keeps its place.
    typealias Key = UInt64

    private var children: [Key: Child] = [:]
    private var keyByPid: [Pid: Key] = [:]
    private var nextKey: Key = 0

    var isEmpty: Bool { children.isEmpty }
    var count: Int { children.count }

    subscript(key: Key) -> Child? { children[key] }

    /// Adds a child after all the others.
    mutating func append(_ child: Child) {
        let key = nextKey
        nextKey += 1
        children[key] = child
        if let pid = child.pid { keyByPid[pid] = key }
    }

    func key(of pid: Pid) -> Key? { keyByPid[pid] }

    /// The first child, in start order, with `id`. (By id only for static supervisors' few
    /// children and `terminateChild`, so a walk.)
    func key(withID id: String) -> Key? {
        children.lazy.filter { $0.value.spec.id == id }.map(\.key).min()
    }

    func contains(id: String) -> Bool { key(withID: id) != nil }

    /// Sets the child's pid: nil when it ended and stays down, the new one when restarted.
    mutating func setPid(_ pid: Pid?, of key: Key) {
        guard let old = children[key] else { return }
        if let oldPid = old.pid { keyByPid[oldPid] = nil }
        children[key]?.pid = pid
        if let pid { keyByPid[pid] = key }
    }

    mutating func remove(_ key: Key) {
        guard let child = children.removeValue(forKey: key) else { return }
        if let pid = child.pid { keyByPid[pid] = nil }
    }

    mutating func removeAll() {
        children.removeAll()
        keyByPid.removeAll()
    }

    /// The children in start order (sorted on demand: `whichChildren` and shutdown only).
    var inStartOrder: [Child] {
        children.sorted { $0.key < $1.key }.map(\.value)
    }
}
