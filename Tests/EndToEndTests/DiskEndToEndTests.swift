import Foundation
import Testing

/// Beyond the book: a disk that fills up. A write that cannot be made durable is refused
/// with a `500`, the node goes on serving, nothing acknowledged is lost or changed, and
/// writes are taken again as soon as there is room.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DiskEndToEndTests {
    @Test func aFullDiskRefusesWritesAndLosesNothingAcknowledged() async throws {
        try await withEndToEnd { e2e in
            let disk = try await SmallDisk(e2e)
            let http = try freePort()
            let flags = ["--name", "full@localhost", "--http-port", String(http), "--data-dir", disk.path + "/full"]
            let node = try disk.start(Binaries.node, flags, log: "full-0.log")
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }

            var acknowledged: [String] = []
            for number in 1...20 {
                #expect(await offPool { httpPost(port: http, "/add_entry?list=disk&date=2018-12-19&title=before\(number)") } == 200)
                acknowledged.append("before\(number)")
            }
            // Room for the node's files as they are, and not a byte more.
            try await disk.fill()
            let (taken, refusal) = await writeUntilRefused(http)
            acknowledged += taken
            print("full disk: \(taken.count) writes acknowledged after the filling, before the first refused")
            let (_, status, reason) = try #require(refusal, "the disk never filled up")
            #expect(status == 500)
            #expect(reason == "the change could not be stored on full@localhost")
            #expect(node.output.contains("cannot write the database"))
            let stored = try await entries(http)
            #expect(stored == acknowledged, "a refused write is visible, or an acknowledged one is not")
            #expect(await httpGet(port: http, "/health")?.status == 200)

            try await disk.free()
            try await e2e.waitFor("a write to be taken again", within: .seconds(10)) {
                await offPool { httpPost(port: http, "/add_entry?list=disk&date=2018-12-19&title=room") } == 200
            }
            acknowledged.append("room")
            #expect(try await entries(http) == acknowledged)

            // The refused commits left the database whole: everything acknowledged, and only
            // that, after a kill -9 and a restart.
            await node.stop()
            _ = try disk.start(Binaries.node, flags, log: "full-1.log")
            try await e2e.waitForPeers(httpPort: http) { $0.isEmpty }
            #expect(try await entries(http) == acknowledged)
        }
    }

    /// With a peer: the refused change reached it as the commit here began, so the refusal
    /// says where the change is and not to send it again, and the full node has it once it
    /// catches up, once.
    @Test func aChangeRefusedOnAFullDiskButStoredOnAPeerSaysSoAndComesBack() async throws {
        try await withEndToEnd { e2e in
            let disk = try await SmallDisk(e2e)
            let (roomyHTTP, fullHTTP) = (try freePort(), try freePort())
            _ = try e2e.startNode("roomy", httpPort: roomyHTTP)
            try await e2e.waitForPeers(httpPort: roomyHTTP) { $0.isEmpty }
            let flags = ["--name", "full@localhost", "--http-port", String(fullHTTP), "--data-dir", disk.path + "/full",
                         "--connect", "roomy@localhost"]
            let full = try disk.start(Binaries.node, flags, log: "full-0.log")
            try await e2e.waitForPeers(httpPort: fullHTTP) { $0 == ["roomy@localhost"] }
            // The list's server is on the node that took its first request.
            #expect(await offPool { httpPost(port: fullHTTP, "/add_entry?list=disk&date=2018-12-19&title=first") } == 200)
            var acknowledged = ["first"]

            try await disk.fill()
            let (taken, refusal) = await writeUntilRefused(fullHTTP)
            acknowledged += taken
            let (title, status, reason) = try #require(refusal, "the disk never filled up")
            #expect(status == 500)
            #expect(reason == "the change could not be stored on full@localhost; it is stored on roomy@localhost, "
                + "and full@localhost catches up with it once it can write: do not send it again")
            #expect(try await entries(fullHTTP) == acknowledged, "the list's server took a change it could not store")

            try await disk.free()
            await full.stop()
            _ = try disk.start(Binaries.node, flags, log: "full-1.log")
            try await e2e.waitForPeers(httpPort: fullHTTP) { $0 == ["roomy@localhost"] }
            #expect(try await entries(fullHTTP) == acknowledged + [title], "the refused change did not come back once, from the peer")
        }
    }

    /// Writes entries of 900 bytes to list `disk` through the node on `port` until one is not
    /// acknowledged (3,000 at most): the titles acknowledged, and the first refused with its
    /// answer (status 0: none came).
    private func writeUntilRefused(_ port: Int) async -> (acknowledged: [String], refused: (title: String, status: Int, body: String)?) {
        var acknowledged: [String] = []
        for number in 1...3_000 {
            let title = "t\(number)-" + String(repeating: "x", count: 900)
            let answer = await offPool { httpPostAnswer(port: port, "/add_entry?list=disk&date=2018-12-19&title=\(title)") }
            guard answer?.status == 200 else { return (acknowledged, (title, answer?.status ?? 0, answer?.body ?? "no answer")) }
            acknowledged.append(title)
        }
        return (acknowledged, nil)
    }

    /// The titles of list `disk` on 2018-12-19, through the node on `port`, in order.
    private func entries(_ port: Int) async throws -> [String] {
        entryTitles(in: try #require(await httpGet(port: port, "/entries?list=disk&date=2018-12-19")?.body))
    }
}

/// A 1 MiB tmpfs at `path`, seen only by the programs started through it: it lives in a
/// mount namespace of its own, held by a `sleep` that the test's clean-up stops, so nothing
/// stays mounted on the machine whatever becomes of the test.
struct SmallDisk {
    let path: String
    private let e2e: EndToEnd
    private let holder: RunningProgram

    init(_ e2e: EndToEnd) async throws {
        self.e2e = e2e
        path = e2e.directory.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        holder = try e2e.start(URL(fileURLWithPath: "/usr/bin/unshare"),
                               ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                #"mount -t tmpfs -o size=1m tmpfs "$0" && echo mounted && exec sleep 600"#, path],
                               log: "small-disk.log")
        try await e2e.waitFor("the small disk to be mounted (root is needed)", within: .seconds(10)) { [holder] in
            holder.output.contains("mounted")
        }
    }

    /// Starts `binary` where it sees the small disk.
    func start(_ binary: URL, _ arguments: [String], log: String) throws -> RunningProgram {
        try e2e.start(Self.nsenter, ["--target", String(holder.pid), "--mount", "--", binary.path] + arguments, log: log)
    }

    /// Takes every free byte, in one file.
    func fill() async throws {
        _ = try await e2e.run(Self.nsenter, ["--target", String(holder.pid), "--mount", "--", "/bin/sh", "-c",
                                             #"cat /dev/zero > "$0"/filler"#, path])
    }

    /// Gives the bytes `fill` took back.
    func free() async throws {
        let (code, _, errors) = try await e2e.run(Self.nsenter, ["--target", String(holder.pid), "--mount", "--", "/bin/rm", path + "/filler"])
        guard code == 0 else { throw E2EError("cannot free the small disk: \(errors)") }
    }

    private static let nsenter = URL(fileURLWithPath: "/usr/bin/nsenter")
}
