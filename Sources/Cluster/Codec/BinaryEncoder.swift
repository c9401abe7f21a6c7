/// A compact, self-describing binary form for any `Codable` message (the codec's general path;
/// hot messages implement `WireCodable` instead). Every value starts with a tag byte, and
/// containers carry their length, so a reader can skip what it does not need.
enum BinaryTag: UInt8 {
    case null = 0, `false`, `true`, signed, unsigned, double, string, keyed, unkeyed
}

public struct BinaryEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        var writer = WireWriter()
        try encode(value, to: &writer)
        return writer.bytes
    }

    public func encode(_ value: some Encodable, to writer: inout WireWriter) throws {
        let root = EncodedValue()
        try value.encode(to: TreeEncoder(box: root, codingPath: []))
        root.write(to: &writer)
    }
}

/// The encoder builds a small tree first: a container's length is known only once it is full.
final class EncodedValue {
    enum Content {
        case null, bool(Bool), signed(Int64), unsigned(UInt64), double(Double), string(String)
        case keyed(KeyedStorage), unkeyed(UnkeyedStorage)
    }

    var content: Content = .null

    init(_ content: Content = .null) { self.content = content }

    func write(to writer: inout WireWriter) {
        switch content {
        case .null: writer.write(BinaryTag.null.rawValue)
        case .bool(let value): writer.write(value ? BinaryTag.true.rawValue : BinaryTag.false.rawValue)
        case .signed(let value):
            writer.write(BinaryTag.signed.rawValue)
            writer.writeSigned(value)
        case .unsigned(let value):
            writer.write(BinaryTag.unsigned.rawValue)
            writer.writeVarint(value)
        case .double(let value):
            writer.write(BinaryTag.double.rawValue)
            writer.writeDouble(value)
        case .string(let value):
            writer.write(BinaryTag.string.rawValue)
            writer.writeString(value)
        case .keyed(let storage):
            writer.write(BinaryTag.keyed.rawValue)
            writer.writeLengthPrefixed { inner in
                inner.writeVarint(UInt64(storage.entries.count))
                for (key, value) in storage.entries {
                    inner.writeString(key)
                    value.write(to: &inner)
                }
            }
        case .unkeyed(let storage):
            writer.write(BinaryTag.unkeyed.rawValue)
            writer.writeLengthPrefixed { inner in
                inner.writeVarint(UInt64(storage.items.count))
                for item in storage.items { item.write(to: &inner) }
            }
        }
    }
}

final class KeyedStorage { var entries: [(String, EncodedValue)] = [] }
final class UnkeyedStorage { var items: [EncodedValue] = [] }

/// The content of a primitive, or nil for a type that encodes itself. Metatype comparisons
/// first: a dynamic cast is paid only for the type that matches.
func primitiveContent<T>(_ value: T) -> EncodedValue.Content? {
    switch T.self {
    case is Bool.Type: (value as? Bool).map { .bool($0) }
    case is String.Type: (value as? String).map { .string($0) }
    case is Double.Type: (value as? Double).map { .double($0) }
    case is Float.Type: (value as? Float).map { .double(Double($0)) }
    case is Int.Type: (value as? Int).map { .signed(Int64($0)) }
    case is Int8.Type: (value as? Int8).map { .signed(Int64($0)) }
    case is Int16.Type: (value as? Int16).map { .signed(Int64($0)) }
    case is Int32.Type: (value as? Int32).map { .signed(Int64($0)) }
    case is Int64.Type: (value as? Int64).map { .signed($0) }
    case is UInt.Type: (value as? UInt).map { .unsigned(UInt64($0)) }
    case is UInt8.Type: (value as? UInt8).map { .unsigned(UInt64($0)) }
    case is UInt16.Type: (value as? UInt16).map { .unsigned(UInt64($0)) }
    case is UInt32.Type: (value as? UInt32).map { .unsigned(UInt64($0)) }
    case is UInt64.Type: (value as? UInt64).map { .unsigned($0) }
    default: nil
    }
}

func encodedValue(_ value: some Encodable, codingPath: [any CodingKey]) throws -> EncodedValue {
    if let content = primitiveContent(value) { return EncodedValue(content) }
    let box = EncodedValue()
    try value.encode(to: TreeEncoder(box: box, codingPath: codingPath))
    return box
}

struct TreeEncoder: Encoder {
    let box: EncodedValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let storage: KeyedStorage
        if case .keyed(let existing) = box.content {
            storage = existing
        } else {
            storage = KeyedStorage()
            box.content = .keyed(storage)
        }
        return KeyedEncodingContainer(KeyedWriter<Key>(storage: storage, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let storage: UnkeyedStorage
        if case .unkeyed(let existing) = box.content {
            storage = existing
        } else {
            storage = UnkeyedStorage()
            box.content = .unkeyed(storage)
        }
        return UnkeyedWriter(storage: storage, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleWriter(box: box, codingPath: codingPath)
    }
}

struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: KeyedStorage
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        storage.entries.append((key.stringValue, EncodedValue(.null)))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        storage.entries.append((key.stringValue, try encodedValue(value, codingPath: codingPath + [key])))
    }

    // The primitives that synthesized Codable calls directly: no casts, no coding path.
    mutating func encode(_ value: Bool, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.bool(value)))) }
    mutating func encode(_ value: String, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.string(value)))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.double(value)))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.signed(Int64(value))))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.signed(value)))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { storage.entries.append((key.stringValue, EncodedValue(.unsigned(value)))) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let box = EncodedValue()
        storage.entries.append((key.stringValue, box))
        return TreeEncoder(box: box, codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let box = EncodedValue()
        storage.entries.append((key.stringValue, box))
        return TreeEncoder(box: box, codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let box = EncodedValue()
        storage.entries.append(("super", box))
        return TreeEncoder(box: box, codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let box = EncodedValue()
        storage.entries.append((key.stringValue, box))
        return TreeEncoder(box: box, codingPath: codingPath + [key])
    }
}

struct UnkeyedWriter: UnkeyedEncodingContainer {
    let storage: UnkeyedStorage
    let codingPath: [any CodingKey]
    var count: Int { storage.items.count }

    mutating func encodeNil() throws { storage.items.append(EncodedValue(.null)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        storage.items.append(try encodedValue(value, codingPath: codingPath))
    }

    mutating func encode(_ value: String) throws { storage.items.append(EncodedValue(.string(value))) }
    mutating func encode(_ value: Int) throws { storage.items.append(EncodedValue(.signed(Int64(value)))) }
    mutating func encode(_ value: UInt8) throws { storage.items.append(EncodedValue(.unsigned(UInt64(value)))) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let box = EncodedValue()
        storage.items.append(box)
        return TreeEncoder(box: box, codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let box = EncodedValue()
        storage.items.append(box)
        return TreeEncoder(box: box, codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let box = EncodedValue()
        storage.items.append(box)
        return TreeEncoder(box: box, codingPath: codingPath)
    }
}

struct SingleWriter: SingleValueEncodingContainer {
    let box: EncodedValue
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.content = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        box.content = try encodedValue(value, codingPath: codingPath).content
    }
}
