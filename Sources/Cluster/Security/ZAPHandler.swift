/// ZeroMQ's authentication protocol (ZAP, RFC 27) for the cluster's CURVE servers: libzmq
/// asks, for every client that finished the CURVE handshake, whether to let it in. Pure: the
/// transport loop reads the request off its `inproc://zeromq.zap.01` socket and sends back
/// what this returns.
enum ZAPHandler {
    static let endpoint = "inproc://zeromq.zap.01"
    static let domain = "todo-cluster"

    /// The verdict on one request: 200 for a CURVE client holding `allowedKey`, else 400.
    /// Request frames: version, request id, domain, address, routing id, mechanism, key.
    static func answer(_ request: [[UInt8]], allowedKey: [UInt8]) -> (reply: [[UInt8]], admitted: Bool) {
        let version = Array("1.0".utf8)
        guard request.count >= 6, request[0] == version else {
            return ([version, request.count > 1 ? request[1] : [], Array("500".utf8), Array("bad ZAP request".utf8), [], []], false)
        }
        let admitted = String(decoding: request[5], as: UTF8.self) == "CURVE" && request.count == 7 && request[6] == allowedKey
        let status = admitted ? ("200", "OK") : ("400", "not a member of this cluster")
        return ([version, request[1], Array(status.0.utf8), Array(status.1.utf8), [], []], admitted)
    }
}
