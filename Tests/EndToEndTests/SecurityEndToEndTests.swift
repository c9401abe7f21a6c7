import Foundation
import Testing

/// Attacks from another host (a network namespace of the test's own): the port mapper takes
/// registrations only from its own host, and a node's HTTP front refuses writes that a web
/// page on another site would make a browser send.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SecurityEndToEndTests {
    /// Speaks the mapper's protocol over raw ZMTP 3.0 (NULL mechanism, as a DEALER): sends
    /// one request and prints the words of the answer, one a line.
    static let mapperRequest = #"""
    import socket, sys
    host, port, words = sys.argv[1], int(sys.argv[2]), [w.encode() for w in sys.argv[3:]]
    s = socket.create_connection((host, port), timeout=5)
    def read(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk: sys.exit("the mapper closed the connection")
            data += chunk
        return data
    def frame():  # short frames only: a flags byte, a size byte, the body
        flags, size = read(2)
        return flags, read(size)
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL" + b"\0" * 16 + b"\0" + b"\0" * 31)
    read(64)
    ready = b"\x05READY" + b"\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
    s.sendall(b"\x04" + bytes([len(ready)]) + ready)
    frame()
    frames = [b"request-1"] + words
    s.sendall(b"".join(bytes([1 if i < len(frames) - 1 else 0, len(f)]) + f for i, f in enumerate(frames)))
    answer, more = [], True
    while more:
        flags, body = frame()
        answer.append(body.decode())
        more = flags & 1 == 1
    print("\n".join(answer[1:]))
    """#

    @Test func anotherHostCanLookNamesUpButNotRegisterAndAPageCannotWrite() async throws {
        let network = try TestNetwork(hosts: 2)
        defer { network.remove() }
        try await withEndToEnd { e2e in
            let httpPort = try freePort()
            let node = "m1@\(network.address(1))"
            _ = try e2e.start(in: network.namespace(1), Binaries.node, ["--name", node, "--http-port", String(httpPort)], log: "m1.log")
            func mapper(from host: Int, at address: String? = nil, _ words: [String]) async throws -> [String] {
                let program = try e2e.start(in: network.namespace(host), URL(fileURLWithPath: "/usr/bin/env"),
                                            ["python3", "-c", Self.mapperRequest, address ?? network.address(1), String(e2e.mapperPort)] + words,
                                            log: "mapper-\(e2e.programs.count).log")
                guard try await program.exitCode(within: .seconds(20)) == 0 else { throw E2EError("the mapper request failed: \(program.output)") }
                return program.output.split(separator: "\n").map(String.init)
            }
            try await eventually("m1 registered", within: .seconds(20)) {
                (try? await mapper(from: 2, ["LOOKUP", "m1"]))?.first == "PORT"
            }
            #expect(try await mapper(from: 2, ["REGISTER", "evil", "4000", "1"]) == ["ERR", "only a node on this host may register"])
            #expect(try await mapper(from: 2, ["UNREGISTER", "m1", "1"]).first == "ERR")
            #expect(try await mapper(from: 2, ["NAMES"]).count == 2)  // NAMES and m1's line
            // From the mapper's own host, it is taken over loopback only.
            #expect(try await mapper(from: 1, ["REGISTER", "local", "4000", "1"]).first == "ERR")
            #expect(try await mapper(from: 1, at: "127.0.0.1", ["REGISTER", "local", "4000", "1"]) == ["OK"])

            // A browser's write from another site's page is refused; curl's goes through.
            let add = "http://\(network.address(1)):\(httpPort)/add_entry?list=bob&date=2018-12-19&title=Dentist"
            let refused = try await e2e.curl(in: network.namespace(2), ["-w", " %{http_code}", "-d", "", "-H", "Origin: http://evil.example", add])
            #expect(refused?.hasSuffix(" 403") == true, "\(refused ?? "curl failed")")
            let taken = try await e2e.curl(in: network.namespace(2), ["-w", " %{http_code}", "-d", "", add])
            #expect(taken == "OK 200")
        }
    }
}
