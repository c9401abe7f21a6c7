import ArgumentParser
import Cluster
import Foundation
import Logging

/// The flags of `todo-node` (see CONTRACT.md), and how they become settings.
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "todo-node",
        abstract: "One node of the to-do cluster.")

    @Option(help: "The node's name, NAME@HOST (HOST defaults to this machine's short name).")
    var name: String?

    @Option(help: "The shared secret (else TODO_COOKIE, else ~/.todo.cookie).")
    var cookie: String?

    @Option(help: "HTTP port; 0 for none (env TODO_HTTP_PORT, default 5454).")
    var httpPort: Int?

    @Option(help: "Listen for HTTP on this IPv4 address only, or on the one this name resolves to (default: all).")
    var httpHost: String?

    @Option(help: "Require 'Authorization: Bearer TOKEN' on every HTTP route but /health (env TODO_HTTP_TOKEN, which other users cannot see).")
    var httpToken: String?

    @Option(help: "Data directory (env TODO_DATA_DIR, default ./persist/NAME).")
    var dataDir: String?

    @Option(help: "Join the cluster through this node (repeatable).")
    var connect: [String] = []

    @Flag(help: "Connect without becoming a member.")
    var hidden = false

    @Option(help: "Lowest port for the node's cluster sockets.")
    var listenPortMin: Int?

    @Option(help: "Highest port for the node's cluster sockets.")
    var listenPortMax: Int?

    @Option(help: "The port mapper's port (env TODO_MAPPER_PORT, default \(ClusterSettings.defaultMapperPort)).")
    var mapperPort: Int?

    @Option(help: "Seconds of silence before a peer is declared down (env TODO_TICK_TIME, default 15).")
    var tickTime: Double?

    @Option(help: "Seconds before an idle list server stops (env TODO_SERVER_EXPIRY, default 60).")
    var serverIdleTimeout: Double?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Flag(help: .hidden)
    var mapperDaemon = false

    /// Everything the node needs, from the flags and the environment.
    struct Settings {
        var cluster: ClusterSettings
        var connect: [NodeName]
        var httpPort: Int
        var httpHost: String
        var httpToken: String?
        var dataDirectory: String
        var serverIdleTimeout: Duration
        var logLevel: Logger.Level
    }

    func validate() throws {
        // Checked for the daemon too: libzmq takes port 99999 as 34463 (its low 16 bits).
        if let mapperPort, !(1...65535).contains(mapperPort) { throw ValidationError("--mapper-port must be 1 to 65535") }
        if mapperDaemon { return }
        if let httpPort, !(0...65535).contains(httpPort) { throw ValidationError("--http-port must be 0 to 65535") }
        if (listenPortMin == nil) != (listenPortMax == nil) { throw ValidationError("--listen-port-min and --listen-port-max go together") }
        if let low = listenPortMin, let high = listenPortMax, !(1 <= low && low <= high && high <= 65535) {
            throw ValidationError("--listen-port-min must be at most --listen-port-max, both 1 to 65535")
        }
        if let tickTime { _ = try Self.seconds(tickTime, "--tick-time", upTo: Self.maxTickTime) }
        if let serverIdleTimeout { _ = try Self.seconds(serverIdleTimeout, "--server-idle-timeout", upTo: Self.maxServerIdleTimeout) }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        // Asked here, not in `validate`: ArgumentParser validates before it reports an
        // unknown flag, and `todo-node --frob` is to say so, not that --name is missing.
        guard let name else { throw ValidationError("--name is required (NAME@HOST)") }
        let node = try NodeName(parsing: name)
        var cluster = ClusterSettings(node: node, cookie: try Cookie.resolve(flag: cookie, environment: environment))
        cluster.hidden = hidden
        cluster.mapperPort = try mapperPort ?? environment.int("TODO_MAPPER_PORT", in: 1...65535) ?? ClusterSettings.defaultMapperPort
        if let tickTime {
            cluster.tickTime = try Self.seconds(tickTime, "--tick-time", upTo: Self.maxTickTime)
        } else if let tick = try environment.seconds("TODO_TICK_TIME", upTo: Self.maxTickTime) {
            cluster.tickTime = tick
        }
        if let low = listenPortMin, let high = listenPortMax { cluster.listenPorts = low...high }
        cluster.mapperLauncher = [CommandLine.arguments[0], "--mapper-daemon", "--mapper-port", String(cluster.mapperPort)]
        let expiry = try serverIdleTimeout.map { try Self.seconds($0, "--server-idle-timeout", upTo: Self.maxServerIdleTimeout) }
            ?? environment.seconds("TODO_SERVER_EXPIRY", upTo: Self.maxServerIdleTimeout) ?? .seconds(60)
        return Settings(
            cluster: cluster,
            connect: try connect.map { try NodeName(parsing: $0) },
            httpPort: try httpPort ?? environment.int("TODO_HTTP_PORT", in: 0...65535) ?? 5454,
            httpHost: try Self.httpAddress(httpHost),
            httpToken: try Self.token(httpToken ?? environment["TODO_HTTP_TOKEN"]),
            dataDirectory: dataDir ?? environment["TODO_DATA_DIR"] ?? "./persist/\(node.name)",
            serverIdleTimeout: expiry,
            logLevel: logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .info)
    }
}

extension NodeCommand {
    /// The HTTP token, if any: printable ASCII without spaces, as a bearer token is.
    static func token(_ text: String?) throws -> String? {
        guard let text else { return nil }
        guard !text.isEmpty, text.utf8.count <= 1_024, text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ValidationError("--http-token (or TODO_HTTP_TOKEN) must be 1 to 1024 printable characters without spaces")
        }
        return text
    }

    /// `--http-host` as the IPv4 address HTTP listens on: an address as it is, a name as it
    /// resolves (`localhost`); every address when not given.
    static func httpAddress(_ host: String?) throws -> String {
        guard let host else { return "0.0.0.0" }
        do {
            return try resolveHost(host)
        } catch {
            throw ValidationError("--http-host \(host) is not an IPv4 address, nor a name that resolves to one")
        }
    }

    static let maxTickTime = 3_600.0
    static let maxServerIdleTimeout = 365 * 86_400.0

    /// A number of seconds as a Duration: finite, positive and at most `limit`, or a clear
    /// error naming `what` (never a trap on `inf`, `nan` or `1e300`).
    static func seconds(_ value: Double, _ what: String, upTo limit: Double) throws -> Duration {
        guard value.isFinite, value > 0, value <= limit else {
            throw ValidationError("\(what) must be a number of seconds above 0 and at most \(Int(limit)), not \(value)")
        }
        return .milliseconds(Int((value * 1_000).rounded(.up)))
    }
}

extension [String: String] {
    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = self[key] else { return nil }
        guard let value = Int(text), range.contains(value) else { throw ValidationError("\(key)=\(text) is not a number in \(range)") }
        return value
    }

    func seconds(_ key: String, upTo limit: Double) throws -> Duration? {
        guard let text = self[key] else { return nil }
        guard let value = Double(text) else { throw ValidationError("\(key)=\(text.prefix(40)) is not a number of seconds") }
        return try NodeCommand.seconds(value, "\(key)=\(text.prefix(40))", upTo: limit)
    }
}
