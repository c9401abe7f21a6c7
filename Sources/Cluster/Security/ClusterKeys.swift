import Crypto
import ZeroMQ

/// The CURVE key pair every node of a cluster shares, derived from the cookie (HKDF-SHA256),
/// so that encryption needs no configuration beyond the cookie. Every node's ROUTER and PUB
/// are CURVE servers with it, every DEALER and SUB a CURVE client with it, and the ZAP
/// handler admits only clients that hold it: a stranger without the cookie cannot finish
/// ZeroMQ's handshake, so none of its bytes reach our code.
public enum ClusterKeys {
    /// The key pair of the cluster whose cookie is `cookie`.
    public static func derive(cookie: String) throws -> CurveKeyPair {
        let secret = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(cookie.utf8)),
            salt: Array("todo-cluster curve salt v1".utf8),
            info: Array("todo-cluster curve key pair".utf8),
            outputByteCount: 32)
        return try CurveKeyPair(secret: secret.withUnsafeBytes { Array($0) })
    }
}
