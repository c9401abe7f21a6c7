/// Appends the wire's primitive encodings to a byte buffer: varints (LEB128), zigzag for
/// signed integers, little-endian floats, length-prefixed strings and bytes.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ byte: UInt8) { bytes.append(byte) }

    /// Written in one append: byte by byte, each append checked the buffer's uniqueness and
    /// room, and a pid's random 64-bit incarnation is ten bytes (the sending thread spent 6 %
    /// of its CPU here in `todo-bench throughput-profile`).
    public mutating func writeVarint(_ value: UInt64) {
        guard value >= 0x80 else {
            bytes.append(UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { buffer in
            var value = value, count = 0
            while value >= 0x80 {
                buffer[count] = UInt8(truncatingIfNeeded: value) | 0x80
                value >>= 7
                count += 1
            }
            buffer[count] = UInt8(value)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[...count]))
        }
    }

    public mutating func writeSigned(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func writeDouble(_ value: Double) {
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    public mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func writeBytes(_ value: some Collection<UInt8>) {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends raw bytes with no length (the reader must know where they end).
    public mutating func writeRaw(_ value: some Collection<UInt8>) {
        bytes.append(contentsOf: value)
    }

    /// Writes `body` preceded by its length, for values a reader may need to skip.
    public mutating func writeLengthPrefixed(_ body: (inout WireWriter) -> Void) {
        var inner = WireWriter()
        body(&inner)
        writeBytes(inner.bytes)
    }
}
