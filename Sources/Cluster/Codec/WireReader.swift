/// Why bytes from the wire could not be read. Such input is dropped and logged, never trusted.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case malformed(String)
    case unknownType(String)
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .truncated: "the message ends too early"
        case .malformed(let what): "malformed message: \(what)"
        case .unknownType(let name): "unknown message type \(name)"
        case .tooLarge(let size): "a length of \(size) bytes is more than allowed"
        }
    }
}

/// Reads what `WireWriter` wrote, checking every length against what is left, so truncated or
/// hostile input gives a `WireError` instead of a crash.
public struct WireReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var index: Int
    let end: Int
    /// Strings that a string read here shares when it has their bytes: a frame's reader gets
    /// the names of the two nodes at its ends, which nearly every pid and ref in the frame
    /// carries. Read into a string of its own, a name past 15 bytes took an allocation each
    /// time, and every pid kept in a table (global names, monitors) kept its own copy: 48
    /// bytes each, three for each monitor a peer holds on a local process.
    var sharedStrings: [String] = []

    public init(_ bytes: [UInt8]) {
        self.init(bytes, from: 0, to: bytes.count)
    }

    init(_ bytes: [UInt8], from start: Int, to end: Int, sharing sharedStrings: [String] = []) {
        self.bytes = bytes
        self.index = start
        self.end = end
        self.sharedStrings = sharedStrings
    }

    public var isAtEnd: Bool { index >= end }
    public var remaining: Int { end - index }

    public mutating func read() throws(WireError) -> UInt8 {
        guard index < end else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }

    public mutating func readVarint() throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try read()
            if shift == 63 && byte > 1 { throw .malformed("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .malformed("varint longer than 10 bytes") }
        }
    }

    public mutating func readSigned() throws(WireError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func readDouble() throws(WireError) -> Double {
        guard remaining >= 8 else { throw .truncated }
        var bits: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) {
            bits |= UInt64(bytes[index]) << UInt64(shift)
            index += 1
        }
        return Double(bitPattern: bits)
    }

    /// A length that must fit in what is left.
    public mutating func readLength() throws(WireError) -> Int {
        let length = try readVarint()
        guard length <= UInt64(remaining) else {
            throw length > UInt64(Int32.max) ? .tooLarge(Int(clamping: length)) : .truncated
        }
        return Int(length)
    }

    public mutating func readString() throws(WireError) -> String {
        let range = try readRange()
        return sharedString(at: range) ?? String(decoding: bytes[range], as: UTF8.self)
    }

    /// The shared string whose bytes are those at `range`, if any.
    private func sharedString(at range: Range<Int>) -> String? {
        for shared in sharedStrings where shared.utf8.count == range.count {
            let same = shared.withUTF8Bytes { text in
                bytes.withUnsafeBytes { sameBytes(UnsafeRawBufferPointer(text), UnsafeRawBufferPointer(rebasing: $0[range])) }
            }
            if same { return shared }
        }
        return nil
    }

    /// Where in `bytes` the next length-prefixed bytes are, moving past them (read in place).
    public mutating func readRange() throws(WireError) -> Range<Int> {
        let length = try readLength()
        defer { index += length }
        return index..<index + length
    }

    public mutating func readBytes() throws(WireError) -> [UInt8] {
        let length = try readLength()
        defer { index += length }
        return Array(bytes[index..<index + length])
    }

    /// The next byte without moving past it; nil at the end.
    public var next: UInt8? { index < end ? bytes[index] : nil }

    /// Moves past `count` bytes already checked to be there.
    mutating func skip(_ count: Int) { index = min(end, index + count) }

    /// The rest of the input, as written by `writeRaw`.
    public mutating func readRest() -> [UInt8] {
        defer { index = end }
        return Array(bytes[index..<end])
    }

    /// A reader over the next length-prefixed part; this reader moves past it.
    public mutating func readLengthPrefixed() throws(WireError) -> WireReader {
        let length = try readLength()
        defer { index += length }
        return WireReader(bytes, from: index, to: index + length, sharing: sharedStrings)
    }
}
