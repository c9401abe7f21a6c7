import Cluster
import ClusterTestKit
import Processes
import Testing

@Suite(.timeLimit(.minutes(2)))
struct ProcessGroupTests {
    @Test func membersOfEveryNodeAreSeenEverywhere() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let workers = nodes.map { $0.runtime.spawn(idle) }
            for (node, pid) in zip(nodes, workers) { try node.groups.join("workers", [pid]) }
            try await eventually("all members everywhere") { nodes.allSatisfy { Set($0.groups.members("workers")) == Set(workers) } }
            #expect(nodes[1].groups.localMembers("workers") == [workers[1]])
            #expect(nodes[0].groups.whichGroups() == ["workers"])
            #expect(throws: GroupError.notLocal) { try nodes[0].groups.join("workers", [workers[1]]) }
            nodes[0].groups.leave("workers", [workers[0]])
            try await eventually("the leaver gone everywhere") { nodes.allSatisfy { !$0.groups.members("workers").contains(workers[0]) } }
        }
    }

    @Test func membersLeaveWhenTheyDieOrTheirNodeGoes() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            let mortal = nodes[0].runtime.spawn { context in _ = try await context.receive(String.self) }
            let onThird = nodes[2].runtime.spawn(idle)
            try nodes[0].groups.join("g", [mortal])
            try nodes[2].groups.join("g", [onThird])
            try await eventually("both members on n2") { Set(nodes[1].groups.members("g")) == [mortal, onThird] }
            nodes[0].runtime.send("die", to: mortal)
            try await eventually("the dead member gone") { nodes[1].groups.members("g") == [onThird] }
            await nodes[2].shutdown()
            try await eventually("the downed node's member gone") { nodes[1].groups.members("g").isEmpty }
        }
    }

    @Test func aNodeThatJoinsLearnsTheGroupsAndMonitorsSeeChanges() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            let member = nodes[0].runtime.spawn(idle)
            try nodes[0].groups.join("g", [member])
            try await nodes[1].runtime.withProcess { context async throws in
                nodes[1].groups.monitor("g", subscriber: context.pid)
                let late = try await cluster.startNode("late")
                try #require(await late.connect(nodes[0].name))
                try await eventually("late learns g") { late.groups.members("g") == [member] }
                let newcomer = late.runtime.spawn(idle)
                try late.groups.join("g", [newcomer])
                let event = try await context.receive(timeout: .seconds(10)) { message -> GroupEvent? in
                    if case .joined("g", let pids) = message as? GroupEvent, pids == [newcomer] { return message as? GroupEvent }
                    return nil
                }
                #expect(event == .joined("g", [newcomer]))
            }
        }
    }
}
