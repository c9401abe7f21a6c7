#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Hashing and comparing byte strings where they lie (in a frame, in a `String`'s storage),
// for the lookups a message makes on its way in and out.

/// FNV-1a 64 over bytes, the same in every process (Swift's `Hasher` is seeded per process):
/// the to-do lists' digests, and a cheap hash for where `Hasher` (SipHash) costs more than
/// the lookup it serves and nothing from the wire adds keys (so no peer can crowd a bucket).
public struct FNV1a: Sendable {
    @usableFromInline var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public var value: UInt64 { state }

    @inlinable public init() {}

    @inlinable
    public mutating func add(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }

    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash = FNV1a()
        hash.add(bytes)
        return hash.value
    }
}

/// Whether two byte strings are the same, by `memcmp` (a generic `elementsEqual` steps
/// through them a byte at a time).
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let first = a.baseAddress, let second = b.baseAddress else { return true }  // both empty
    return memcmp(first, second, a.count) == 0
}

extension String {
    /// `body` on the string's UTF-8 where it lies (a native string's storage, a small one's
    /// bytes on the stack): `withUTF8` without making the caller hold a mutable copy. Reading
    /// through `utf8` instead steps the view a byte at a time.
    func withUTF8Bytes<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        var text = self
        return try text.withUTF8(body)
    }
}
