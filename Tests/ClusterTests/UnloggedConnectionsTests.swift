@testable import Cluster
import Testing

@Suite struct UnloggedConnectionsTests {
    typealias Table = UnloggedConnections<Int>

    /// Accepts `descriptors` from `address`, a second apart from `start`; the descriptors cut.
    func accept(_ descriptors: [Int32], from address: String, into table: inout Table, start: Int = 0) -> [Int32] {
        descriptors.enumerated().flatMap { index, descriptor in
            table.accepted(descriptor, from: address, ends: Int(descriptor), at: .seconds(start + index)).map(\.descriptor)
        }
    }

    @Test func pastTheBoundOfAnAddressItsOldestIsCut() {
        var table = Table(perAddress: 3, total: 100)
        #expect(accept([10, 11, 12], from: "a", into: &table).isEmpty)
        #expect(accept([20, 21], from: "b", into: &table, start: 3).isEmpty)
        #expect(accept([13, 14], from: "a", into: &table, start: 5) == [10, 11])
        #expect(Set(table.unlogged.keys) == [12, 13, 14, 20, 21])
    }

    /// Past the bound in all, the address that holds the most gives up its oldest: a real
    /// node from an address of its own outlasts a flood from many.
    @Test func pastTheBoundInAllTheOldestOfTheAddressHoldingMostIsCut() {
        var table = Table(perAddress: 100, total: 4)
        #expect(accept([30], from: "node", into: &table).isEmpty)
        #expect(accept([10, 11, 12], from: "a", into: &table, start: 1).isEmpty)
        #expect(accept([20], from: "b", into: &table, start: 4) == [10])
        #expect(accept([21], from: "b", into: &table, start: 5) == [11])
        #expect(accept([22], from: "b", into: &table, start: 6) == [20])
        #expect(Set(table.unlogged.keys) == [30, 12, 21, 22])
        #expect(accept([40], from: "c", into: &table, start: 7) == [21])
        // Each address holds one: the oldest of all goes. The flood needs as many
        // addresses as the bound to churn a real node out.
        #expect(accept([50], from: "d", into: &table, start: 8) == [30])
        #expect(Set(table.unlogged.keys) == [12, 22, 40, 50])
    }

    @Test func theCutCarriesWhatTheCallerChecksBeforeCutting() throws {
        var table = Table(perAddress: 1, total: 10)
        _ = table.accepted(7, from: "a", ends: 700, at: .zero)
        let cut = try #require(table.accepted(8, from: "a", ends: 800, at: .seconds(1)).first)
        #expect(cut == .init(descriptor: 7, address: "a", ends: 700, since: .zero))
    }

    @Test func aConnectionThatLoggedInIsNeverCut() {
        var table = Table(perAddress: 2, total: 100)
        _ = accept([10, 11], from: "a", into: &table)
        table.loggedIn(10)
        #expect(accept([12], from: "a", into: &table, start: 2).isEmpty)
        #expect(accept([13], from: "a", into: &table, start: 3) == [11])
    }

    /// The monitor may be read after the socket: a login heard of before its acceptance
    /// still counts, once, and the descriptor's next connection is a stranger's again.
    @Test func aLoginHeardOfBeforeItsAcceptanceStillCounts() {
        var table = Table(perAddress: 1, total: 100)
        table.loggedIn(10)
        #expect(accept([10], from: "a", into: &table).isEmpty)
        #expect(table.unlogged.isEmpty)
        #expect(accept([11], from: "a", into: &table, start: 1).isEmpty)
        table.closed(10)
        #expect(accept([10], from: "a", into: &table, start: 2) == [11])
    }

    @Test func aClosedConnectionIsForgottenAndItsDescriptorMayBeReused() {
        var table = Table(perAddress: 2, total: 100)
        _ = accept([10, 11], from: "a", into: &table)
        table.closed(10)
        #expect(accept([12], from: "a", into: &table, start: 2).isEmpty)
        // A close not heard of yet: descriptor 11 now holds a connection from b.
        #expect(accept([11], from: "b", into: &table, start: 3).isEmpty)
        #expect(table.unlogged[11]?.address == "b")
        #expect(accept([13, 14], from: "a", into: &table, start: 4) == [12])
    }

    @Test func connectionsNotLoggedInPastTheirTimeExpireOldestFirst() {
        var table = Table(perAddress: 10, total: 100)
        _ = accept([10, 11], from: "a", into: &table)
        _ = accept([20, 21], from: "b", into: &table, start: 2)
        table.loggedIn(11)
        #expect(table.expired(before: .seconds(3)).map(\.descriptor) == [10, 20])
        #expect(Array(table.unlogged.keys) == [21])
        #expect(table.expired(before: .seconds(3)).isEmpty)
        // Forgotten: the address's bound counts only what is left.
        #expect(accept([22], from: "b", into: &table, start: 4).isEmpty)
    }

    @Test func boundsAreAtLeastOne() {
        var table = Table(perAddress: 0, total: 0)
        #expect(accept([10, 11], from: "a", into: &table) == [10])
        #expect(Array(table.unlogged.keys) == [11])
    }

    @Test func theDefaultInAllIsASixteenthOfTheDescriptorsWithinItsBounds() {
        #expect(ClusterSettings.maxHandshakes(forDescriptors: 100) == 16)
        #expect(ClusterSettings.maxHandshakes(forDescriptors: 1_024) == 64)
        #expect(ClusterSettings.maxHandshakes(forDescriptors: 1 << 20) == 1_000)
    }
}

extension UnloggedConnectionsTests {
    /// Where logins are not heard of (a publisher's subscribers), the oldest is asked before
    /// it is cut: one that has logged in is forgotten instead, which makes the room too.
    @Test func theOldestIsAskedWhetherItLoggedInBeforeItIsCut() {
        var table = Table(perAddress: 2, total: 100)
        _ = accept([10, 11], from: "a", into: &table)
        var asked: [Int32] = []
        let first = table.accepted(12, from: "a", ends: 12, at: .seconds(2)) { connection in
            asked.append(connection.descriptor)
            return true
        }
        #expect(asked == [10])
        #expect(first.isEmpty)
        let second = table.accepted(13, from: "a", ends: 13, at: .seconds(3)) { _ in false }
        #expect(second.map(\.descriptor) == [11])
        #expect(Set(table.unlogged.keys) == [12, 13])
    }

    @Test func inAllTooTheOldestIsAskedBeforeItIsCut() {
        var table = Table(perAddress: 100, total: 2)
        _ = accept([10], from: "a", into: &table)
        _ = accept([20], from: "b", into: &table, start: 1)
        #expect(table.accepted(30, from: "c", ends: 30, at: .seconds(2)) { $0.descriptor == 10 }.isEmpty)
        #expect(table.accepted(31, from: "d", ends: 31, at: .seconds(3)) { _ in false }.map(\.descriptor) == [20])
        #expect(Set(table.unlogged.keys) == [30, 31])
    }
}

extension UnloggedConnectionsTests {
    /// The transport waits for the next expiry: the oldest acceptance still counted, whatever
    /// became of those before it.
    @Test func theOldestStillCountedIsTheNextToExpire() {
        var table = Table(perAddress: 2, total: 100)
        #expect(table.oldestSince == nil)
        _ = accept([10, 11], from: "a", into: &table)
        _ = accept([20], from: "b", into: &table, start: 2)
        #expect(table.oldestSince == .zero)
        table.loggedIn(10)
        #expect(table.oldestSince == .seconds(1))
        _ = accept([12], from: "a", into: &table, start: 3)
        #expect(accept([13], from: "a", into: &table, start: 4) == [11])  // a's bound cuts 11
        #expect(table.oldestSince == .seconds(2))
        table.closed(20)
        #expect(table.oldestSince == .seconds(3))
        #expect(table.expired(before: .seconds(4)).map(\.descriptor) == [12])
        #expect(table.oldestSince == .seconds(4))
        table.closed(13)
        #expect(table.oldestSince == nil)
    }

    /// A descriptor closed and used again: its first acceptance no longer counts, the second
    /// does, from its own time.
    @Test func aReusedDescriptorExpiresFromItsNewAcceptance() {
        var table = Table(perAddress: 10, total: 100)
        _ = accept([10], from: "a", into: &table)
        _ = accept([11], from: "a", into: &table, start: 1)
        _ = accept([10], from: "b", into: &table, start: 2)  // its close not heard of
        #expect(table.oldestSince == .seconds(1))
        #expect(table.expired(before: .seconds(2)).map(\.descriptor) == [11])
        #expect(table.expired(before: .seconds(3)).map(\.descriptor) == [10])
        #expect(table.unlogged.isEmpty && table.oldestSince == nil)
    }

    /// Times given out of order still expire oldest first.
    @Test func anAcceptanceOlderThanTheLastStillExpiresFirst() {
        var table = Table(perAddress: 10, total: 100)
        _ = table.accepted(10, from: "a", ends: 10, at: .seconds(5))
        _ = table.accepted(11, from: "a", ends: 11, at: .seconds(2))
        #expect(table.oldestSince == .seconds(2))
        #expect(table.expired(before: .seconds(6)).map(\.descriptor) == [11, 10])
    }

    /// Thousands of connections that log in, one after another behind one that does not:
    /// what the table keeps to find the oldest stays within a bound of what it counts.
    @Test func loginsBehindAnOldStrangerDoNotPileUp() {
        var table = Table(perAddress: 10_000, total: 10_000)
        _ = accept([1], from: "stranger", into: &table)
        for descriptor in Int32(2)..<5_000 {
            _ = table.accepted(descriptor, from: "node", ends: Int(descriptor), at: .seconds(Int(descriptor)))
            table.loggedIn(descriptor)
        }
        #expect(table.arrivalsKept <= 2 * table.unlogged.count + 16)
        #expect(table.oldestSince == .zero)
        #expect(table.expired(before: .seconds(10_000)).map(\.descriptor) == [1])
    }
}
