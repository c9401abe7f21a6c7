/// FNV-1a 64, the same in every process (Swift's `Hasher` is seeded per process), over
/// fields each terminated so that fields cannot run into each other.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }

    mutating func add(_ string: String) {
        add(string.utf8)
        add(CollectionOfOne(0xff))
    }

    mutating func add(_ number: some FixedWidthInteger) {
        withUnsafeBytes(of: Int64(truncatingIfNeeded: number).littleEndian) { add($0) }
    }

    mutating func add(_ stamp: Stamp) {
        add(stamp.clock)
        add(stamp.node)
    }
}
