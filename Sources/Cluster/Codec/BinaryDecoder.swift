/// Reads what `BinaryEncoder` wrote. Every read is checked: a truncated, malformed or
/// mistyped input throws, it never traps.
public struct BinaryDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        var reader = WireReader(bytes)
        return try decode(type, from: &reader)
    }

    public func decode<T: Decodable>(_ type: T.Type, from reader: inout WireReader) throws -> T {
        let start = reader
        try skipValue(&reader)
        return try decodeValue(type, at: start, codingPath: [])
    }
}

/// Moves `reader` past one tagged value.
func skipValue(_ reader: inout WireReader) throws(WireError) {
    guard let tag = BinaryTag(rawValue: try reader.read()) else { throw .malformed("unknown value tag") }
    switch tag {
    case .null, .false, .true: break
    case .signed, .unsigned: _ = try reader.readVarint()
    case .double: _ = try reader.readDouble()
    case .string:
        let length = try reader.readLength()
        reader.skip(length)
    case .keyed, .unkeyed: _ = try reader.readLengthPrefixed()
    }
}

func decodeValue<T: Decodable>(_ type: T.Type, at reader: WireReader, codingPath: [any CodingKey]) throws -> T {
    var probe = reader
    if let primitive = try decodePrimitive(type, from: &probe, codingPath: codingPath) { return primitive }
    return try T(from: TreeDecoder(reader: reader, codingPath: codingPath))
}

/// Decodes the primitives the encoder wrote as such; nil for other types.
func decodePrimitive<T>(_ type: T.Type, from reader: inout WireReader, codingPath: [any CodingKey]) throws -> T? {
    func mismatch(_ what: String) -> DecodingError {
        .typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "expected \(what)"))
    }
    func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
        let tag = BinaryTag(rawValue: try reader.read())
        let value: I?
        switch tag {
        case .signed?: value = I(exactly: try reader.readSigned())
        case .unsigned?: value = I(exactly: try reader.readVarint())
        default: throw mismatch("an integer")
        }
        guard let value else { throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "integer out of range for \(I.self)")) }
        return value
    }
    switch type {
    case is Bool.Type:
        switch BinaryTag(rawValue: try reader.read()) {
        case .true?: return true as? T
        case .false?: return false as? T
        default: throw mismatch("a boolean")
        }
    case is String.Type:
        guard BinaryTag(rawValue: try reader.read()) == .string else { throw mismatch("a string") }
        return try reader.readString() as? T
    case is Double.Type, is Float.Type:
        guard BinaryTag(rawValue: try reader.read()) == .double else { throw mismatch("a number") }
        let value = try reader.readDouble()
        return (type is Float.Type ? Float(value) as Any : value as Any) as? T
    case is Int.Type: return try integer(Int.self) as? T
    case is Int8.Type: return try integer(Int8.self) as? T
    case is Int16.Type: return try integer(Int16.self) as? T
    case is Int32.Type: return try integer(Int32.self) as? T
    case is Int64.Type: return try integer(Int64.self) as? T
    case is UInt.Type: return try integer(UInt.self) as? T
    case is UInt8.Type: return try integer(UInt8.self) as? T
    case is UInt16.Type: return try integer(UInt16.self) as? T
    case is UInt32.Type: return try integer(UInt32.self) as? T
    case is UInt64.Type: return try integer(UInt64.self) as? T
    default: return nil
    }
}

struct TreeDecoder: Decoder {
    let reader: WireReader
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedReader<Key>(reader: reader, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedReader(reader: reader, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleReader(reader: reader, codingPath: codingPath)
    }
}

/// Opens a container of `tag` at `reader`: the count, and a reader over its entries.
func openContainer(_ tag: BinaryTag, at reader: WireReader, codingPath: [any CodingKey]) throws -> (count: Int, body: WireReader) {
    var reader = reader
    guard BinaryTag(rawValue: try reader.read()) == tag else {
        throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected a \(tag) container"))
    }
    var body = try reader.readLengthPrefixed()
    let count = try body.readVarint()
    guard count <= UInt64(body.remaining) else { throw WireError.truncated }
    return (Int(count), body)
}

struct KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let codingPath: [any CodingKey]
    /// Each key and a reader at its value, in written order.
    let entries: [(String, WireReader)]
    /// Where each key's first entry is, for a container of more than `scanned` entries: a
    /// `Dictionary` with `String` keys decodes every key it holds, and found by a scan each,
    /// a table of 100,000 names to pids took 47 s to read in a release build (a peer's table
    /// of global names came so before protocol version 5).
    private let positions: [String: Int]?
    /// A struct's few fields are found faster by a scan than by hashing their names.
    static var scanned: Int { 8 }

    init(reader: WireReader, codingPath: [any CodingKey]) throws {
        self.codingPath = codingPath
        var (count, body) = try openContainer(.keyed, at: reader, codingPath: codingPath)
        var entries: [(String, WireReader)] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let key = try body.readString()
            entries.append((key, body))
            try skipValue(&body)
        }
        self.entries = entries
        // The first of a repeated key, as a scan finds it.
        positions = count > Self.scanned
            ? Dictionary(entries.enumerated().map { ($1.0, $0) }, uniquingKeysWith: { first, _ in first }) : nil
    }

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.0) } }

    func contains(_ key: Key) -> Bool { entry(named: key.stringValue) != nil }

    /// The reader at `name`'s value, if the container holds it.
    private func entry(named name: String) -> WireReader? {
        if let positions { return positions[name].map { entries[$0].1 } }
        return entries.first { $0.0 == name }?.1
    }

    private func value(_ key: Key) throws -> WireReader {
        guard let entry = entry(named: key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return entry
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        var reader = try value(key)
        return try reader.read() == BinaryTag.null.rawValue
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(type, at: try value(key), codingPath: codingPath + [key])
    }

    // The primitives that synthesized Codable asks for directly.
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        var reader = try value(key)
        guard try reader.read() == BinaryTag.string.rawValue else { throw mismatch(type, key) }
        return try reader.readString()
    }

    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        var reader = try value(key)
        guard try reader.read() == BinaryTag.signed.rawValue, let value = Int(exactly: try reader.readSigned()) else { throw mismatch(type, key) }
        return value
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        var reader = try value(key)
        switch BinaryTag(rawValue: try reader.read()) {
        case .true?: return true
        case .false?: return false
        default: throw mismatch(type, key)
        }
    }

    private func mismatch(_ type: Any.Type, _ key: Key) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath + [key], debugDescription: "expected \(type)"))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedReader<NestedKey>(reader: try value(key), codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try UnkeyedReader(reader: try value(key), codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder {
        guard let entry = entry(named: "super") else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "no super value"))
        }
        return TreeDecoder(reader: entry, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(reader: try value(key), codingPath: codingPath + [key])
    }
}

struct UnkeyedReader: UnkeyedDecodingContainer {
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    private var body: WireReader

    init(reader: WireReader, codingPath: [any CodingKey]) throws {
        self.codingPath = codingPath
        let (count, body) = try openContainer(.unkeyed, at: reader, codingPath: codingPath)
        self.count = count
        self.body = body
    }

    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    private mutating func next() throws -> WireReader {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "no more values"))
        }
        let start = body
        try skipValue(&body)
        currentIndex += 1
        return start
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        var probe = body
        guard try probe.read() == BinaryTag.null.rawValue else { return false }
        _ = try next()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decodeValue(type, at: try next(), codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedReader<NestedKey>(reader: try next(), codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedReader(reader: try next(), codingPath: codingPath)
    }

    mutating func superDecoder() throws -> any Decoder {
        TreeDecoder(reader: try next(), codingPath: codingPath)
    }
}

struct SingleReader: SingleValueDecodingContainer {
    let reader: WireReader
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        var probe = reader
        return (try? probe.read()) == BinaryTag.null.rawValue
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decodeValue(type, at: reader, codingPath: codingPath)
    }
}
