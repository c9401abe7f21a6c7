import Foundation
import OSProcess
import Synchronization
import Testing

/// The package's built binaries (`make test` builds them before the tests run).
enum Binaries {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug")
    static var node: URL { directory.appendingPathComponent("todo-node") }
    static var client: URL { directory.appendingPathComponent("todo") }
    /// One of the repository's `scripts/`.
    static func script(_ name: String) -> URL {
        directory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/\(name)")
    }
}

/// The titles of a `GET /entries?…&date=2018-12-19` body, in order.
func entryTitles(in body: String) -> [String] {
    body.split(separator: "\n").map { String($0.dropFirst("2018-12-19 ".count)) }
}

/// A port nobody listens on right now, below the kernel's ephemeral range (32768 and up), so
/// that the ports other tests' sockets get from the kernel cannot take it meanwhile. Ports
/// are handed out in turn from a random start, so two tests of this process (which run in
/// parallel) never get the same one: random picks collided often enough to fail a run.
func freePort() throws -> Int {
    for _ in 0..<1_000 {
        let port = nextPort.withLock { next in
            defer { next = next + 1 < portRange.upperBound ? next + 1 : portRange.lowerBound }
            return next
        }
        if portIsFree(port) { return port }
    }
    throw E2EError("no free port")
}

private let portRange = 20_000..<32_000
private let nextPort = Mutex(Int.random(in: portRange))

private func portIsFree(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("0.0.0.0")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

struct E2EError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Opens a TCP connection to 127.0.0.1:port, writes `bytes`, and reads until the peer closes
/// or `timeout` passes.
func exchange(port: Int, _ bytes: [UInt8], timeout: Duration = .seconds(5)) -> [UInt8]? {
    guard let descriptor = connectToLoopback(port: port) else { return nil }
    defer { close(descriptor) }
    let microseconds = Int(timeout.components.seconds) * 1_000_000 + Int(timeout.components.attoseconds / 1_000_000_000_000)
    var wait = timeval(tv_sec: microseconds / 1_000_000, tv_usec: max(1_000, microseconds % 1_000_000))
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = recv(descriptor, &buffer, buffer.count, 0)
        if count <= 0 { break }
        answer.append(contentsOf: buffer[0..<count])
    }
    return answer
}

/// A TCP connection to `port` on 127.0.0.1, from `source` when given (any of 127.0.0.0/8 on
/// Linux), as a descriptor for the caller to close; nil if refused, or not made within
/// `timeout` (a server that stopped accepting has a full queue, and the kernel would try for
/// minutes).
func connectToLoopback(port: Int, from source: String? = nil, timeout: Duration = .seconds(5)) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    let milliseconds = Int(timeout.components.seconds) * 1_000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
    var wait = timeval(tv_sec: milliseconds / 1_000, tv_usec: (milliseconds % 1_000) * 1_000)
    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var bound = true
    if let source {
        var origin = sockaddr_in()
        origin.sin_family = sa_family_t(AF_INET)
        origin.sin_addr.s_addr = inet_addr(source)
        bound = withUnsafePointer(to: &origin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
    let connected = bound && withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
    guard connected else {
        close(descriptor)
        return nil
    }
    return descriptor
}

/// Whether the other side has closed the connection on `descriptor` (what it sent is read
/// and dropped).
func hasEnded(_ descriptor: Int32) -> Bool {
    var buffer = [UInt8](repeating: 0, count: 1_024)
    while true {
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { continue }
        return count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
    }
}

/// Runs `body` on a thread of its own: a blocking socket wait must not hold a thread of the
/// concurrency pool, which every test of the process shares (a request to a node that was
/// just killed can wait for seconds).
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// A plain HTTP/1.1 GET; returns (status, body).
func httpGet(port: Int, _ path: String) async -> (status: Int, body: String)? {
    await offPool { httpRequest("GET", port: port, path) }
}

/// One HTTP/1.1 request with an empty body, on a connection of its own; (status, body), or
/// nil when nothing answered within `timeout`.
private func httpRequest(_ method: String, port: Int, _ path: String, timeout: Duration = .seconds(5)) -> (status: Int, body: String)? {
    let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    guard let bytes = exchange(port: port, Array(request.utf8), timeout: timeout) else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let head = text.range(of: "\r\n\r\n") else { return nil }
    let statusLine = text[..<head.lowerBound].split(separator: "\r\n").first ?? ""
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    return (status, String(text[head.upperBound...]))
}

/// The TCP ports an OS process listens on, from /proc (no tools needed).
func listeningPorts(of pid: Int32) -> [Int] {
    let fdDirectory = "/proc/\(pid)/fd"
    let inodes = Set(((try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? []).compactMap { fd -> String? in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
              target.hasPrefix("socket:[") else { return nil }
        return String(target.dropFirst(8).dropLast())
    })
    var ports: [Int] = []
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                  let portHex = fields[1].split(separator: ":").last, let port = Int(portHex, radix: 16) else { continue }
            ports.append(port)
        }
    }
    return ports.sorted()
}

/// Two free ports in a row, for a node's cluster and heartbeat ports
/// (`--listen-port-min` and `--listen-port-max`: the cluster port binds first).
func twoFreePortsInARow() throws -> (Int, Int) {
    for _ in 0..<100 {
        let (first, second) = (try freePort(), try freePort())
        if second == first + 1 { return (first, second) }
    }
    throw E2EError("no two free ports in a row")
}

/// The OS processes whose command line contains `text`.
func processes(matching text: String) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        return command.contains(text) ? pid : nil
    }
}

/// Runs a short program to its end; its exit status and its error output, trimmed.
func runToEnd(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, errors: String) {
    let finished = try ChildProcess.run(executable.path, arguments, environment: environment)
    return (finished.status, finished.errors.trimmingCharacters(in: .whitespacesAndNewlines))
}

/// Whether `pid` has ended and waits only to be reaped.
func isZombie(_ pid: Int32) -> Bool { ProcessStat(pid: pid)?.state == "Z" }

/// A started binary, its output going to a log file.
final class RunningProgram: Sendable {
    let child: ChildProcess
    let log: URL

    /// With `separateErrors`, stderr goes to `LOG.err` (a client's logs), and `output` is
    /// stdout alone.
    init(_ executable: URL, _ arguments: [String], environment: [String: String], directory: URL, log: URL,
         separateErrors: Bool = false) throws {
        self.log = log
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw E2EError("cannot create \(log.path)") }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        var errors = output
        if separateErrors {
            let errorLog = log.appendingPathExtension("err")
            guard FileManager.default.createFile(atPath: errorLog.path, contents: nil) else { throw E2EError("cannot create \(errorLog.path)") }
            errors = try FileHandle(forWritingTo: errorLog)
        }
        defer { if separateErrors { try? errors.close() } }
        child = try ChildProcess(executable.path, arguments, environment: environment, directory: directory.path,
                                 output: .descriptor(output.fileDescriptor), errors: .descriptor(errors.fileDescriptor))
    }

    var pid: Int32 { child.pid }
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOf: log.appendingPathExtension("err"), encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// SIGKILL, then waits for the end without holding a thread of the pool: a node killed
    /// during a disk sync ends only once the sync does.
    func stop() async {
        child.signal(SIGCONT)
        child.signal(SIGKILL)
        _ = try? await child.waitForExit(within: .seconds(30))
    }

    /// Waits for the program to end by itself; nil if it has not within `limit`.
    func exitCode(within limit: Duration) async throws -> Int32? {
        try await child.waitForExit(within: limit)
    }
}

/// Real processes for one test, on ports and a port mapper of the test's own, in a scratch
/// folder; everything is stopped and removed afterwards, also when the test fails (and then
/// the programs' logs are printed).
final class EndToEnd: @unchecked Sendable {
    let mapperPort: Int
    let directory: URL
    let cookie = "e2e-cookie"
    private(set) var programs: [RunningProgram] = []

    init() throws {
        mapperPort = try freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("todo-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TODO_COOKIE"] = cookie
        environment["TODO_MAPPER_PORT"] = String(mapperPort)
        environment["HOME"] = directory.path
        environment["TODO_LOG_LEVEL"] = "info"  // the client's reasons, printed when a test fails
        return environment
    }

    /// Starts `todo-node --name NAME@localhost` with the given extra flags.
    func startNode(_ name: String, httpPort: Int, _ flags: [String] = []) throws -> RunningProgram {
        try start(Binaries.node, ["--name", "\(name)@localhost", "--http-port", String(httpPort)] + flags, log: "\(name)-\(programs.count).log")
    }

    /// `startNode` under the shell's `ulimit` with these arguments (as `-n 300`).
    func startNode(_ name: String, httpPort: Int, ulimit: String, _ flags: [String] = []) throws -> RunningProgram {
        try startNode(name, httpPort: httpPort, shell: #"ulimit \#(ulimit) && exec "$0" "$@""#, flags)
    }

    /// `startNode` through `/bin/sh -c SCRIPT`, in which `"$0" "$@"` is the node with its
    /// arguments (as in `exec "$0" "$@" <&-`).
    func startNode(_ name: String, httpPort: Int, shell script: String, _ flags: [String] = []) throws -> RunningProgram {
        try start(URL(fileURLWithPath: "/bin/sh"),
                  ["-c", script, Binaries.node.path, "--name", "\(name)@localhost", "--http-port", String(httpPort)] + flags,
                  log: "\(name)-\(programs.count).log")
    }

    func start(
        _ binary: URL, _ arguments: [String], log: String, separateErrors: Bool = false, environment extra: [String: String] = [:]
    ) throws -> RunningProgram {
        let program = try RunningProgram(binary, arguments, environment: environment.merging(extra) { $1 }, directory: directory,
                                         log: directory.appendingPathComponent(log), separateErrors: separateErrors)
        programs.append(program)
        return program
    }

    /// Runs the `todo` client to the end; returns its exit code and output.
    func client(_ arguments: [String]) async throws -> (code: Int32, output: String) {
        let result = try await run(Binaries.client, arguments)
        return (result.code, result.output)
    }

    /// Runs `binary` to the end; returns its exit code, its output and its errors apart.
    func run(_ binary: URL, _ arguments: [String]) async throws -> (code: Int32, output: String, errors: String) {
        let program = try start(binary, arguments, log: "\(binary.lastPathComponent)-\(programs.count).log", separateErrors: true)
        guard let code = try await program.exitCode(within: .seconds(30)) else {
            await program.stop()
            throw E2EError("\(binary.lastPathComponent) \(arguments.joined(separator: " ")) did not finish")
        }
        return (code, program.output, program.errors)
    }

    /// Polls a node's /health until `condition` holds for its visible peers.
    func waitForPeers(httpPort: Int, within limit: Duration = .seconds(20), _ condition: ([String]) -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let peers = await peers(httpPort: httpPort), condition(peers) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw E2EError("peers on port \(httpPort) never matched: \(await peers(httpPort: httpPort) ?? [])")
    }

    func peers(httpPort: Int) async -> [String]? {
        guard let (status, body) = await httpGet(port: httpPort, "/health"), status == 200,
              let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return json["nodes"] as? [String]
    }

    func cleanUp(printingLogs: Bool) async {
        for program in programs { await program.stop() }
        for pid in processes(matching: "--mapper-port \(mapperPort)") { kill(pid, SIGKILL) }
        if printingLogs {
            for program in programs { print("---- \(program.log.lastPathComponent) ----\n\(program.output)\(program.errors)") }
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs `body` with an `EndToEnd`; always cleans up; prints the logs when `body` throws.
func withEndToEnd(_ body: (EndToEnd) async throws -> Void) async throws {
    let environment = try EndToEnd()
    do {
        try await body(environment)
        await environment.cleanUp(printingLogs: false)
    } catch {
        await environment.cleanUp(printingLogs: true)
        throw error
    }
}

extension EndToEnd {
    /// Runs `curl -s` (as the book's walk-through does); returns its output, or throws on
    /// a non-zero exit.
    func curl(_ arguments: [String]) async throws -> String {
        let program = try start(URL(fileURLWithPath: "/usr/bin/curl"), ["-s", "--max-time", "15"] + arguments, log: "curl-\(programs.count).log")
        guard let code = try await program.exitCode(within: .seconds(20)) else {
            await program.stop()
            throw E2EError("curl \(arguments.joined(separator: " ")) did not finish")
        }
        guard code == 0 else { throw E2EError("curl \(arguments.joined(separator: " ")) exited \(code)") }
        return program.output
    }

    /// Runs `todo` and expects success; returns its standard output.
    func todo(_ arguments: [String]) async throws -> String {
        let (code, output) = try await client(arguments)
        guard code == 0 else { throw E2EError("todo \(arguments.joined(separator: " ")) exited \(code)") }
        return output
    }

    /// Polls `todo whereis LIST` through `node` until it prints `expected`.
    func waitForWhereis(_ list: String, via node: String, toBe expected: String, within limit: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + limit
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await todo(["--node", node, "whereis", list])
            if last == expected + "\n" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw E2EError("whereis \(list) stayed \(last)")
    }

    /// Starts n1..n`count` on free HTTP ports, each joining through all the others (so one
    /// restarted later finds the rest), and waits until every node sees every other.
    func startMesh(_ count: Int) async throws -> (nodes: [RunningProgram], ports: [Int]) {
        let ports = try (0..<count).map { _ in try freePort() }
        var nodes = [try startNode("n1", httpPort: ports[0], meshFlags(for: 1, of: count))]
        try await waitForPeers(httpPort: ports[0]) { $0.isEmpty }  // n1 starts the port mapper
        for index in 2...count { nodes.append(try startNode("n\(index)", httpPort: ports[index - 1], meshFlags(for: index, of: count))) }
        for port in ports { try await waitForPeers(httpPort: port) { $0.count == count - 1 } }
        return (nodes, ports)
    }

    /// `--connect` to every other node of n1..n`count`.
    func meshFlags(for index: Int, of count: Int) -> [String] {
        (1...count).filter { $0 != index }.flatMap { ["--connect", "n\($0)@localhost"] }
    }

    /// Polls `condition` until it holds (never a fixed sleep).
    func waitFor(_ what: String, within limit: Duration, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while await !condition() {
            guard ContinuousClock.now < deadline else { throw E2EError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The folder a node keeps its replica in (the default `./persist/NAME`).
    func dataDirectory(_ name: String) -> URL { directory.appendingPathComponent("persist/\(name)") }
}

/// A plain HTTP/1.1 POST with an empty body; the status, or nil when nothing answered.
func httpPost(port: Int, _ path: String, timeout: Duration = .seconds(15)) -> Int? {
    httpPostAnswer(port: port, path, timeout: timeout)?.status
}

/// `httpPost`, with the answer's body too.
func httpPostAnswer(port: Int, _ path: String, timeout: Duration = .seconds(15)) -> (status: Int, body: String)? {
    httpRequest("POST", port: port, path, timeout: timeout)
}
