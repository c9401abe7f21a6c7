import ArgumentParser
import Cluster
import Foundation
import Processes

/// A client command; `main` runs `execute` itself, to map failures to the contract's exit codes.
protocol ClientCommand: AsyncParsableCommand {
    func execute() async throws
}

extension ClientCommand {
    func run() async throws { try await execute() }
}

struct TodoClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "todo",
        abstract: "The to-do cluster's command-line client; it joins the cluster as a hidden node.",
        subcommands: [Add.self, Entries.self, Update.self, Delete.self, Nodes.self, Whereis.self, Names.self, Ping.self])
}

/// `todo nodes`: the target node and its visible and hidden peers.
struct Nodes: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Show a node and its visible and hidden peers.")
    @OptionGroup var options: ClientOptions

    struct Output: Encodable {
        let node: String
        let nodes: [String]
        let hidden: [String]
    }

    func execute() async throws {
        let targets = try options.targets()
        let reply = try await options.withHiddenNode(near: targets) { node -> NodesReply in
            let target = try await options.firstAnswering(targets, from: node)
            return try await node.runtime.withProcess { context in
                let tag = context.runtime.makeRef()
                context.runtime.send(NodesQuery(from: context.pid, tag: tag), toName: "net_kernel", on: target.description)
                guard let reply = try await context.receive(timeout: .seconds(5), { ($0 as? NodesReply).flatMap { $0.tag == tag ? $0 : nil } }) else {
                    throw ClientFailure("\(target) did not answer")
                }
                return reply
            }
        }
        let hidden = reply.hidden.filter { !$0.hasPrefix("todo-client-\(getpid())@") }
        if options.json {
            try options.printJSON(Output(node: reply.node, nodes: reply.visible, hidden: hidden))
        } else {
            print("node: \(reply.node)")
            print("nodes: \(reply.visible.joined(separator: " "))")
            print("hidden: \(hidden.joined(separator: " "))")
        }
    }
}

/// `todo names [HOST]`: the names registered in a host's port mapper, like `epmd -names`.
struct Names: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "List the node names registered in the port mapper of HOST.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The host (default this host).") var host = "localhost"

    struct Entry: Encodable {
        let name: String
        let port: Int
    }

    func execute() async throws {
        let port = try options.resolvedMapperPort()
        let client = PortMapperClient(host: host, port: port)
        let names: [(name: String, port: Int)]
        do {
            names = try await Task.detached { try client.names() }.value
        } catch {
            throw ClientFailure("\(error)")
        }
        if options.json {
            try options.printJSON(names.map { Entry(name: $0.name, port: $0.port) })
        } else {
            print("port mapper: up and running on port \(port) with data:")
            for entry in names { print("name \(entry.name) at port \(entry.port)") }
        }
    }
}

/// `todo ping NODE`: `pong` when the node answers (exit 0), else `pang` (exit 1).
struct Ping: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Print pong if NODE answers, pang if not.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The node, NAME@HOST.") var target: String

    func execute() async throws {
        let name = try NodeName(parsing: target)
        let answered = try await options.withHiddenNode(near: [name]) { await $0.ping(name) }
        print(answered ? "pong" : "pang")
        if !answered { throw ExitCode(1) }
    }
}
