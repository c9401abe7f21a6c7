import Cluster
import Testing
@testable import Todo

struct DigestBucketsTests {
    static let lists = Dictionary(uniqueKeysWithValues: (1...1_000).map { ("list\($0)", UInt64($0) &* 0x9e37_79b9_7f4a_7c15) })

    @Test func equalReplicasHaveEqualBucketsWhateverTheOrder() {
        let reversed = Dictionary(uniqueKeysWithValues: Self.lists.reversed())
        #expect(DigestBuckets(digests: Self.lists) == DigestBuckets(digests: reversed))
        #expect(DigestBuckets(digests: Self.lists).differing(from: DigestBuckets(digests: reversed)).isEmpty)
    }

    /// A changed list, a list only one side has and a list under another name each show as
    /// exactly their own bucket.
    @Test func aDifferenceShowsAsTheBucketOfTheListsThatDiffer() {
        var other = Self.lists
        other["list7"] = 1
        other["only-here"] = 5
        other["list9"] = nil
        other["list9-renamed"] = Self.lists["list9"]
        let expected = Set(["list7", "only-here", "list9", "list9-renamed"].map(DigestBuckets.bucket(of:)))
        #expect(DigestBuckets(digests: Self.lists).differing(from: DigestBuckets(digests: other)) == expected)
    }

    @Test func bucketsAreTheSameInEveryProcess() {
        // FNV-1a 64 of "bob" and the 0xff terminator, computed apart from this code; not
        // Swift's Hasher, which is seeded per process.
        var hash = FNV1a()
        hash.add("bob")
        #expect(hash.value == 0xcd55_619b_c6d0_2091)
        #expect(DigestBuckets.bucket(of: "bob") == 0x91)
    }

    @Test func bucketsAndBucketNumbersCrossTheWireAndHostileNumbersAreRefused() throws {
        let buckets = DigestBuckets(digests: Self.lists)
        var writer = WireWriter()
        buckets.encode(to: &writer)
        var reader = WireReader(writer.bytes)
        #expect(try DigestBuckets(from: &reader) == buckets)

        var numbers = WireWriter()
        BucketNumbers(buckets: [0, 17, 255]).encode(to: &numbers)
        var numbersReader = WireReader(numbers.bytes)
        #expect(try BucketNumbers(from: &numbersReader).buckets == [0, 17, 255])

        var hostile = WireWriter()
        hostile.writeVarint(1)
        hostile.writeVarint(256)
        var hostileReader = WireReader(hostile.bytes)
        #expect(throws: WireError.self) { try BucketNumbers(from: &hostileReader) }
    }

    @Test func updatedListsGiveTheBucketsOfTheListsAsTheyNowAre() {
        var buckets = DigestBuckets(digests: Self.lists)
        var lists = Self.lists
        buckets.update("list7", from: lists["list7"], to: 42)
        lists["list7"] = 42
        buckets.update("new", from: nil, to: 7)
        lists["new"] = 7
        buckets.update("new", from: 7, to: 8)
        lists["new"] = 8
        #expect(buckets == DigestBuckets(digests: lists))
    }
}

