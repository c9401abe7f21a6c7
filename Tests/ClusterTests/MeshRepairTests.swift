@testable import Cluster
import Testing

/// The mesh's upkeep, on a clock of its own.
struct MeshRepairTests {
    let b = NodeName(name: "b", host: "localhost")

    @Test func membersAreToldAgainEveryIntervalFromTheStart() {
        var mesh = MeshRepair(interval: .seconds(5), now: .seconds(100))
        // A late look (a busy round) counts the next interval from itself, not from the due time.
        let due = [104, 105, 109, 112].map { mesh.announcementDue(now: .seconds($0)) }
        #expect(due == [false, true, false, true])
        #expect(mesh.nextAnnouncement == .seconds(117))
    }

    @Test func aMemberPartedOnPurposeIsNotDialledUntilItIsConnectedAgain() {
        var mesh = MeshRepair(interval: .seconds(5), now: .zero)
        #expect(mesh.mayDial(b))
        mesh.part(b)
        #expect(!mesh.mayDial(b))
        #expect(mesh.mayDial(NodeName(name: "c", host: "localhost")))
        mesh.connected(b)
        #expect(mesh.mayDial(b))
    }
}
