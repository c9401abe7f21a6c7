import ArgumentParser
import Cluster
import Foundation
import Hummingbird
import Logging
import OSProcess
import ServiceLifecycle
import Todo

// todo-node: flags to settings, then start. Bad flags or an unusable port: exit 2 with one
// clear line on stderr.

StandardStreams.openMissing()

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("todo-node: \(message)\n".utf8))
    exit(code)
}

let command: NodeCommand
do {
    var parsed = try NodeCommand.parseAsRoot()
    guard let nodeCommand = parsed as? NodeCommand else {
        try parsed.run()  // `--help` parses as ArgumentParser's help command, which throws the help
        exit(0)
    }
    command = nodeCommand
} catch {
    if NodeCommand.exitCode(for: error) == .success {
        print(NodeCommand.fullMessage(for: error))
        exit(0)
    }
    fail(NodeCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage")
}

DescriptorLimit.raiseToHard()  // before any socket: HTTP clients get a share of what is there
// A log reader that goes away (`todo-node … 2>&1 | tee log`, and tee ends) must not stop the
// node, as it does not stop an Erlang VM, which ignores SIGPIPE too. `LineOutput` sees such a
// pipe and drops its lines; this covers a reader that goes between that look and the write.
// libzmq and NIO never raise it.
signal(SIGPIPE, SIG_IGN)
LoggingSystem.bootstrap { NodeLogHandler.standardError(label: $0) }  // at `info`; the node's logger sets its own level

if command.mapperDaemon {
    // A node launches the daemon with default signals (ChildProcess), but another launcher
    // may hand down a blocked or ignored SIGTERM across exec: the daemon takes the defaults
    // back before it starts any thread, so `kill` stops it, as it does epmd.
    var none = sigset_t()
    sigemptyset(&none)
    sigprocmask(SIG_SETMASK, &none, nil)
    for signalNumber in [SIGTERM, SIGINT] { signal(signalNumber, SIG_DFL) }
    let port = command.mapperPort ?? ClusterSettings.defaultMapperPort
    do {
        _ = try PortMapperServer(port: port, logger: Logger(label: "todo.mapper"))
    } catch {
        fail("cannot start the port mapper on port \(port): \(error)")
    }
    while true { sleep(3_600) }
}

let settings: NodeCommand.Settings
do { settings = try command.settings() } catch { fail("\(error)") }

var logger = Logger(label: "todo.node")
logger.logLevel = settings.logLevel
// Every line names the node, the HTTP server's and the service group's too, as the
// cluster's own do (`ClusterNode.start` sets the same on its copy).
logger[metadataKey: "node"] = "\(settings.cluster.node)"
if settings.httpPort != 0, let problem = portProblem(host: settings.httpHost, port: settings.httpPort) {
    fail("cannot listen for HTTP on \(settings.httpHost):\(settings.httpPort): \(problem)")
}

let todoSettings = {
    var todo = TodoSettings(dataDirectory: settings.dataDirectory)
    todo.serverIdleTimeout = settings.serverIdleTimeout
    // A node that comes back serves once it has its peers' copies: requests wait for the
    // first try to join (as long as a connect timeout at most, when no node answers).
    todo.waitsToJoin = !settings.connect.isEmpty
    return todo
}()
/// The to-do system did not start: its store could not be opened.
struct DatabaseProblem: Error { let cause: any Error }

// The to-do system starts before any peer can log in: one that reconnects at once to a
// restarted node finds its functions there (catch-up, writes), not missing.
let node: ClusterNode
let system: TodoSystem
do {
    (node, system) = try await ClusterNode.start(settings.cluster, logger: logger) { node in
        do { return try await TodoSystem.start(node: node, settings: todoSettings) } catch { throw DatabaseProblem(cause: error) }
    }
} catch let error as NodeStartError {
    switch error {
    case .nameInUse: fail("\(error)", code: 1)
    default: fail("\(error)")
    }
} catch let problem as DatabaseProblem {
    fail("cannot open the database in \(settings.dataDirectory): \(problem.cause)")
} catch {
    fail("\(error)")
}

HeapTrimming.start(logger: logger)

// A graceful shutdown stops them in reverse order: HTTP first, then the list servers (each
// finishing the write in hand), then the node, which tells its peers it is leaving, and only
// then the database writer, which takes the peers' writes until then (`TodoService`).
var services: [any Service] = [
    NodeService(node: node, joining: settings.connect, triedToJoin: system.triedToJoin), TodoService(system: system),
]
if settings.httpPort != 0 {
    let limits = HTTPLimits(descriptors: DescriptorLimit.current)
    services.append(Application(
        router: TodoRoutes.router(system: system, token: settings.httpToken),
        server: limits.server,
        configuration: limits.configuration(address: .hostname(settings.httpHost, port: settings.httpPort)),
        logger: logger))
}
do {
    try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
} catch {
    fail("\(error)", code: 1)
}
// The node has left: no peer sends it a write any more. The WAL goes into the database file.
await system.closeStore()

/// Whether the HTTP port can be bound: a bind test up front gives a clear exit 2.
func portProblem(host: String, port: Int) -> String? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return "cannot make a socket" }
    defer { close(descriptor) }
    // As the server itself will: a restarted node may take its port back from TIME_WAIT.
    var on: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return "\(host) is not an IPv4 address" }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0 ? nil : String(cString: strerror(errno))
}
