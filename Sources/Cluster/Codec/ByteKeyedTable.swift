/// A small hash table keyed by byte strings, looked up with bytes still in a frame: no
/// `String`, no allocation and no `Hasher` per lookup (a `Dictionary` would seed, run and
/// finalize SipHash for every message). Open hashing on FNV-1a, at most half full.
struct ByteKeyedTable<Value> {
    private var buckets: [[(key: [UInt8], value: Value)]] = Array(repeating: [], count: 16)
    private(set) var count = 0

    /// Sets `key`'s value, replacing any it had.
    mutating func set(_ key: [UInt8], _ value: Value) {
        if let index = buckets[bucket(of: key)].firstIndex(where: { $0.key == key }) {
            buckets[bucket(of: key)][index].value = value
            return
        }
        if 2 * (count + 1) > buckets.count { grow() }
        buckets[bucket(of: key)].append((key, value))
        count += 1
    }

    func value(for key: UnsafeRawBufferPointer) -> Value? {
        for pair in buckets[bucket(of: key)] where pair.key.withUnsafeBytes({ sameBytes($0, key) }) {
            return pair.value
        }
        return nil
    }

    private func bucket(of key: [UInt8]) -> Int {
        key.withUnsafeBytes { bucket(of: $0) }
    }

    private func bucket(of key: UnsafeRawBufferPointer) -> Int {
        Int(truncatingIfNeeded: FNV1a.hash(key)) & (buckets.count - 1)
    }

    private mutating func grow() {
        let pairs = buckets.joined()
        buckets = Array(repeating: [], count: 2 * buckets.count)
        for pair in pairs { buckets[bucket(of: pair.key)].append(pair) }
    }
}
