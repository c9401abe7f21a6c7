import Foundation
import Processes
import ZeroMQ

// `make bench`: every figure is a median of several runs, printed and written to
// bench-results.json. Raw ZeroMQ figures come from the same run as ours.
// `todo-bench GROUP...` runs only the named groups (zmq, local, remote, services, erlang, codec, list, web, store,
// catchup).
// The groups run off the main actor, where this file's top-level code runs: what they
// measure is nonisolated code, which runs on its caller's executor (Package.swift), and here
// would be woken through the main queue rather than on the pool a node's code runs on (a
// local round trip took 13 to 17 µs there, against 2.7).
@concurrent func runBenchmarks() async throws {
    let groups = Set(CommandLine.arguments.dropFirst())

    // One spawn measurement in a fresh process, so memory freed by an earlier run is not reused.
    if groups == ["spawn-profile"] {
        let runtime = ProcessRuntime(node: "bench@localhost")
        let start = ContinuousClock.now
        for _ in 0..<1_000_000 { runtime.spawn { context in _ = try await context.receive(Int.self) } }
        print(1_000_000 / seconds(ContinuousClock.now - start))
        exit(0)
    }
    // For profiling a hop (perf, strace), in microseconds: 100,000 round trips between two
    // nodes print their (p50, p99), and between two processes over raw ZeroMQ with CURVE their
    // (p50, p99, cpu); 2,000,000 one-way messages to a peer print their rate; 50,000 multicalls
    // to two peers (rpc's, or GenServer's with `server-multicall-profile`) print their (p50,
    // cpu), and 50,000 rounds to two raw ZeroMQ echoes (`zmq-multicall-profile`) their (p50,
    // p99, cpu); 100,000 GenServer calls to a server on a peer print their (p50, p99). `cpu` is
    // the CPU time of all the processes involved (every thread), per operation.
    if groups == ["zmq-profile"] {
        print(try ZeroMQBench.roundTripAcrossProcesses(count: 100_000, keys: try CurveKeyPair.generate()))
        exit(0)
    }
    // The same over libzmq driven as the transport drives it (`ZeroMQBench.polledRoundTripAcrossProcesses`).
    if groups == ["zmq-polled-profile"] {
        print(try ZeroMQBench.polledRoundTripAcrossProcesses(count: 100_000, keys: try CurveKeyPair.generate()))
        exit(0)
    }
    if groups == ["zmq-multicall-profile"] {
        print(try ZeroMQBench.multicallAcrossProcesses(count: 50_000, keys: try CurveKeyPair.generate()))
        exit(0)
    }
    if groups == ["roundtrip-profile"] {
        let figures = try await RemoteBench.withPeers(["peer"]) { node, peers in
            try await RemoteBench.roundTrips(node: node, peer: peers[0], count: 100_000)
        }
        print(figures)
        exit(0)
    }
    if groups == ["remote-call-profile"] {
        print(try await RemoteBench.withPeers(["peer"]) { node, peers in try await RemoteBench.serverCalls(node: node, peer: peers[0]) })
        exit(0)
    }
    if groups == ["throughput-profile"] {
        print(try await RemoteBench.withPeers(["peer"]) { node, peers in try await RemoteBench.throughput(node: node, peer: peers[0], count: 2_000_000) })
        exit(0)
    }
    if groups == ["multicall-profile"] || groups == ["server-multicall-profile"] {
        print(try await RemoteBench.withPeers(["peer", "peer2"]) { node, peers in
            await RemoteBench.multicalls(node: node, peers: peers, servers: groups == ["server-multicall-profile"])
        })
        exit(0)
    }
    // GenServer calls as an HTTP write makes them (from a task, as a short-lived process), from 32
    // tasks at once: 960,000 calls; prints calls per second.
    if groups == ["calls-profile"] {
        print(try await LocalProcessBench.concurrentCallsFromTasks(each: 30_000))
        exit(0)
    }
    if (4...5).contains(CommandLine.arguments.count), CommandLine.arguments[1] == "remote-peer", let port = Int(CommandLine.arguments[3]) {
        try await RemoteBench.runPeer(name: CommandLine.arguments[2], mapperPort: port, encrypted: CommandLine.arguments.count == 4)
    }
    if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "trivial-http", let port = Int(CommandLine.arguments[2]) {
        try await WebBench.serveTrivial(port: port)
    }
    if (4...5).contains(CommandLine.arguments.count), CommandLine.arguments[1] == "zmq-echo" {
        try ZeroMQBench.serveEcho(publicKey: CommandLine.arguments[2], secretKey: CommandLine.arguments[3],
                                  polled: CommandLine.arguments.count == 5)
    }
    // Calls from a task to 10,000 hibernated servers, one each: prints microseconds per call.
    if groups == ["hibernated-calls"] {
        print(try await LocalProcessBench.callToHibernated())
        exit(0)
    }
    // Bytes per idle list server on one node, then on each node of three (the servers' node first).
    if groups == ["list-server-memory"] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("todo-bench-\(UUID().uuidString)")
        // Removed before `exit`, which would skip a `defer`.
        let bytes: Result<[Double], any Error>
        do {
            bytes = .success(try await WebBench.idleServerMemory(nodes: 1, scratch: scratch) + WebBench.idleServerMemory(nodes: 3, scratch: scratch))
        } catch { bytes = .failure(error) }
        try? FileManager.default.removeItem(at: scratch)
        print(try bytes.get().map { String(Int($0)) }.joined(separator: " "))
        exit(0)
    }
    if groups == ["genserver-once"] {
        print(try await ServerMemoryBench.bytesPerIdleServer())
        exit(0)
    }
    if groups == ["supervisor-exits"] {
        print(try await SupervisorBench.exitsWithManyChildren())
        exit(0)
    }

    if groups == ["spawn-once"] {
        let (rate, runningRate, bytes) = try await LocalProcessBench.spawnIdle()
        print(rate, runningRate, bytes)
        exit(0)
    }
    func wanted(_ group: String) -> Bool { groups.isEmpty || groups.contains(group) }

    let report = Report()
    let version = libzmqVersion()
    print("todo-cluster benchmarks (libzmq \(version.major).\(version.minor).\(version.patch), \(ProcessInfo.processInfo.activeProcessorCount) cores), medians")

    if wanted("zmq") {
        let zmqRoundTrips = try (0..<5).map { _ in try ZeroMQBench.roundTrip() }
        report.add("zmq_roundtrip_p50", median(zmqRoundTrips.map(\.p50)), "us")
        report.add("zmq_roundtrip_p99", median(zmqRoundTrips.map(\.p99)), "us")
        report.add("zmq_throughput", try await median(runs: 3) { try ZeroMQBench.throughput() }, "msg/s")
        let keys = try CurveKeyPair.generate()
        let curveRoundTrips = try (0..<5).map { _ in try ZeroMQBench.roundTrip(keys: keys) }
        report.add("zmq_curve_roundtrip_p50", median(curveRoundTrips.map(\.p50)), "us", reference: "zmq_roundtrip_p50")
        let acrossProcesses = try (0..<5).map { _ in try ZeroMQBench.roundTripAcrossProcesses(keys: keys) }
        report.add("zmq_curve_roundtrip_2_processes_p50", median(acrossProcesses.map(\.p50)), "us", reference: "zmq_roundtrip_p50")
        // What a round trip takes from the cores: both processes' CPU time, every thread.
        report.add("zmq_curve_roundtrip_2_processes_cpu", median(acrossProcesses.map(\.cpu)), "us")
        // The same with libzmq driven as our transport drives it (epoll on the descriptors, reads
        // until empty, events looked at after a send): what is left above it is our own code.
        let polled = try (0..<5).map { _ in try ZeroMQBench.polledRoundTripAcrossProcesses(keys: keys) }
        report.add("zmq_curve_roundtrip_2_processes_polled_p50", median(polled.map(\.p50)), "us",
                   reference: "zmq_curve_roundtrip_2_processes_p50")
        // The floor for `rpc_multicall_2_peers_p50`: what two echoes in processes of their own cost
        // over libzmq alone, beside its own round trip's.
        let multicalls = try (0..<5).map { _ in try ZeroMQBench.multicallAcrossProcesses(keys: keys) }
        report.add("zmq_curve_multicall_2_processes_p50", median(multicalls.map(\.p50)), "us",
                   reference: "zmq_curve_roundtrip_2_processes_p50")
        report.add("zmq_curve_multicall_2_processes_cpu", median(multicalls.map(\.cpu)), "us",
                   reference: "zmq_curve_roundtrip_2_processes_cpu")
        report.add("zmq_curve_throughput", try await median(runs: 3) { try ZeroMQBench.throughput(keys: keys) }, "msg/s", reference: "zmq_throughput")
    }

    if wanted("local") {
        report.add("local_send_throughput", try await median { try await LocalProcessBench.sendThroughput() }, "msg/s")
        report.add("local_roundtrip", try await median { try await LocalProcessBench.localRoundTrip() }, "us")
        var spawns: [(rate: Double, runningRate: Double, bytesPerProcess: Double)] = []
        for _ in 0..<5 { spawns.append(try LocalProcessBench.spawnInFreshProcess()) }
        report.add("spawn_rate", median(spawns.map(\.rate)), "proc/s")
        report.add("spawn_to_running_rate", median(spawns.map(\.runningRate)), "proc/s", reference: "spawn_rate")
        report.add("memory_per_idle_process", median(spawns.map(\.bytesPerProcess)), "bytes")
        report.add("genserver_call_from_task", try await median { try await LocalProcessBench.callFromTask() }, "us",
                   reference: "local_roundtrip")
        report.add("genserver_call_from_process", try await median { try await LocalProcessBench.callFromProcess() }, "us",
                   reference: "local_roundtrip")
        report.add("genserver_calls_32_tasks", try await median { try await LocalProcessBench.concurrentCallsFromTasks() }, "calls/s")
        report.add("genserver_call_hibernated", try await median { try await LocalProcessBench.callToHibernated() }, "us",
                   reference: "genserver_call_from_task")
        report.add("supervisor_exit_at_50k_children", try await median(runs: 3) { try await SupervisorBench.exitsWithManyChildren() }, "us")
        report.add("memory_per_idle_genserver", try await median(runs: 3) { try ServerMemoryBench.inFreshProcess() }, "bytes",
                   reference: "memory_per_idle_process")
    }

    if wanted("remote") {
        let remote = try await RemoteBench.measure()
        report.add("remote_roundtrip_p50", remote.p50, "us", reference: "zmq_roundtrip_p50")
        report.add("remote_roundtrip_p99", remote.p99, "us", reference: "zmq_roundtrip_p99")
        report.add("remote_roundtrip_cpu", remote.cpu, "us", reference: "zmq_curve_roundtrip_2_processes_cpu")
        report.add("remote_throughput", remote.throughput, "msg/s", reference: "zmq_throughput")
        // The same without encryption (a setting for benchmarks only), for what CURVE costs.
        let clear = try await RemoteBench.measure(encrypted: false)
        report.add("remote_roundtrip_p50_unencrypted", clear.p50, "us", reference: "remote_roundtrip_p50")
        report.add("remote_throughput_unencrypted", clear.throughput, "msg/s", reference: "remote_throughput")
        report.add("nodedown_after_kill9", try await RemoteBench.nodedownAfterKill(), "ms")
    }

    if wanted("services") {
        let services = try await RemoteBench.measureServices()
        report.add("global_register", services.register, "us")
        report.add("global_lookup", services.lookup, "us")
        report.add("rpc_multicall_3_nodes", services.multicall, "us", reference: "remote_roundtrip_p50")
        // The figure: the two peers only (this node's own share runs without the network).
        report.add("rpc_multicall_2_peers", services.multicallPeers, "us", reference: "remote_roundtrip_p50")
        report.add("rpc_call", services.call, "us", reference: "remote_roundtrip_p50")
        report.add("genserver_call_remote", services.serverCall, "us", reference: "remote_roundtrip_p50")
        // The median single call of each kind, beside the round trip's median (the figures above
        // are means, which also carry the tail).
        report.add("rpc_call_p50", services.callP50, "us", reference: "remote_roundtrip_p50")
        report.add("rpc_multicall_2_peers_p50", services.multicallPeersP50, "us", reference: "remote_roundtrip_p50")
        report.add("genserver_multicall_2_peers_p50", services.serverMulticallPeersP50, "us", reference: "remote_roundtrip_p50")
        // The three processes' CPU time per multicall, beside libzmq's for its own: on two
        // cores, what the multicall's p50 waits on.
        report.add("rpc_multicall_2_peers_cpu", services.multicallPeersCPU, "us", reference: "zmq_curve_multicall_2_processes_cpu")
        report.add("genserver_call_remote_p50", services.serverCallP50, "us", reference: "remote_roundtrip_p50")
    }

    // Issue 12's other reference: distributed Erlang/OTP on this machine, in the same run.
    if wanted("erlang") {
        if let erlang = try ErlangBench.measure() {
            report.add("erlang_roundtrip_p50", erlang.roundTripP50, "us", reference: "remote_roundtrip_p50")
            report.add("erlang_roundtrip_cpu", erlang.roundTripCPU, "us", reference: "remote_roundtrip_cpu")
            // Erlang's multicall beside its own round trip: the shape of the target for ours.
            report.add("erlang_rpc_multicall_2_nodes_p50", erlang.multicallP50, "us", reference: "erlang_roundtrip_p50")
            report.add("erlang_rpc_multicall_2_nodes_cpu", erlang.multicallCPU, "us", reference: "rpc_multicall_2_peers_cpu")
        } else {
            print("no Erlang figures: erl, erlc or epmd is not installed (make bench-deps installs erlang-base)")
        }
    }

    if wanted("codec") {
        var runs: [(binary: Double, json: Double, binaryBytes: Int, jsonBytes: Int)] = []
        for _ in 0..<3 { runs.append(try CodecBench.measure()) }
        let middle = runs.sorted { $0.binary < $1.binary }[1]
        report.add("codec_json_roundtrip", median(runs.map(\.json)), "ns/msg")
        report.add("codec_binary_roundtrip", middle.binary, "ns/msg", reference: "codec_json_roundtrip")
        report.add("codec_json_size", Double(middle.jsonBytes), "bytes")
        report.add("codec_binary_size", Double(middle.binaryBytes), "bytes", reference: "codec_json_size")
        let tables = try (0..<3).map { _ in try CodecBench.nameTable() }
        report.add("codec_name_table_100k_encode", median(tables.map(\.encode)), "ms")
        report.add("codec_name_table_100k_decode", median(tables.map(\.decode)), "ms", reference: "codec_name_table_100k_encode")
    }

    if wanted("list") {
        for entries in [80, 200] {
            report.add("list_read_by_day_\(entries)", median(try (0..<3).map { _ in try ListReadBench.measure(entries: entries) }), "ns/read")
        }
        report.add("list_8mib_decode", median(try (0..<3).map { _ in try ListReadBench.decode() }), "ms")
    }

    if wanted("web") {
        let web = try await WebBench.measure()
        report.add("http_trivial_route", web.trivial.requestsPerSecond, "req/s")
        report.add("http_trivial_route_p99", web.trivial.p99Milliseconds, "ms")
        report.add("http_mix_1_node", web.oneNode.requestsPerSecond, "req/s", reference: "http_trivial_route")
        report.add("http_mix_1_node_p99", web.oneNode.p99Milliseconds, "ms", reference: "http_trivial_route_p99")
        report.add("http_get_1_node", web.oneNodeGets.requestsPerSecond, "req/s", reference: "http_trivial_route")
        report.add("http_post_1_node", web.oneNodePosts.requestsPerSecond, "req/s", reference: "http_trivial_route")
        report.add("http_post_1_node_p99", web.oneNodePosts.p99Milliseconds, "ms", reference: "http_trivial_route_p99")
        report.add("http_mix_3_nodes", web.cluster.requestsPerSecond, "req/s", reference: "http_trivial_route")
        report.add("http_mix_3_nodes_p99", web.cluster.p99Milliseconds, "ms", reference: "http_trivial_route_p99")
        // The targets: each mix run's rate as a share of a trivial run just before it.
        report.add("http_mix_1_node_share", web.oneNodeShare, "%", reference: "http_trivial_route")
        report.add("http_mix_3_nodes_share", web.clusterShare, "%", reference: "http_trivial_route")
        report.add("http_trivial_route_cpu", web.trivial.cpuMicroseconds, "us/req")
        report.add("http_mix_1_node_cpu", web.oneNode.cpuMicroseconds, "us/req", reference: "http_trivial_route_cpu")
        report.add("http_get_1_node_cpu", web.oneNodeGets.cpuMicroseconds, "us/req", reference: "http_trivial_route_cpu")
        report.add("http_post_1_node_cpu", web.oneNodePosts.cpuMicroseconds, "us/req", reference: "http_trivial_route_cpu")
        report.add("http_mix_3_nodes_cpu", web.cluster.cpuMicroseconds, "us/req", reference: "http_trivial_route_cpu")
        report.add("http_mix_non_2xx", Double(web.oneNode.errors + web.oneNodeGets.errors + web.oneNodePosts.errors + web.cluster.errors), "responses")
        report.add("memory_per_idle_list_server", web.memory.oneNode, "bytes")
        report.add("memory_per_idle_list_server_3_nodes", web.memory.serversNode, "bytes", reference: "memory_per_idle_list_server")
        report.add("memory_per_global_name_on_a_peer", web.memory.peer, "bytes")
    }

    if wanted("store") {
        for (changes, perCommit, suffix) in [(4_000, 4, ""), (40_000, 200, "_200_a_commit")] {
            var runs: [(total: Double, user: Double)] = []
            for _ in 0..<5 { runs.append(try await StoreBench.cpuMicrosecondsPerChange(changes: changes, perCommit: perCommit)) }
            report.add("store_cpu_per_change\(suffix)", median(runs.map(\.total)), "us")
            report.add("store_user_cpu_per_change\(suffix)", median(runs.map(\.user)), "us")
        }
    }

    if wanted("catchup") {
        report.add("catch_up_10000_writes_1000_lists", try await median(runs: 3) { try await CatchUpBench.measure() }, "ms")
    }

    if groups.isEmpty {
        try report.write(to: "bench-results.json")
        print("written: bench-results.json")
    }
}

try await runBenchmarks()
