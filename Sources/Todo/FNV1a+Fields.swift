import Cluster

/// The digests' fields, each terminated so that fields cannot run into each other.
extension FNV1a {
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
