@testable import Cluster
import ClusterTestKit
import Processes
import Testing

struct Slow: Error, CustomStringConvertible {
    var description: String { "refused" }
}

/// Every node answers "whoami" with its own name; "fail" throws; "sleep" takes its time.
func installFunctions(on nodes: [ClusterNode]) {
    for node in nodes {
        node.rpc.register("whoami") { (_: Int) in node.name.description }
        node.rpc.register("fail") { (_: Int) -> String in throw Slow() }
        node.rpc.register("sleep") { (milliseconds: Int) -> String in
            try await Task.sleep(for: .milliseconds(milliseconds))
            return "awake"
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct RPCTests {
    @Test func callsRunOnTheTargetAndFailWithWords() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            installFunctions(on: nodes)
            let (a, b) = (nodes[0], nodes[1])
            #expect(try await a.rpc.call(b.name, "whoami", 0, returning: String.self) == b.name.description)
            #expect(try await a.rpc.call(a.name, "whoami", 0, returning: String.self) == a.name.description)
            await #expect(throws: RPCError.remote("refused")) { try await a.rpc.call(b.name, "fail", 0, returning: String.self) }
            await #expect(throws: RPCError.undefined("nope")) { try await a.rpc.call(b.name, "nope", 0, returning: String.self) }
            await #expect(throws: RPCError.timeout) {
                try await a.rpc.call(b.name, "sleep", 1_000, returning: String.self, timeout: .milliseconds(100))
            }
            await #expect(throws: RPCError.nodedown("ghost@localhost")) {
                try await a.rpc.call(NodeName(name: "ghost", host: "localhost"), "whoami", 0, returning: String.self)
            }
        }
    }

    @Test func multicallIncludesThisNodeAndReportsACutNodeWithinTheTimeout() async throws {
        try await withTestCluster(tickTime: .seconds(30)) { cluster in
            let nodes = try await cluster.startMesh(3)
            installFunctions(on: nodes)
            let all = await nodes[0].rpc.multicall("whoami", 0, returning: String.self)
            #expect(all.badNodes.isEmpty)
            #expect(Set(all.results.values.compactMap { try? $0.get() }) == Set(nodes.map(\.name.description)))

            cluster.cut(nodes[0], nodes[2])  // silent: the tick (30 s) will not notice in time
            let start = ContinuousClock.now
            // The timeout leaves room for a loaded machine; the point is that it is not the tick.
            let partial = await nodes[0].rpc.multicall("whoami", 0, returning: String.self, timeout: .seconds(4))
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(partial.badNodes == [nodes[2].name])
            #expect(try partial.results[nodes[1].name]?.get() == nodes[1].name.description)
        }
    }

    /// One process gathers a multicall's replies: a node that leaves mid-call is a bad node
    /// at once (not after the timeout), an unknown node too, and the others still answer,
    /// failures and all, each in its own words.
    @Test func multicallReportsANodeThatLeavesAndOneThatNeverWasAlongsideTheAnswers() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            installFunctions(on: nodes)
            let reached = Seen()
            nodes[1].rpc.register("sleepHere") { (milliseconds: Int) async throws -> String in
                reached.texts.withLock { $0.append("reached") }
                try await Task.sleep(for: .milliseconds(milliseconds))
                return "slept"
            }
            let ghost = NodeName(name: "ghost", host: "localhost")
            let start = ContinuousClock.now
            async let call = nodes[0].rpc.multicall(on: [nodes[0].name, nodes[1].name, nodes[2].name, ghost], "sleepHere", 10_000,
                                                    returning: String.self, timeout: .seconds(30))
            try await eventually("the call reached n2") { !reached.texts.withLock { $0 }.isEmpty }
            await nodes[1].shutdown()
            let outcome = await call
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(outcome.badNodes == [ghost, nodes[1].name].sorted())
            #expect(outcome.results[nodes[1].name].map { if case .failure(.nodedown) = $0 { true } else { false } } == true)
            #expect(outcome.results[nodes[0].name].map { if case .failure(.undefined("sleepHere")) = $0 { true } else { false } } == true)
            #expect(outcome.results.count == 4)
        }
    }

    /// A function can work as the process rex runs it in: receive, call, be called back.
    @Test func aFunctionWorksInTheProcessRexRunsItIn() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            nodes[1].rpc.register("echoThroughMailbox") { (number: Int, context: ProcessContext) async throws -> String in
                context.send(number * 2, to: context.pid)
                let doubled = try await context.receive(Int.self)
                return "\(context.pid.node) \(doubled)"
            }
            let answer = try await nodes[0].rpc.call(nodes[1].name, "echoThroughMailbox", 21, returning: String.self)
            #expect(answer == "\(nodes[1].name) 42")
        }
    }

    /// A function may ask which node called it (the database's store does, to tell its
    /// list's server's writes from others').
    @Test func aFunctionMayKnowTheNodeThatCalledIt() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(3)
            nodes[1].rpc.register("caller") { (_: Int, _: ProcessContext, caller: NodeName) async throws -> String in caller.description }
            for node in nodes {
                #expect(try await node.rpc.call(nodes[1].name, "caller", 0, returning: String.self) == node.name.description)
            }
        }
    }

    /// erpc's send_request: the answers come as messages, taken among the process's others.
    @Test func aProcessSendsRequestsAndTakesTheAnswersAmongItsMessages() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            installFunctions(on: nodes)
            try await nodes[0].runtime.withProcess { context in
                let arguments = try RPC.encodeArguments(0)
                let (asked, missing) = (context.runtime.makeRef(), context.runtime.makeRef())
                nodes[0].rpc.sendRequest(to: nodes[1].name, "whoami", encodedArguments: arguments, tag: asked, replyTo: context.pid)
                nodes[0].rpc.sendRequest(to: nodes[1].name, "nope", encodedArguments: arguments, tag: missing, replyTo: context.pid)
                context.send("meanwhile", to: context.pid)
                var answers: [Ref: Result<String, RPCError>] = [:]
                while answers.count < 2 {
                    let response = try await context.receive { RPC.response(in: $0) }
                    answers[response.tag] = response.result(of: response.tag == asked ? "whoami" : "nope", returning: String.self)
                }
                #expect(try answers[asked]?.get() == nodes[1].name.description)
                #expect(answers[missing].map { if case .failure(.undefined("nope")) = $0 { true } else { false } } == true)
                #expect(try await context.receive(String.self) == "meanwhile")
            }
        }
    }

    @Test func aCallToANodeThatLeavesFailsWithNodedown() async throws {
        try await withTestCluster { cluster in
            let nodes = try await cluster.startMesh(2)
            installFunctions(on: nodes)
            async let answer = Result { () async throws(RPCError) -> String in
                try await nodes[0].rpc.call(nodes[1].name, "sleep", 10_000, returning: String.self, timeout: .seconds(30))
            }
            await nodes[1].shutdown()
            let result = await answer
            #expect(throws: RPCError.nodedown(nodes[1].name.description)) { try result.get() }
        }
    }
}

extension Result where Failure == RPCError {
    init(_ body: () async throws(RPCError) -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

struct RPCCodingTests {
    @Test func optionalsAndWireTypesTakeTheSameFormBothWays() throws {
        let some: String? = "x", none: String? = nil
        #expect(try RPC.decode(String?.self, from: RPC.encode(some)) == "x")
        #expect(try RPC.decode(String?.self, from: RPC.encode(none)) == nil)
        #expect(try RPC.decode(String.self, from: RPC.encode("y")) == "y")
        #expect(try RPC.decode(Int.self, from: RPC.encode(42)) == 42)
        #expect(throws: WireError.self) { try RPC.decode(Int.self, from: RPC.encode(42) + [0]) }
    }
}
