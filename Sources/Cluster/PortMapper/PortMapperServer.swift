import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The port mapper as a server: a ROUTER on all of the host's addresses at the mapper port,
/// answering REGISTER, UNREGISTER, LOOKUP and NAMES. It runs on a thread of its own, inside a
/// node's test process or as the detached `todo-node --mapper-daemon` process.
///
/// Requests are frames `[request id, command, arguments...]`; replies echo the request id.
/// Anything malformed is answered with ERR (or dropped) and logged; the server goes on.
public final class PortMapperServer: Sendable {
    public let port: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the port (failing if it is taken) and starts serving.
    public init(port: Int, host: String = "*", leaseTime: Duration = .seconds(10), logger: Logger = Logger(label: "todo.mapper")) throws {
        let context = try Context()
        let router = try context.socket(.router)
        try router.setReceiveTimeout(milliseconds: 100)
        try router.setRouterMandatory(false)
        try router.bind("tcp://\(host):\(port)")
        if port == 0 {
            let endpoint = try router.lastEndpoint()
            self.port = Int(endpoint.split(separator: ":").last ?? "") ?? 0
        } else {
            self.port = port
        }
        let serving = UncheckedSocket(router)
        Thread { [self] in
            self.serve(serving.socket, table: PortMapperTable(leaseTime: leaseTime), logger: logger)
            _ = context  // the context lives as long as the thread
            self.finished.signal()
        }.start()
    }

    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    private func serve(_ router: Socket, table: PortMapperTable, logger: Logger) {
        var table = table
        let clock = ContinuousClock()
        let origin = clock.now
        while !stopping.load(ordering: .relaxed) {
            guard let frames = try? router.receiveMessage() else { continue }
            guard frames.count >= 3 else {
                logger.warning("port mapper: dropped a malformed request (\(frames.count) frames)")
                continue
            }
            let client = frames[0], requestID = frames[1]
            let words = frames.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
            let now = origin.duration(to: clock.now)
            let reply = Self.answer(words, table: &table, now: now, logger: logger)
            _ = try? router.send([client, requestID] + reply.map { Array($0.utf8) }, dontWait: true)
        }
        router.close()
    }

    static func answer(_ words: [String], table: inout PortMapperTable, now: Duration, logger: Logger) -> [String] {
        switch (words.first, words.count) {
        case ("REGISTER", 5):
            guard let port = Int(words[2]), (1...65535).contains(port),
                  let incarnation = UInt64(words[3]), let osPid = Int32(words[4]) else { return ["ERR", "bad REGISTER"] }
            switch table.register(name: words[1], port: port, incarnation: incarnation, osPid: osPid, now: now, isAlive: processIsAlive) {
            case .registered: return ["OK"]
            case .taken(let port): return ["TAKEN", String(port)]
            }
        case ("UNREGISTER", 3):
            guard let incarnation = UInt64(words[2]) else { return ["ERR", "bad UNREGISTER"] }
            table.unregister(name: words[1], incarnation: incarnation)
            return ["OK"]
        case ("LOOKUP", 2):
            guard let port = table.lookup(words[1], now: now, isAlive: processIsAlive) else { return ["NONE"] }
            return ["PORT", String(port)]
        case ("NAMES", 1):
            return ["NAMES"] + table.names(now: now, isAlive: processIsAlive).map { "\($0.name) \($0.port)" }
        default:
            logger.warning("port mapper: unknown request \(words.first.map { String($0.prefix(32)) } ?? "")")
            return ["ERR", "unknown request"]
        }
    }
}

/// Whether an OS process exists and is not a zombie waiting to be reaped (kill with signal 0,
/// where EPERM means it exists but is not ours; then its state in /proc).
func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].split(separator: " ").first
    return state != "Z" && state != "X"
}

/// Hands a socket to the one thread that will use it from then on.
struct UncheckedSocket: @unchecked Sendable {
    let socket: Socket
    init(_ socket: Socket) { self.socket = socket }
}
