import ArgumentParser
import Cluster
import Foundation
import Logging
import Processes

/// Why a client command failed: printed as one line on stderr, exit code 1.
struct ClientFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The options every command shares, and the hidden node the client joins as.
struct ClientOptions: ParsableArguments {
    @Option(help: "The node(s) to talk to, comma-separated; the first that answers is used (env TODO_NODE, default todo1@localhost).")
    var node: String?

    @Option(help: "The shared secret (else TODO_COOKIE, else ~/.todo.cookie).")
    var cookie: String?

    @Option(help: "The port mapper's port (env TODO_MAPPER_PORT).")
    var mapperPort: Int?

    @Flag(help: "Print JSON.")
    var json = false

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func targets() throws -> [NodeName] {
        let list = node ?? environment["TODO_NODE"] ?? "todo1@localhost"
        let names = try list.split(separator: ",").map { try NodeName(parsing: String($0).trimmingCharacters(in: .whitespaces)) }
        guard !names.isEmpty else { throw ValidationError("--node names no node") }
        return names
    }

    func resolvedMapperPort() throws -> Int {
        if let mapperPort {
            guard (1...65535).contains(mapperPort) else { throw ValidationError("--mapper-port must be 1 to 65535") }
            return mapperPort
        }
        if let text = environment["TODO_MAPPER_PORT"] {
            guard let port = Int(text), (1...65535).contains(port) else { throw ValidationError("TODO_MAPPER_PORT=\(text) is not a port") }
            return port
        }
        return ClusterSettings.defaultMapperPort
    }

    /// Joins as a hidden node, runs `work`, and leaves.
    func withHiddenNode<T>(near targets: [NodeName], _ work: (ClusterNode) async throws -> T) async throws -> T {
        let local = targets.allSatisfy { $0.host == "localhost" || $0.host.hasPrefix("127.") }
        let host = local ? "localhost" : NodeName.shortHostName()
        var settings = ClusterSettings(node: NodeName(name: "todo-client-\(getpid())", host: host), cookie: try Cookie.resolve(flag: cookie))
        settings.hidden = true
        settings.registerWithMapper = false
        settings.mapperPort = try resolvedMapperPort()
        settings.connectTimeout = .seconds(3)
        var logger = Logger(label: "todo")
        // TODO_LOG_LEVEL=info shows why a connection failed (stderr).
        logger.logLevel = environment["TODO_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        let node = try await ClusterNode.start(settings, logger: logger)
        do {
            let result = try await work(node)
            await node.shutdown()
            return result
        } catch {
            await node.shutdown()
            throw error
        }
    }

    /// The first target that answers, or a failure naming each with why it did not.
    func firstAnswering(_ targets: [NodeName], from node: ClusterNode) async throws -> NodeName {
        var failures: [String] = []
        for target in targets {
            do throws(ConnectFailure) {
                try await node.reach(target)
                return target
            } catch {
                failures.append("\(target): \(error.reason)")
            }
        }
        throw ClientFailure("no node answered: \(failures.joined(separator: "; "))")
    }

    func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
