import Foundation

/// Hosts on one machine, each in a network namespace of its own (`ip netns`), cabled to a
/// bridge that lives in one more namespace, so that nothing of the machine's own network is
/// touched. Host `i` (from 1) has address 10.77.0.i; `cut(i)` takes its cable's bridge port
/// down (packets vanish, as when a cable is pulled), `restore(i)` brings it back. `remove()`
/// deletes every namespace made, whatever state they are in.
final class TestNetwork: @unchecked Sendable {
    /// Unique per test run, short: interface and namespace names are limited.
    let prefix = "tdo" + String(UUID().uuidString.prefix(6)).lowercased()
    let count: Int
    private var made: [String] = []

    static let ip: URL = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .map(URL.init(fileURLWithPath:)).first { FileManager.default.isExecutableFile(atPath: $0.path) }
        ?? URL(fileURLWithPath: "/usr/sbin/ip")

    init(hosts count: Int) throws {
        self.count = count
        do {
            try make(switchName)
            try Self.run(["-n", switchName, "link", "add", "br0", "type", "bridge"])
            try Self.run(["-n", switchName, "link", "set", "br0", "up"])
            for host in 1...count {
                let namespace = self.namespace(host)
                try make(namespace)
                try Self.run(["-n", switchName, "link", "add", "port\(host)", "type", "veth", "peer", "name", "eth0", "netns", namespace])
                try Self.run(["-n", switchName, "link", "set", "port\(host)", "master", "br0", "up"])
                try Self.run(["-n", namespace, "addr", "add", "\(address(host))/24", "dev", "eth0"])
                try Self.run(["-n", namespace, "link", "set", "eth0", "up"])
                try Self.run(["-n", namespace, "link", "set", "lo", "up"])
            }
        } catch {
            remove()
            throw E2EError("cannot make the test network (root and iproute2 are needed): \(error)")
        }
    }

    var switchName: String { prefix + "-sw" }
    func namespace(_ host: Int) -> String { prefix + "-h\(host)" }
    func address(_ host: Int) -> String { "10.77.0.\(host)" }

    func cut(_ host: Int) throws { try Self.run(["-n", switchName, "link", "set", "port\(host)", "down"]) }
    func restore(_ host: Int) throws { try Self.run(["-n", switchName, "link", "set", "port\(host)", "up"]) }

    func remove() {
        for namespace in made.reversed() { try? Self.run(["netns", "delete", namespace]) }
        made.removeAll()
    }

    private func make(_ namespace: String) throws {
        try Self.run(["netns", "add", namespace])
        made.append(namespace)
    }

    /// Runs `ip ARGUMENTS` to its end; throws with its error output when it fails.
    static func run(_ arguments: [String]) throws {
        let (status, errors) = try runToEnd(ip, arguments)
        guard status == 0 else { throw E2EError("ip \(arguments.joined(separator: " ")): \(errors)") }
    }
}

extension EndToEnd {
    /// Starts `binary` inside `namespace` (`ip netns exec`, which becomes the binary).
    func start(in namespace: String, _ binary: URL, _ arguments: [String], log: String) throws -> RunningProgram {
        try start(TestNetwork.ip, ["netns", "exec", namespace, binary.path] + arguments, log: log)
    }

    /// Runs `curl -s` inside `namespace`; its output, or nil when it failed.
    func curl(in namespace: String, _ arguments: [String]) async throws -> String? {
        let program = try start(in: namespace, URL(fileURLWithPath: "/usr/bin/curl"), ["-s", "--max-time", "15"] + arguments,
                                log: "curl-\(programs.count).log")
        guard let code = try await program.exitCode(within: .seconds(20)) else {
            await program.stop()
            return nil
        }
        return code == 0 ? program.output : nil
    }
}
