import CZeroMQ

/// A CURVE key pair, both keys in Z85 text (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from zmq_curve_keypair.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_keypair(&publicKey, &secretKey), "zmq_curve_keypair")
        return CurveKeyPair(publicKey: text(publicKey), secretKey: text(secretKey))
    }

    /// The key pair whose secret key is these 32 bytes (say, derived from a shared secret);
    /// libzmq computes the public key, so both agree with every peer's libzmq.
    public init(secret: [UInt8]) throws(ZMQError) {
        guard secret.count == 32 else { throw ZMQError(code: EINVAL, operation: "a CURVE secret key of \(secret.count) bytes (32 needed)") }
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&secretText, secret, secret.count) != nil else { throw ZMQError.last("zmq_z85_encode") }
        var publicText = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_public(&publicText, secretText), "zmq_curve_public")
        self.init(publicKey: Self.text(publicText), secretKey: Self.text(secretText))
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// The public key as its 32 raw bytes, as a ZAP request carries it.
    public var publicKeyBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        _ = zmq_z85_decode(&bytes, publicKey)
        return bytes
    }

    private static func text(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
