/// Big test payloads, made in one pass over a buffer. In a debug build, `(0..<n).map { ... }`
/// took 0.7 s for 5 MiB and `String(repeating:count:)` 1.3 s for 64 MiB on an idle machine,
/// each holding one of the pool's threads (two on a machine of two cores), which every
/// process of every test in the binary shares.

/// `count` bytes, byte `i` being the low byte of `i * step`.
func patternedBytes(_ count: Int, step: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for index in 0..<count { buffer[index] = UInt8(truncatingIfNeeded: index &* step) }
        initialized = count
    }
}

/// A string of `count` x's.
func textOfLength(_ count: Int) -> String {
    String(decoding: [UInt8](repeating: UInt8(ascii: "x"), count: count), as: UTF8.self)
}
