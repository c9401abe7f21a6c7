import Cluster

/// A replica's list digests folded into a fixed number of buckets: the top of a two-level
/// Merkle tree. Catch-up compares buckets first (at most 2.5 KB), then only the digests of
/// the lists in buckets that differ, then fetches only the lists that differ; so what
/// crosses the network grows with the difference, not with the number of lists.
///
/// A bucket is the wrapping sum of its lists' leaves (name and digest hashed together), so
/// it does not depend on the order lists are read in, and two replicas' buckets are equal
/// when the lists in them are.
struct DigestBuckets: Codable, Sendable, Equatable, WireCodable {
    static let count = 256

    private(set) var sums: [UInt64]

    init(digests: [String: UInt64]) {
        sums = Array(repeating: 0, count: Self.count)
        for (name, digest) in digests { sums[Self.bucket(of: name)] &+= Self.leaf(name, digest) }
    }

    /// Follows one list's change: its leaf for `old` (nil: the list is new here) leaves its
    /// bucket and the leaf for `new` comes in, so the sums stay those of the lists as stored.
    mutating func update(_ name: String, from old: UInt64?, to new: UInt64) {
        let bucket = Self.bucket(of: name)
        if let old { sums[bucket] &-= Self.leaf(name, old) }
        sums[bucket] &+= Self.leaf(name, new)
    }

    /// The bucket `name` falls in, the same in every process.
    static func bucket(of name: String) -> Int {
        var hash = FNV1a()
        hash.add(name)
        return Int(hash.value % UInt64(count))
    }

    /// The buckets whose lists differ between the two replicas.
    func differing(from other: DigestBuckets) -> Set<Int> {
        Set(sums.indices.filter { $0 >= other.sums.count || sums[$0] != other.sums[$0] })
    }

    private static func leaf(_ name: String, _ digest: UInt64) -> UInt64 {
        var hash = FNV1a()
        hash.add(name)
        hash.add(digest)
        return hash.value
    }

    func encode(to writer: inout WireWriter) {
        for sum in sums { writer.writeVarint(sum) }
    }

    init(from reader: inout WireReader) throws(WireError) {
        sums = []
        for _ in 0..<Self.count { sums.append(try reader.readVarint()) }
    }
}

/// Bucket numbers: which lists' digests `todo.digests` answers with.
struct BucketNumbers: Codable, Sendable, WireCodable {
    var buckets: Set<Int>

    init(buckets: Set<Int>) { self.buckets = buckets }

    func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(buckets.count))
        for bucket in buckets.sorted() { writer.writeVarint(UInt64(bucket)) }
    }

    init(from reader: inout WireReader) throws(WireError) {
        let count = try reader.readVarint()
        guard count <= UInt64(DigestBuckets.count) else { throw .malformed("more buckets than there are") }
        buckets = []
        for _ in 0..<count {
            let bucket = try reader.readVarint()
            guard bucket < UInt64(DigestBuckets.count) else { throw .malformed("no bucket \(bucket)") }
            buckets.insert(Int(bucket))
        }
    }
}
