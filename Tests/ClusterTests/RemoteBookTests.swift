@testable import Cluster
import Processes
import Testing

/// The book keeps most monitors by serial numbers alone (`RemoteBook`): what it gives back
/// must be the refs and pids it was given, whichever way each was kept.
struct RemoteBookTests {
    let local = "a@localhost", peer = NodeName(name: "b", host: "localhost")
    let localIncarnation: UInt64 = 7, peerIncarnation: UInt64 = 9

    func book() -> RemoteBook { RemoteBook(localNode: local, localIncarnation: localIncarnation) }
    func localPid(_ serial: UInt64) -> Pid { Pid(node: local, incarnation: localIncarnation, serial: serial) }
    func peerPid(_ serial: UInt64) -> Pid { Pid(node: peer.description, incarnation: peerIncarnation, serial: serial) }
    func localRef(_ serial: UInt64) -> Ref { Ref(node: local, incarnation: localIncarnation, serial: serial) }
    func peerRef(_ serial: UInt64) -> Ref { Ref(node: peer.description, incarnation: peerIncarnation, serial: serial) }

    @Test func monitorsOfAPeersProcessesComeBackAsTheyWereGiven() {
        var book = book()
        let elsewhere = Ref(node: "c@localhost", incarnation: 3, serial: 1)
        let staleTarget = Pid(node: peer.description, incarnation: 2, serial: 5)
        book.addMonitorOfRemote(localRef(1), .init(watcher: localPid(10), target: peerPid(20)), peer: peer)
        book.addMonitorOfRemote(localRef(2), .init(watcher: localPid(11), target: staleTarget), peer: peer)
        book.addMonitorOfRemote(elsewhere, .init(watcher: localPid(12), target: peerPid(21)), peer: peer)
        #expect(book.monitorsKeptWhole == 1)  // the ref made elsewhere
        #expect(book.monitorOfRemote(localRef(1), peer: peer)?.target == peerPid(20))
        #expect(book.monitorOfRemote(localRef(2), peer: peer)?.target.incarnation == 2)
        #expect(book.monitorOfRemote(elsewhere, peer: peer)?.watcher == localPid(12))
        // Another incarnation's ref with the same serial is another monitor.
        let removed = [Ref(node: local, incarnation: 8, serial: 1), localRef(2), localRef(2)].map {
            book.removeMonitorOfRemote($0, peer: peer)
        }
        #expect(removed == [false, true, false])
        let lost = book.lose(peer)
        let fired = Dictionary(uniqueKeysWithValues: lost.monitorsOfRemote.map { ($0.0, $0.1) })
        #expect(fired.count == 2)
        #expect(fired[localRef(1)]?.watcher == localPid(10) && fired[localRef(1)]?.target == peerPid(20))
        #expect(fired[elsewhere]?.watcher == localPid(12) && fired[elsewhere]?.target == peerPid(21))
        let again = book.lose(peer)
        #expect(again.monitorsOfRemote.isEmpty)
    }

    /// A monitor recorded before its target's pid was known (`spawnMonitor`).
    @Test func aMonitorsTargetNamedLaterIsTheOneFired() {
        var book = book()
        book.addMonitorOfRemote(localRef(1), .init(watcher: localPid(10), target: Pid(node: peer.description, incarnation: 0, serial: 0)), peer: peer)
        book.setTarget(peerPid(30), ofMonitor: localRef(1), peer: peer)
        book.setTarget(peerPid(31), ofMonitor: localRef(2), peer: peer)  // not on record: nothing
        let lost = book.lose(peer).monitorsOfRemote
        #expect(lost.count == 1 && lost.first?.0 == localRef(1) && lost.first?.1.target == peerPid(30))
    }

    @Test func monitorsByAPeersProcessesComeBackAsTheyWereGiven() {
        var book = book()
        let elsewhere = Ref(node: "c@localhost", incarnation: 3, serial: 1)
        let earlierSelf = Pid(node: local, incarnation: 6, serial: 40)
        book.addMonitorByRemote(peerRef(1), target: localPid(40), peer: peer)
        book.addMonitorByRemote(elsewhere, target: localPid(41), peer: peer)
        book.addMonitorByRemote(peerRef(2), target: earlierSelf, peer: peer)
        book.addMonitorByRemote(peerRef(3), target: localPid(42), peer: peer)
        #expect(book.monitorCount(byRemote: peer) == 4)
        #expect(book.monitorsKeptWhole == 2)  // the ref made elsewhere, and the target of an earlier incarnation
        book.removeMonitorByRemote(peerRef(3), peer: peer)
        book.removeMonitorByRemote(Ref(node: peer.description, incarnation: 1, serial: 1), peer: peer)  // another incarnation's
        #expect(book.monitorCount(byRemote: peer) == 3)
        let lost = book.lose(peer)
        let fired = Dictionary(uniqueKeysWithValues: lost.monitorsByRemote.map { ($0.0, $0.1) })
        #expect(fired == [peerRef(1): localPid(40), elsewhere: localPid(41), peerRef(2): earlierSelf])
        #expect(book.monitorCount(byRemote: peer) == 0)
    }
}
