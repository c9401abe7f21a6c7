import Foundation
import Testing

/// The to-do cluster as a user runs it: real `todo-node` processes, `curl` and `todo`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TodoEndToEndTests {
    /// The book's 12.2.4 through curl: write through node1, read through node2, stop node1,
    /// read through node2 again.
    @Test func theBooksTwoNodeScenarioThroughCurl() async throws {
        try await withEndToEnd { e2e in
            let (http1, http2) = (try freePort(), try freePort())
            let node1 = try e2e.startNode("node1", httpPort: http1)
            try await e2e.waitForPeers(httpPort: http1) { $0.isEmpty }
            let node2 = try e2e.startNode("node2", httpPort: http2, ["--connect", "node1@localhost"])
            try await e2e.waitForPeers(httpPort: http1) { $0 == ["node2@localhost"] }

            #expect(try await e2e.curl(["-d", "", "http://localhost:\(http1)/add_entry?list=bob&date=2018-12-19&title=Dentist"]) == "OK")
            #expect(try await e2e.curl(["http://localhost:\(http2)/entries?list=bob&date=2018-12-19"]) == "2018-12-19 Dentist")
            #expect(node1.output.contains("Starting to-do server for bob."))
            #expect(!node2.output.contains("Starting to-do server for bob."))
            for name in ["node1", "node2"] {
                #expect(FileManager.default.fileExists(atPath: e2e.dataDirectory(name).appendingPathComponent("todo.sqlite").path))
            }

            node1.signal(SIGTERM)
            #expect(try await node1.exitCode(within: .seconds(15)) == 0)
            try await e2e.waitForPeers(httpPort: http2) { $0.isEmpty }
            #expect(try await e2e.curl(["http://localhost:\(http2)/entries?list=bob&date=2018-12-19"]) == "2018-12-19 Dentist")
            #expect(node2.output.contains("Starting to-do server for bob."))
            #expect(!node2.output.contains("Store failed"))
        }
    }

    /// The same through the `todo` client, and the data kept across a restart.
    @Test func theBooksScenarioThroughTodoAndDataSurvivesARestart() async throws {
        try await withEndToEnd { e2e in
            let (http1, http2) = (try freePort(), try freePort())
            let node1 = try e2e.startNode("node1", httpPort: http1)
            try await e2e.waitForPeers(httpPort: http1) { $0.isEmpty }
            _ = try e2e.startNode("node2", httpPort: http2, ["--connect", "node1@localhost"])
            try await e2e.waitForPeers(httpPort: http1) { $0 == ["node2@localhost"] }

            #expect(try await e2e.todo(["--node", "node1@localhost", "add", "bob", "2018-12-19", "Dentist"]) == "1.node1 2018-12-19 Dentist\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "entries", "bob", "2018-12-19"]) == "2018-12-19 Dentist\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "whereis", "bob"]) == "node1@localhost\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "--json", "entries", "bob", "2018-12-19"])
                    == #"[{"date":"2018-12-19","id":"1.node1","title":"Dentist"}]"# + "\n")
            #expect(try await e2e.client(["--node", "node2@localhost", "add", "bob", "2018-02-30", "x"]).code == 2)
            #expect(try await e2e.client(["--node", "node2@localhost", "delete", "bob", "7.node1"]).code == 1)
            #expect(try await e2e.client(["--node", "node2@localhost", "delete", "bob", "seven"]).code == 2)
            // update and delete, each read back through the other node.
            #expect(try await e2e.todo(["--node", "node1@localhost", "add", "alice", "2018-12-20", "Dinner"]) == "1.node1 2018-12-20 Dinner\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "update", "alice", "1.node1", "--date", "2018-12-21", "--title", "Lunch"])
                    == "1.node1 2018-12-21 Lunch\n")
            #expect(try await e2e.todo(["--node", "node1@localhost", "--json", "update", "alice", "1.node1", "--title", "Brunch"])
                    == #"{"date":"2018-12-21","id":"1.node1","title":"Brunch"}"# + "\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "entries", "alice", "2018-12-21"]) == "2018-12-21 Brunch\n")
            #expect(try await e2e.client(["--node", "node2@localhost", "update", "alice", "1.node1"]).code == 2)  // no --date, no --title
            #expect(try await e2e.client(["--node", "node2@localhost", "update", "alice", "9.node1", "--title", "x"]).code == 1)
            #expect(try await e2e.todo(["--node", "node2@localhost", "delete", "alice", "1.node1"]) == "deleted 1.node1\n")
            #expect(try await e2e.todo(["--node", "node1@localhost", "entries", "alice", "2018-12-21"]) == "")

            node1.signal(SIGTERM)
            #expect(try await node1.exitCode(within: .seconds(15)) == 0)
            // A graceful stop leaves the data in the database file, and nothing of the deleted
            // entry in any of the node's files: not its title, nor the titles it had before.
            let directory = e2e.dataDirectory("node1")
            var files = Data()
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("todo.sqlite") {
                files += try #require(FileManager.default.contents(atPath: directory.appendingPathComponent(file).path))
            }
            #expect(files.range(of: Data("Dentist".utf8)) != nil)
            for title in ["Dinner", "Lunch", "Brunch"] { #expect(files.range(of: Data(title.utf8)) == nil, "\(title)") }
            let wal = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("todo.sqlite-wal").path)
            #expect((wal?[.size] as? Int ?? 0) == 0)
            try await e2e.waitForPeers(httpPort: http2) { $0.isEmpty }
            #expect(try await e2e.todo(["--node", "node2@localhost", "entries", "bob", "2018-12-19"]) == "2018-12-19 Dentist\n")
            #expect(try await e2e.todo(["--node", "node2@localhost", "add", "bob", "2018-12-19", "Gym"]) == "2.node2 2018-12-19 Gym\n")

            // node1 comes back alone, from its own copy: the book's naive replication, no catch-up.
            _ = try e2e.startNode("node1", httpPort: http1)
            try await e2e.waitForPeers(httpPort: http1) { $0.isEmpty }
            let alone = try await e2e.todo(["--node", "node1@localhost", "entries", "bob", "2018-12-19"])
            #expect(alone == "2018-12-19 Dentist\n")
        }
    }

    /// kill -9 of the node running a list's server: its global name goes with it (issue 4),
    /// and the next request starts the server on a survivor, with the data.
    @Test func theListServerMovesToASurvivorAfterKill9() async throws {
        try await withEndToEnd { e2e in
            let ports = [try freePort(), try freePort(), try freePort()]
            let first = try e2e.startNode("n1", httpPort: ports[0])
            try await e2e.waitForPeers(httpPort: ports[0]) { $0.isEmpty }
            for index in 2...3 { _ = try e2e.startNode("n\(index)", httpPort: ports[index - 1], ["--connect", "n1@localhost"]) }
            try await e2e.waitForPeers(httpPort: ports[0]) { $0 == ["n2@localhost", "n3@localhost"] }
            try await e2e.waitForPeers(httpPort: ports[1]) { $0 == ["n1@localhost", "n3@localhost"] }

            for title in ["Dentist", "Gym", "Movies"] {
                #expect(try await e2e.curl(["-d", "", "http://localhost:\(ports[0])/add_entry?list=alice&date=2018-12-19&title=\(title)"]) == "OK")
            }
            #expect(try await e2e.todo(["--node", "n3@localhost", "whereis", "alice"]) == "n1@localhost\n")

            first.signal(SIGKILL)
            try await e2e.waitForPeers(httpPort: ports[1], within: .seconds(10)) { $0 == ["n3@localhost"] }
            try await e2e.waitForWhereis("alice", via: "n3@localhost", toBe: "none")
            #expect(try await e2e.curl(["http://localhost:\(ports[1])/entries?list=alice&date=2018-12-19"])
                    == "2018-12-19 Dentist\n2018-12-19 Gym\n2018-12-19 Movies")
            #expect(try await e2e.todo(["--node", "n3@localhost", "whereis", "alice"]) == "n2@localhost\n")
            #expect(try await e2e.todo(["--node", "n3@localhost", "add", "alice", "2018-12-20", "Swim"]) == "4.n2 2018-12-20 Swim\n")
        }
    }

    /// `--server-idle-timeout`: the server stops, and the next request restores its data.
    @Test func anIdleServerStopsAndComesBackWithItsData() async throws {
        try await withEndToEnd { e2e in
            let http = try freePort()
            let node = try e2e.startNode("solo", httpPort: http, ["--server-idle-timeout", "1"])
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            #expect(try await e2e.curl(["-d", "", "http://localhost:\(http)/add_entry?list=carol&date=2018-12-19&title=Buy+oat%20milk"]) == "OK")
            #expect(try await e2e.todo(["--node", "solo@localhost", "whereis", "carol"]) == "solo@localhost\n")
            try await e2e.waitForWhereis("carol", via: "solo@localhost", toBe: "none")
            #expect(node.output.contains("Stopping to-do server for carol"))
            #expect(try await e2e.curl(["http://localhost:\(http)/entries?list=carol&date=2018-12-19"]) == "2018-12-19 Buy oat milk")
            #expect(node.output.components(separatedBy: "Starting to-do server for carol.").count == 3)
        }
    }
}

/// Beyond the book: a node that was away catches up when it comes back.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CatchUpEndToEndTests {
    /// Stop a node, write, restart it, stop the others, and read everything from it alone.
    @Test func aRestartedNodeCatchesUpAndServesEverythingAlone() async throws {
        try await withEndToEnd { e2e in
            let (nodes, ports) = try await e2e.startMesh(3)
            #expect(try await e2e.curl(["-d", "", "http://localhost:\(ports[0])/add_entry?list=ivy&date=2018-12-19&title=Dentist"]) == "OK")

            nodes[2].signal(SIGKILL)
            try await e2e.waitForPeers(httpPort: ports[0]) { $0 == ["n2@localhost"] }
            for (index, title) in ["Gym", "Movies", "Swim"].enumerated() {
                #expect(try await e2e.curl(["-d", "", "http://localhost:\(ports[index % 2])/add_entry?list=ivy&date=2018-12-19&title=\(title)"]) == "OK")
                #expect(try await e2e.todo(["--node", "n2@localhost", "add", "other-\(index)", "2018-12-20", title]).hasPrefix("1.n"))
            }

            let back = try e2e.startNode("n3", httpPort: ports[2], e2e.meshFlags(for: 3, of: 3))
            try await e2e.waitForPeers(httpPort: ports[2]) { $0.count == 2 }
            try await e2e.waitFor("n3 to catch up", within: .seconds(20)) { back.output.contains("caught up") }
            for node in nodes.prefix(2) {
                node.signal(SIGTERM)
                _ = try await node.exitCode(within: .seconds(15))
            }
            try await e2e.waitForPeers(httpPort: ports[2]) { $0.isEmpty }
            #expect(try await e2e.curl(["http://localhost:\(ports[2])/entries?list=ivy&date=2018-12-19"])
                    == "2018-12-19 Dentist\n2018-12-19 Gym\n2018-12-19 Movies\n2018-12-19 Swim")
            for (index, title) in ["Gym", "Movies", "Swim"].enumerated() {
                #expect(try await e2e.todo(["--node", "n3@localhost", "entries", "other-\(index)", "2018-12-20"]) == "2018-12-20 \(title)\n")
            }
        }
    }
}
