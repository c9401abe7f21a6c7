/// FNV-1a 64 over bytes: a cheap hash for where Swift's `Hasher` (SipHash, seeded per
/// process) costs more than the lookup it serves, and nothing from the wire adds keys (so
/// no peer can crowd a bucket).
enum FNV1a {
    static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
