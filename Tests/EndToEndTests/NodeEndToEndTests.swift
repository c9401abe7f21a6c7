import Foundation
import Synchronization
import OSProcess
import Testing

@Suite(.serialized, .timeLimit(.minutes(3)))
struct NodeEndToEndTests {
    @Test func nodesJoinByNameThroughTheMapperTheFirstNodeStarted() async throws {
        try await withEndToEnd { e2e in
            let (httpA, httpB) = (try freePort(), try freePort())
            _ = try e2e.startNode("a", httpPort: httpA)
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            _ = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost"])
            try await e2e.waitForPeers(httpPort: httpA) { $0 == ["b@localhost"] }
            try await e2e.waitForPeers(httpPort: httpB) { $0 == ["a@localhost"] }
            #expect(!processes(matching: "--mapper-daemon --mapper-port \(e2e.mapperPort)").isEmpty)

            let names = try await e2e.client(["names"])
            #expect(names.code == 0)
            #expect(names.output.contains("name a at port") && names.output.contains("name b at port"))
            #expect(try await e2e.client(["names", "127.0.0.1"]).output == names.output)  // HOST given
            #expect(try await e2e.client(["names", "no-such-host.invalid"]).code == 1)
            let nodes = try await e2e.client(["--node", "b@localhost", "--json", "nodes"])
            #expect(nodes.code == 0)
            #expect(nodes.output.contains(#""node":"b@localhost""#) && nodes.output.contains(#""nodes":["a@localhost"]"#))
            #expect(try await e2e.client(["ping", "a@localhost"]) == (0, "pong\n"))
            #expect(try await e2e.client(["ping", "nobody@localhost"]).code == 1)
            // A client that reaches no node says why, for each node it tried.
            let refused = try await e2e.run(Binaries.client, ["--cookie", "not-the-cookie", "--node", "nobody@localhost,a@localhost", "nodes"])
            #expect(refused.code == 1 && refused.output.isEmpty)
            // (Its last line: the tests' environment asks the client for its logs too.)
            #expect(refused.errors.split(separator: "\n").last == """
                todo: no node answered: nobody@localhost: no node nobody is registered on localhost; \
                a@localhost: connection closed during the encrypted handshake (a different cookie?)
                """)
            #expect(try await e2e.client(["frobnicate"]).code == 2)
            #expect(try await e2e.client(["ping", "not a node@"]).code == 2)

            // Health and the 404 of the contract.
            let health = try #require(await httpGet(port: httpA, "/health"))
            #expect(health.status == 200 && health.body.contains(#""uptime_s""#))
            let missing = try #require(await httpGet(port: httpA, "/nope"))
            #expect(missing.status == 404 && missing.body == "not found")

            // The mapper daemon a node launched stops on SIGTERM, as epmd does.
            let daemons = processes(matching: "--mapper-daemon --mapper-port \(e2e.mapperPort)")
            for daemon in daemons { kill(daemon, SIGTERM) }
            try await e2e.waitFor("the mapper daemon to stop", within: .seconds(10)) {
                daemons.allSatisfy { kill($0, 0) != 0 || isZombie($0) }
            }
        }
    }

    /// One list of every member may be given to each node with `--connect`: a node leaves
    /// itself out. Given only itself, it has no one to join and serves at once, rather than
    /// trying itself again and again; given itself first, it still joins the others (it took
    /// itself for joined, and dialled no one).
    @Test func aNodeLeavesItselfOutOfTheNodesItJoinsThrough() async throws {
        try await withEndToEnd { e2e in
            let (soloPort, firstPort, secondPort) = (try freePort(), try freePort(), try freePort())
            let solo = try e2e.startNode("solo", httpPort: soloPort, ["--connect", "solo@localhost"])
            try await e2e.waitFor("an answer to a write", within: .seconds(20)) {
                httpPost(port: soloPort, "/add_entry?list=bob&date=2018-12-19&title=Dentist", timeout: .seconds(2)) == 200
            }
            #expect(!solo.output.contains("answers yet"), "\(solo.output)")

            _ = try e2e.startNode("first", httpPort: firstPort)
            try await e2e.waitForPeers(httpPort: firstPort) { $0.isEmpty }
            _ = try e2e.startNode("second", httpPort: secondPort, ["--connect", "second@localhost", "--connect", "first@localhost"])
            try await e2e.waitForPeers(httpPort: secondPort) { $0 == ["first@localhost"] }
        }
    }

    /// A port mapper that dies (killed, out of memory) is started again by the nodes, which
    /// register with it again: clients and joining nodes find them by name once more.
    @Test func aPortMapperThatDiesIsStartedAgainByTheNodes() async throws {
        try await withEndToEnd { e2e in
            let (httpA, httpB, httpC) = (try freePort(), try freePort(), try freePort())
            _ = try e2e.startNode("a", httpPort: httpA)
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            _ = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost"])
            try await e2e.waitForPeers(httpPort: httpA) { $0 == ["b@localhost"] }
            let mappers = { processes(matching: "--mapper-daemon --mapper-port \(e2e.mapperPort)").filter { !isZombie($0) } }
            let first = try #require(mappers().first)
            kill(first, SIGKILL)

            try await e2e.waitFor("both names in a new port mapper", within: .seconds(30)) {
                guard let names = try? await e2e.client(["names"]), names.code == 0 else { return false }
                return names.output.contains("name a at port") && names.output.contains("name b at port")
            }
            // Both nodes may have started one: one has the port, the other ended.
            try await e2e.waitFor("one port mapper", within: .seconds(10)) { mappers().count == 1 }
            #expect(mappers() != [first])
            _ = try e2e.startNode("c", httpPort: httpC, ["--connect", "b@localhost"])
            try await e2e.waitForPeers(httpPort: httpC) { Set($0) == ["a@localhost", "b@localhost"] }
        }
    }

    @Test func aSecondNodeWithATakenNameOrBadFlagsExitsWithAClearMessage() async throws {
        try await withEndToEnd { e2e in
            let httpA = try freePort()
            _ = try e2e.startNode("a", httpPort: httpA)
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            let twin = try e2e.startNode("a", httpPort: 0)
            #expect(try await twin.exitCode(within: .seconds(20)) == 1)
            #expect(twin.output.contains("already in use"))
            let busyPort = try e2e.startNode("c", httpPort: httpA)
            #expect(try await busyPort.exitCode(within: .seconds(20)) == 2)
            #expect(busyPort.output.split(separator: "\n").count == 1)
            // Another name on a's data directory: a would no longer hold a copy of its own.
            let sharer = try e2e.startNode("e", httpPort: 0, ["--data-dir", e2e.dataDirectory("a").path])
            #expect(try await sharer.exitCode(within: .seconds(20)) == 2)
            #expect(sharer.output.split(separator: "\n").last?.hasPrefix(
                "todo-node: cannot open the database in \(e2e.dataDirectory("a").path): \(e2e.dataDirectory("a").path) is in use by another node (process ") == true,
                "\(sharer.output)")
            let badFlag = try e2e.start(Binaries.node, ["--name", "d@localhost", "--mapper-port", "99999"], log: "bad.log")
            #expect(try await badFlag.exitCode(within: .seconds(20)) == 2)
            // Numbers that would trap if taken as they come: a clear line and exit 2 instead.
            let badNumbers: [([String], [String: String])] = [
                (["--tick-time", "inf"], [:]), (["--tick-time", "1e300"], [:]), (["--tick-time", "nan"], [:]),
                (["--server-idle-timeout", "1e300"], [:]), (["--server-idle-timeout", "-1"], [:]),
                ([], ["TODO_TICK_TIME": "inf"]), ([], ["TODO_TICK_TIME": "1e300"]), ([], ["TODO_SERVER_EXPIRY": "1e300"]),
                ([], ["TODO_SERVER_EXPIRY": "infinity"]), ([], ["TODO_TICK_TIME": "soon"]),
            ]
            for (index, (flags, environment)) in badNumbers.enumerated() {
                let bad = try e2e.start(Binaries.node, ["--name", "n\(index)@localhost", "--http-port", "0"] + flags,
                                        log: "bad-number-\(index).log", environment: environment)
                #expect(try await bad.exitCode(within: .seconds(20)) == 2, "\(flags) \(environment)")
                let lines = bad.output.split(separator: "\n")
                #expect(lines.count == 1 && lines.first?.hasPrefix("todo-node: ") == true, "\(bad.output)")
            }
        }
    }

    /// `--help` prints the usage and exits 0 (it exited 1 with a parser error's dump, and
    /// `todo-node --help` with a crash report); bad usage is one line naming what is wrong.
    @Test func helpPrintsTheUsageAndBadUsageSaysWhatIsWrong() async throws {
        try await withEndToEnd { e2e in
            for (binary, arguments) in [(Binaries.client, ["--help"]), (Binaries.client, ["help", "add"]), (Binaries.client, ["add", "-h"]),
                                        (Binaries.node, ["--help"]), (Binaries.node, ["-h"])] {
                let help = try await e2e.run(binary, arguments)
                #expect(help.code == 0 && help.output.contains("USAGE:") && help.errors.isEmpty, "\(arguments): \(help)")
            }
            let usageLines: [(URL, [String], String)] = [
                (Binaries.client, [], "todo: no command given: one of add, entries, update, delete, nodes, whereis, names, ping"),
                (Binaries.client, ["--node", "a@localhost", "--json"], "todo: no command given"),
                (Binaries.client, ["--node", "a@localhost", "frob"], "todo: unknown command 'frob'"),
                (Binaries.node, ["--frob"], "todo-node: Unknown option '--frob'"),
                (Binaries.node, [], "todo-node: --name is required"),
                // It started a mapper on port 34463, which libzmq made of 99999.
                (Binaries.node, ["--mapper-daemon", "--mapper-port", "99999"], "todo-node: --mapper-port must be 1 to 65535"),
            ]
            for (binary, arguments, line) in usageLines {
                let bad = try await e2e.run(binary, arguments)
                #expect(bad.code == 2 && bad.output.isEmpty, "\(arguments): \(bad)")
                #expect(bad.errors.hasPrefix(line) && bad.errors.split(separator: "\n").count == 1, "\(arguments): \(bad.errors)")
            }
        }
    }

    /// `--http-host` narrows HTTP to one address; a name is taken as the address it resolves
    /// to (`localhost` was refused as "not an IPv4 address").
    @Test func theHTTPHostNarrowsWhereHTTPListens() async throws {
        try await withEndToEnd { e2e in
            let (named, narrowed) = (try freePort(), try freePort())
            _ = try e2e.startNode("a", httpPort: named, ["--http-host", "localhost"])
            try await e2e.waitForPeers(httpPort: named) { $0.isEmpty }
            let b = try e2e.startNode("b", httpPort: narrowed, ["--http-host", "127.0.0.2"])
            try await e2e.waitFor("b's HTTP on 127.0.0.2", within: .seconds(20)) {
                b.output.contains("listening on 127.0.0.2:\(narrowed)")
            }
            #expect(await httpGet(port: narrowed, "/health") == nil, "not on 127.0.0.1")
            let unresolvable = try await e2e.run(Binaries.node, ["--name", "c@localhost", "--http-port", String(try freePort()),
                                                                 "--http-host", "no-such-host.invalid"])
            #expect(unresolvable.code == 2)
            #expect(unresolvable.errors == "todo-node: --http-host no-such-host.invalid is not an IPv4 address, nor a name that resolves to one\n")
        }
    }

    /// CONTRACT's environment variables, and the flags no other test starts a node with:
    /// TODO_HTTP_PORT, TODO_DATA_DIR, TODO_HTTP_TOKEN and --log-level on one node; --hidden and
    /// --data-dir on another; TODO_NODE for the client.
    @Test func theEnvironmentAndTheRemainingFlagsDoWhatCONTRACTSays() async throws {
        try await withEndToEnd { e2e in
            let port = try freePort()
            let dataA = e2e.directory.appendingPathComponent("data-a"), dataH = e2e.directory.appendingPathComponent("data-h")
            let a = try e2e.start(Binaries.node, ["--name", "a@localhost", "--log-level", "warning"], log: "a.log", environment: [
                "TODO_HTTP_PORT": String(port), "TODO_DATA_DIR": dataA.path, "TODO_HTTP_TOKEN": "secret-token",
            ])
            try await e2e.waitForPeers(httpPort: port) { $0.isEmpty }  // /health needs no token
            #expect(await httpGet(port: port, "/entries?list=l&date=2018-12-19")?.status == 401)
            #expect(FileManager.default.fileExists(atPath: dataA.path))
            _ = try e2e.start(Binaries.node, ["--name", "h@localhost", "--http-port", "0", "--hidden", "--connect", "a@localhost",
                                               "--data-dir", dataH.path], log: "h.log")
            try await e2e.waitFor("h among a's hidden nodes", within: .seconds(20)) {
                guard let (_, body) = await httpGet(port: port, "/health"),
                      let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return false }
                return json["hidden"] as? [String] == ["h@localhost"] && json["nodes"] as? [String] == []
            }
            #expect(FileManager.default.fileExists(atPath: dataH.path))
            let client = try e2e.start(Binaries.client, ["nodes"], log: "client-nodes.log", separateErrors: true,
                                       environment: ["TODO_NODE": "a@localhost"])
            #expect(try await client.exitCode(within: .seconds(30)) == 0)
            #expect(client.output.hasPrefix("node: a@localhost\nnodes: \nhidden: h@localhost"), "\(client.output)")
            // At `warning`, a node that only started and took a hidden node logs nothing.
            #expect(!a.output.contains(" info "), "\(a.output)")
        }
    }

    /// Every line of a node's log names the node, so that the logs of a cluster can be put
    /// together: the HTTP server's and the service group's lines too (they did not).
    @Test func everyLineOfANodesLogNamesTheNode() async throws {
        try await withEndToEnd { e2e in
            let port = try freePort()
            let node = try e2e.startNode("a", httpPort: port, ["--log-level", "debug"])
            try await e2e.waitForPeers(httpPort: port) { $0.isEmpty }
            #expect(try await e2e.curl(["-d", "", "http://127.0.0.1:\(port)/add_entry?list=l&date=2018-12-19&title=t"]) == "OK")
            node.signal(SIGTERM)
            #expect(try await node.exitCode(within: .seconds(20)) == 0)
            let lines = node.output.split(separator: "\n")
            #expect(lines.contains { $0.contains("[HummingbirdCore]") } && lines.contains { $0.contains("[ServiceLifecycle]") },
                    "\(node.output)")
            for line in lines {
                #expect(line.contains(" node=a@localhost"), "\(line)")
            }
        }
    }

    @Test func aKilledPeerIsSeenDownAtOnceAndAFrozenOneAfterTheTickTime() async throws {
        try await withEndToEnd { e2e in
            let (httpA, httpB) = (try freePort(), try freePort())
            // A long tick: only the closed connection can explain a quick nodedown.
            _ = try e2e.startNode("a", httpPort: httpA, ["--tick-time", "30"])
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            let b = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost", "--tick-time", "30"])
            try await e2e.waitForPeers(httpPort: httpA) { $0 == ["b@localhost"] }
            b.signal(SIGKILL)
            try await e2e.waitForPeers(httpPort: httpA, within: .seconds(5)) { $0.isEmpty }

            // Frozen with kill -STOP: only the tick can find it (2 s here).
            let (httpC, httpD) = (try freePort(), try freePort())
            _ = try e2e.startNode("c", httpPort: httpC, ["--tick-time", "2"])
            try await e2e.waitForPeers(httpPort: httpC) { $0.isEmpty }
            let d = try e2e.startNode("d", httpPort: httpD, ["--connect", "c@localhost", "--tick-time", "2"])
            try await e2e.waitForPeers(httpPort: httpC) { $0 == ["d@localhost"] }
            d.signal(SIGSTOP)
            try await e2e.waitForPeers(httpPort: httpC, within: .seconds(10)) { $0.isEmpty }
            #expect(e2e.programs[2].output.contains("net_tick_timeout"))
            d.signal(SIGCONT)
            // Lost without a goodbye: c keeps trying, and d comes back by itself.
            try await e2e.waitForPeers(httpPort: httpC, within: .seconds(20)) { $0 == ["d@localhost"] }
        }
    }

    /// A node stopped (`kill -STOP`) for longer than its own tick time but not its peer's
    /// keeps the peer when it goes on: the peer's heartbeats wait in its sockets meanwhile.
    /// It took its own pause for its peers' silence and dropped every one of them (and every
    /// `todo` client, whose tick time is the default) as it woke.
    @Test func aNodeStoppedPastItsTickTimeKeepsItsPeersWhenItGoesOn() async throws {
        try await withEndToEnd { e2e in
            let (httpC, httpD) = (try freePort(), try freePort())
            let c = try e2e.startNode("c", httpPort: httpC, ["--tick-time", "2"])
            try await e2e.waitForPeers(httpPort: httpC) { $0.isEmpty }
            _ = try e2e.startNode("d", httpPort: httpD, ["--connect", "c@localhost", "--tick-time", "30"])
            try await e2e.waitForPeers(httpPort: httpC) { $0 == ["d@localhost"] }
            // The list's server runs on d: a request through c needs c's transport once it goes on.
            #expect(await offPool { httpPost(port: httpD, "/add_entry?list=paused&date=2018-12-19&title=Dentist") } == 200)
            c.signal(SIGSTOP)
            try await Task.sleep(for: .seconds(4))  // the pause itself, two of c's tick times
            c.signal(SIGCONT)
            #expect(await offPool { httpPost(port: httpC, "/add_entry?list=paused&date=2018-12-20&title=Vet") } == 200)
            #expect(!c.output.contains("not responding"), "\(c.output)")
            #expect(await e2e.peers(httpPort: httpC) == ["d@localhost"])
        }
    }

    /// Clients that held HTTP connections (idle ones are enough) could take every
    /// descriptor a node may open: it then could not let a peer join, and its log blamed a
    /// wrong cookie. Now HTTP gets three quarters of them at most, and the rest wait.
    @Test func clientsHoldingHTTPConnectionsDoNotKeepAPeerFromJoining() async throws {
        try await withEndToEnd { e2e in
            let httpA = try freePort()
            let a = try e2e.startNode("a", httpPort: httpA, ulimit: "-n 300")  // room for 300 descriptors
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            // This process holds the 300 clients' ends, beside what tests running alongside hold.
            try #require(DescriptorLimit.raiseToHard() >= 1_000, "the test needs about 1,000 descriptors")
            let held = (0..<300).compactMap { _ in connectToLoopback(port: httpA) }
            defer { for descriptor in held { close(descriptor) } }
            #expect(held.count == 300)
            let httpB = try freePort()
            _ = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost"])
            try await e2e.waitForPeers(httpPort: httpB) { $0 == ["a@localhost"] }
            #expect(a.child.isRunning)
        }
    }

    /// Strangers that connect to a node's cluster and heartbeat ports from many addresses and
    /// say nothing, more of them than the node has descriptors, and connect again whenever
    /// cut. libzmq held every one for its handshake time, so the node ran out of descriptors
    /// (once its database could not open a file). Now it holds a few per port, and serves and
    /// lets a peer join meanwhile. The real binary under the whole attack: the bounds
    /// themselves are shown by `AttackTests`, which fail without them. This one passes without
    /// them too, only slower (libzmq, out of descriptors, stops accepting until its handshake
    /// time frees some, and NIO retries its accepts).
    @Test func aFloodOfSilentConnectionsDoesNotStarveANodeOfDescriptors() async throws {
        try await withEndToEnd { e2e in
            let httpA = try freePort()
            let (clusterPort, heartbeatPort) = try twoFreePortsInARow()
            let a = try e2e.startNode("a", httpPort: httpA, ulimit: "-n 300",
                                      ["--listen-port-min", "\(clusterPort)", "--listen-port-max", "\(heartbeatPort)"])
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            try #require(DescriptorLimit.raiseToHard() >= 2_000, "the test needs about 2,000 descriptors")
            let ports = [clusterPort, heartbeatPort]
            // 10 addresses, 18 connections each, on both ports: 360 in all.
            let flood = SilentFlood(ports: ports, sources: (2...11).map { "127.0.0.\($0)" }, each: 18)
            let flooding = Task.detached { await flood.run() }
            defer { flood.stop() }
            try await e2e.waitFor("the flood's first wave", within: .seconds(20)) { flood.waves.load(ordering: .relaxed) >= 1 }
            #expect(await offPool { httpPost(port: httpA, "/add_entry?list=flooded&date=2018-12-19&title=Dentist") } == 200)
            let entries = await httpGet(port: httpA, "/entries?list=flooded&date=2018-12-19")
            #expect(entries?.status == 200 && entries?.body.contains("Dentist") == true, "\(String(describing: entries))")
            let httpB = try freePort()
            _ = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost"])
            try await e2e.waitForPeers(httpPort: httpB) { $0 == ["a@localhost"] }
            flood.stop()
            await flooding.value
            #expect(flood.waves.load(ordering: .relaxed) >= 2, "the flood went on while the node was used")
            // One line a minute for all that strangers cause: the first port cut from names itself.
            #expect(a.output.contains("too many connections to the"), "\(a.output)")
            #expect(!a.output.contains("SQLite error"), "\(a.output)")
        }
    }

    /// Many systems give a program a soft limit of 1,024 descriptors under a far higher hard
    /// one; a node takes the hard one, as Go's runtime does, since its HTTP clients get a
    /// share of what it has.
    @Test func aNodeRaisesItsSoftLimitOnDescriptorsToTheHardOne() async throws {
        try await withEndToEnd { e2e in
            let http = try freePort()
            let a = try e2e.startNode("a", httpPort: http, ulimit: "-Sn 200")
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            let limits = try String(contentsOfFile: "/proc/\(a.pid)/limits", encoding: .utf8)
            let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
            let numbers = line.split(separator: " ").compactMap { Int($0) }
            try #require(numbers.count == 2, "\(line)")
            #expect(numbers[0] == min(numbers[1], 1 << 20), "\(line)")
            #expect(numbers[0] > 200 || numbers[1] <= 200, "\(line)")
        }
    }

    /// A node whose log reader has gone (`todo-node … 2>&1 | tee log`, and tee ended) goes on
    /// serving and drops its lines, as an Erlang node does.
    @Test func aNodeWhoseLogReaderHasGoneGoesOn() async throws {
        try await withEndToEnd { e2e in
            let http = try freePort()
            let a = try startNodeLoggingIntoAPipe(e2e, httpPort: http, readerStays: false)
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            for list in ["one", "two"] {  // each starts a list server, which logs a line
                #expect(await offPool { httpPost(port: http, "/add_entry?list=\(list)&date=2018-12-19&title=Dentist") } == 200)
                #expect(await httpGet(port: http, "/entries?list=\(list)&date=2018-12-19")?.body == "2018-12-19 Dentist")
            }
            #expect(a.child.isRunning)
        }
    }

    /// A node whose log reader stops reading (`| less`, paused) goes on too: it drops lines
    /// once the pipe is full, where it stopped at the line that filled it.
    @Test func aNodeWhoseLogReaderDoesNotReadGoesOn() async throws {
        try await withEndToEnd { e2e in
            let http = try freePort()
            let a = try startNodeLoggingIntoAPipe(e2e, httpPort: http, readerStays: true)
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            // Each new list logs a line of some 300 bytes: 400 of them are twice the pipe's 64 KB.
            for number in 0..<400 {
                let list = "list-\(number)-" + String(repeating: "x", count: 190)
                let status = await offPool { httpPost(port: http, "/add_entry?list=\(list)&date=2018-12-19&title=Dentist", timeout: .seconds(5)) }
                try #require(status == 200, "list \(number): \(status.map(String.init) ?? "no answer")")
            }
            #expect(a.child.isRunning)
        }
    }

    /// A node started with its standard streams closed (`<&- >&- 2>&-`) holds /dev/null on
    /// descriptors 0 to 2, so that its log lines never land in a socket or an event
    /// descriptor that took their number. The client too.
    @Test func aNodeStartedWithClosedStandardStreamsKeepsThemOnDevNull() async throws {
        try await withEndToEnd { e2e in
            let http = try freePort()
            let a = try e2e.startNode("a", httpPort: http, shell: #"exec "$0" "$@" <&- >&- 2>&-"#)
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            for descriptor in 0...2 {
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(a.pid)/fd/\(descriptor)")
                #expect(target == "/dev/null", "descriptor \(descriptor) is \(target)")
            }
            #expect(await offPool { httpPost(port: http, "/add_entry?list=bob&date=2018-12-19&title=Dentist") } == 200)
            let client = try e2e.start(URL(fileURLWithPath: "/bin/sh"),
                                       ["-c", #"exec "$0" --node a@localhost add bob 2018-12-19 Gym <&- >&- 2>&-"#, Binaries.client.path],
                                       log: "todo-0.log")
            #expect(try await client.exitCode(within: .seconds(30)) == 0)
            #expect(await httpGet(port: http, "/entries?list=bob&date=2018-12-19")?.body == "2018-12-19 Dentist\n2018-12-19 Gym")
            #expect(a.child.isRunning)
        }
    }

    /// Starts node a with its output into a pipe that nobody reads: the shell opens it for
    /// reading and writing (so that opening it to write does not wait), and either closes its
    /// own end as it becomes the node (the reader has gone), or leaves it open in the node,
    /// which never reads it (the reader stays, and does not read).
    private func startNodeLoggingIntoAPipe(_ e2e: EndToEnd, httpPort: Int, readerStays: Bool) throws -> RunningProgram {
        let pipe = e2e.directory.appendingPathComponent("log-pipe").path
        let script = #"mkfifo "\#(pipe)" && exec 3<>"\#(pipe)" && exec "$0" "$@" >"\#(pipe)" 2>&1"# + (readerStays ? "" : " 3<&-")
        return try e2e.startNode("a", httpPort: httpPort, shell: script)
    }

    @Test func randomBytesOnEveryPortDoNotKillANode() async throws {
        try await withEndToEnd { e2e in
            let httpA = try freePort()
            let a = try e2e.startNode("a", httpPort: httpA)
            try await e2e.waitForPeers(httpPort: httpA) { $0.isEmpty }
            // HTTP, cluster inbox and heartbeats. /proc/net/tcp is read in pieces and may skip
            // a line while other tests open and close sockets: read it again until all show.
            var own = listeningPorts(of: a.pid)
            let deadline = ContinuousClock.now + .seconds(10)
            while own.count < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                own = listeningPorts(of: a.pid)
            }
            let ports = own + [e2e.mapperPort]
            #expect(own.count >= 3, "node a (HTTP \(httpA)) listens on \(own); its log: \(a.output)")
            var generator = SystemRandomNumberGenerator()
            for port in ports {
                for size in [1, 10, 64, 1_000, 100_000] {
                    let junk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    _ = await offPool { exchange(port: port, junk, timeout: .milliseconds(200)) }
                }
                // A ZMTP greeting that promises a huge frame, then stops.
                let greeting: [UInt8] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0] + [UInt8](repeating: 0x41, count: 60)
                _ = await offPool { exchange(port: port, greeting, timeout: .milliseconds(200)) }
            }
            let httpB = try freePort()
            _ = try e2e.startNode("b", httpPort: httpB, ["--connect", "a@localhost"])
            try await e2e.waitForPeers(httpPort: httpA) { $0 == ["b@localhost"] }
            #expect(a.child.isRunning)
        }
    }
}

/// Silent connections to `ports`, `each` from every one of `sources` to every port, opened
/// again whenever the other side closes one, as an attacker's flood would be: a wave looks
/// at all of them and replaces those that ended, every 50 ms until stopped.
final class SilentFlood: Sendable {
    let ports: [Int]
    let sources: [String]
    let each: Int
    /// Waves done, the first once every connection was opened.
    let waves = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)

    init(ports: [Int], sources: [String], each: Int) {
        (self.ports, self.sources, self.each) = (ports, sources, each)
    }

    func run() async {
        await offPool { [self] in
            var open: [(port: Int, source: String, descriptor: Int32?)] = ports.flatMap { port in
                sources.flatMap { source in (0..<each).map { _ in (port, source, nil as Int32?) } }
            }
            while !stopping.load(ordering: .relaxed) {
                for index in open.indices {
                    if let descriptor = open[index].descriptor {
                        guard hasEnded(descriptor) else { continue }
                        close(descriptor)
                    }
                    open[index].descriptor = connectToLoopback(port: open[index].port, from: open[index].source, timeout: .milliseconds(100))
                }
                waves.add(1, ordering: .relaxed)
                usleep(50_000)  // the flood's pace, not a wait for an event
            }
            for connection in open { if let descriptor = connection.descriptor { close(descriptor) } }
        }
    }

    func stop() { stopping.store(true, ordering: .relaxed) }
}
