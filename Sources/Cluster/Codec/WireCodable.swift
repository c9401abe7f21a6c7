import Processes

/// A value with a hand-written wire form: the fast path for messages that cross nodes often.
/// Other `Codable` messages go through `BinaryEncoder`.
public protocol WireCodable: Sendable {
    func encode(to writer: inout WireWriter)
    init(from reader: inout WireReader) throws(WireError)
}

extension Int: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.writeSigned(Int64(self)) }
    public init(from reader: inout WireReader) throws(WireError) {
        let value = try reader.readSigned()
        guard let fitted = Int(exactly: value) else { throw .malformed("integer out of range") }
        self = fitted
    }
}

extension UInt64: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.writeVarint(self) }
    public init(from reader: inout WireReader) throws(WireError) { self = try reader.readVarint() }
}

extension String: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.writeString(self) }
    public init(from reader: inout WireReader) throws(WireError) { self = try reader.readString() }
}

extension Bool: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.write(self ? 1 : 0) }
    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0: self = false
        case 1: self = true
        default: throw .malformed("bad boolean")
        }
    }
}

extension Array: WireCodable where Element == UInt8 {
    public func encode(to writer: inout WireWriter) { writer.writeBytes(self) }
    public init(from reader: inout WireReader) throws(WireError) { self = try reader.readBytes() }
}

/// Pids and refs travel alike: node, incarnation, serial.
extension WireWriter {
    mutating func writeIdentity(node: String, incarnation: UInt64, serial: UInt64) {
        writeString(node)
        writeVarint(incarnation)
        writeVarint(serial)
    }
}

extension WireReader {
    mutating func readIdentity() throws(WireError) -> (node: String, incarnation: UInt64, serial: UInt64) {
        (try readString(), try readVarint(), try readVarint())
    }
}

/// Named values, counted: each name, then its value (a table of global names, lists with
/// their names, changes with theirs).
extension WireWriter {
    public mutating func writeNamed<Value: WireCodable>(_ items: [(name: String, value: Value)]) {
        writeVarint(UInt64(items.count))
        for item in items {
            writeString(item.name)
            item.value.encode(to: &self)
        }
    }
}

extension WireReader {
    /// What `writeNamed` wrote; `what` names a value in the error for a count larger than
    /// the message could hold.
    public mutating func readNamed<Value: WireCodable>(_ type: Value.Type, _ what: String) throws(WireError) -> [(name: String, value: Value)] {
        let count = try readVarint()
        guard count <= UInt64(remaining) else { throw .malformed("\(what) count larger than the message") }
        var items: [(name: String, value: Value)] = []
        for _ in 0..<count { items.append((try readString(), try Value(from: &self))) }
        return items
    }
}

extension Pid: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeIdentity(node: node, incarnation: incarnation, serial: serial)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let identity = try reader.readIdentity()
        self.init(node: identity.node, incarnation: identity.incarnation, serial: identity.serial)
    }
}

extension Ref: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeIdentity(node: node, incarnation: incarnation, serial: serial)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let identity = try reader.readIdentity()
        self.init(node: identity.node, incarnation: identity.incarnation, serial: identity.serial)
    }
}

extension ExitReason: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case .normal: writer.write(0)
        case .shutdown: writer.write(1)
        case .kill: writer.write(2)
        case .killed: writer.write(3)
        case .noproc: writer.write(4)
        case .noconnection: writer.write(5)
        case .other(let words):
            writer.write(6)
            writer.writeString(words)
        }
    }

    public init(from reader: inout WireReader) throws(WireError) {
        switch try reader.read() {
        case 0: self = .normal
        case 1: self = .shutdown
        case 2: self = .kill
        case 3: self = .killed
        case 4: self = .noproc
        case 5: self = .noconnection
        case 6: self = .other(try reader.readString())
        default: throw .malformed("bad exit reason")
        }
    }
}

extension Down: WireCodable {
    public func encode(to writer: inout WireWriter) {
        ref.encode(to: &writer)
        pid.encode(to: &writer)
        reason.encode(to: &writer)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(ref: try Ref(from: &reader), pid: try Pid(from: &reader), reason: try ExitReason(from: &reader))
    }
}

extension Exit: WireCodable {
    public func encode(to writer: inout WireWriter) {
        from.encode(to: &writer)
        reason.encode(to: &writer)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(from: try Pid(from: &reader), reason: try ExitReason(from: &reader))
    }
}

extension WireWriter {
    /// An optional value: a presence byte, then the value.
    public mutating func encodeOptional(_ value: (some WireCodable)?) {
        guard let value else { return write(0) }
        write(1)
        value.encode(to: &self)
    }
}

extension WireReader {
    public mutating func decodeOptional<T: WireCodable>(_ type: T.Type) throws(WireError) -> T? {
        switch try read() {
        case 0: return nil
        case 1: return try T(from: &self)
        default: throw .malformed("bad presence byte")
        }
    }
}
