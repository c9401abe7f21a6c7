@testable import Processes
import Testing

struct ChildTableTests {
    private func child(_ id: String, _ serial: UInt64?) -> ChildTable.Child {
        ChildTable.Child(spec: ChildSpec(id: id) { _ in throw ExitReason.normal }, pid: serial.map(pid))
    }

    private func pid(_ serial: UInt64) -> Pid { Pid(node: "n@h", incarnation: 1, serial: serial) }

    private func ids(_ table: ChildTable) -> [String] { table.inStartOrder.map(\.spec.id) }

    @Test func childrenAreFoundByPidAndKeepTheirStartOrderThroughRemovals() throws {
        var table = ChildTable()
        for (index, id) in ["a", "b", "c", "d"].enumerated() { table.append(child(id, UInt64(index))) }
        let c = try #require(table.key(of: pid(2)))
        #expect(table[c]?.spec.id == "c")
        table.remove(try #require(table.key(of: pid(1))))
        #expect(ids(table) == ["a", "c", "d"])
        #expect(table.key(of: pid(1)) == nil)
        table.append(child("e", 4))
        #expect(ids(table) == ["a", "c", "d", "e"])
        #expect(table.count == 4)
    }

    @Test func aRestartedChildKeepsItsPlaceAndIsFoundByItsNewPidOnly() throws {
        var table = ChildTable()
        table.append(child("a", 0))
        table.append(child("b", 1))
        let a = try #require(table.key(of: pid(0)))
        table.setPid(nil, of: a)  // down, waiting for its restart
        #expect(table.key(of: pid(0)) == nil)
        #expect(table.inStartOrder.map(\.pid) == [nil, pid(1)])
        table.setPid(pid(7), of: a)
        #expect(table.key(of: pid(7)) == a)
        #expect(table.inStartOrder.map(\.pid) == [pid(7), pid(1)])
    }

    @Test func anIdNamesTheFirstChildStartedWithIt() throws {
        var table = ChildTable()
        table.append(child("x", 0))
        table.append(child("y", 1))
        table.append(child("x", 2))  // dynamic supervisors allow repeated ids
        #expect(table.key(withID: "x") == table.key(of: pid(0)))
        #expect(table.contains(id: "y"))
        #expect(!table.contains(id: "z"))
        table.remove(try #require(table.key(withID: "x")))
        #expect(table.key(withID: "x") == table.key(of: pid(2)))
        table.removeAll()
        #expect(table.isEmpty && table.key(of: pid(2)) == nil)
    }
}
