@testable import Cluster
import Testing

@Suite struct UndeliveredBytesTests {
    typealias Count = UndeliveredBytes<Int>

    /// ZMTP 3 frames: a flags byte, then the size in one byte up to 255, in eight past it.
    @Test func partsAreCountedAsTheyCross() {
        #expect(Count.wireBytes(of: [[]]) == 2)
        #expect(Count.wireBytes(of: [[UInt8](repeating: 1, count: 255)]) == 257)
        #expect(Count.wireBytes(of: [[UInt8](repeating: 1, count: 256)]) == 265)
        #expect(Count.wireBytes(of: [[1, 2, 3], [4]]) == 8)
    }

    /// A connection is cut once what TCP received passes what came out of it as whole
    /// messages by more than the slack, however much it sent in all.
    @Test func aConnectionIsOverdrawnOnlyPastItsWholeMessagesAndTheSlack() {
        var count = Count(slack: 100)
        count.opened(7, ends: 70)
        var received: Int64 = 100
        #expect(count.overdrawn { _ in received }.isEmpty)
        for _ in 0..<1_000 { count.delivered([[UInt8](repeating: 0, count: 991)], on: 7) }  // 1,000 bytes each
        received = 1_000_100
        #expect(count.overdrawn { _ in received }.isEmpty)
        received = 1_000_101
        #expect(count.overdrawn { _ in received } == [.init(descriptor: 7, ends: 70, delivered: 1_000_000)])
        #expect(count.connections.isEmpty, "forgotten once given to be cut")
    }

    @Test func onlyTheConnectionsOverTheirSlackAreGiven() {
        var count = Count(slack: 10)
        count.opened(1, ends: 10)
        count.opened(2, ends: 20)
        count.opened(3, ends: 30)
        let received: [Int32: Int64] = [1: 5, 2: 50]  // 3: TCP cannot tell
        #expect(count.overdrawn { received[$0] }.map(\.descriptor) == [2])
        #expect(Set(count.connections.keys) == [1, 3])
    }

    /// A closed connection is forgotten; its descriptor's next connection counts from nothing.
    @Test func aReusedDescriptorCountsFromItsNewConnection() {
        var count = Count(slack: 10)
        count.opened(4, ends: 40)
        count.delivered([[UInt8](repeating: 0, count: 98)], on: 4)
        count.closed(4)
        count.delivered([[1]], on: 4)  // a message of a connection not known: nothing to count
        #expect(count.connections.isEmpty)
        count.opened(4, ends: 41)
        #expect(count.overdrawn { _ in 11 }.map(\.ends) == [41])
    }
}
