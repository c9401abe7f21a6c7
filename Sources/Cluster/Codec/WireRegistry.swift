import Processes
import Synchronization

/// The message types that may cross nodes, each under a stable name that both sides know.
/// A message of an unregistered type cannot be sent remotely; a frame naming an unknown type
/// is dropped by the receiver.
public final class WireRegistry: Sendable {
    /// A class, so a lookup hands over one reference rather than copying four.
    final class Entry: Sendable {
        let name: String
        /// `name` as the wire carries it (its length, then its UTF-8), written as it is.
        let wireName: [UInt8]
        let encode: @Sendable (any Sendable, inout WireWriter) throws -> Void
        let decode: @Sendable (inout WireReader) throws -> any Sendable

        init(name: String, encode: @escaping @Sendable (any Sendable, inout WireWriter) throws -> Void,
             decode: @escaping @Sendable (inout WireReader) throws -> any Sendable) {
            self.name = name
            var writer = WireWriter(capacity: name.utf8.count + 2)
            writer.writeString(name)
            wireName = writer.bytes
            self.encode = encode
            self.decode = decode
        }
    }

    private let byType = Mutex<[ObjectIdentifier: Entry]>([:])
    /// By the bytes of the name, so a message's type is found from the bytes in the frame:
    /// reading the name into a `String` for a `Dictionary` first (checking its UTF-8, a heap
    /// allocation past 15 bytes, then SipHash) was about a sixth of the receiving transport
    /// thread's CPU in `todo-bench throughput-profile`.
    private let byName = Mutex(ByteKeyedTable<Entry>())

    /// A registry that knows the runtime's own messages (pids, exits, DOWNs, primitives).
    public init() {
        register(Int.self, as: "int")
        register(UInt64.self, as: "u64")
        register(String.self, as: "string")
        register(Bool.self, as: "bool")
        register([UInt8].self, as: "bytes")
        register(Pid.self, as: "pid")
        register(Ref.self, as: "ref")
        register(ExitReason.self, as: "exit_reason")
        register(Down.self, as: "DOWN")
        register(Exit.self, as: "EXIT")
    }

    /// Registers a type with a hand-written wire form.
    public func register<T: WireCodable>(_ type: T.Type, as name: String) {
        add(Entry(
            name: name,
            encode: { value, writer in try Self.open(value, as: T.self) { $0.encode(to: &writer) } },
            decode: { reader in try T(from: &reader) }
        ), for: type)
    }

    /// Registers a `Codable` type, sent in the compact binary form. (A distinct name from
    /// `register`, so a type that is both `WireCodable` and `Codable` always takes the fast path.)
    public func registerCodable<T: Codable & Sendable>(_ type: T.Type, as name: String) {
        add(Entry(
            name: name,
            encode: { value, writer in try Self.open(value, as: T.self) { try BinaryEncoder().encode($0, to: &writer) } },
            decode: { reader in try BinaryDecoder().decode(T.self, from: &reader) }
        ), for: type)
    }

    /// Runs `body` on `value` as a `T`: `encode` looked its entry up by the value's dynamic
    /// type, so that type is `T` whenever the metatypes match, and the value is read as one in
    /// place. A cast (`value as? T`) made the runtime unwrap and compare the types each time:
    /// about 8 % of the sending thread's CPU in `todo-bench throughput-profile`.
    private static func open<T>(_ value: any Sendable, as _: T.Type, _ body: (T) throws -> Void) throws {
        func read<Value: Sendable>(_ value: Value) throws {
            guard Value.self == T.self else { throw WireError.malformed("not a \(T.self)") }
            try withUnsafePointer(to: value) { try $0.withMemoryRebound(to: T.self, capacity: 1) { try body($0.pointee) } }
        }
        try read(value)
    }

    private func add(_ entry: Entry, for type: Any.Type) {
        byType.withLock { $0[ObjectIdentifier(type)] = entry }
        byName.withLock { $0.set(Array(entry.name.utf8), entry) }
    }

    public func isRegistered(_ type: Any.Type) -> Bool {
        byType.withLock { $0[ObjectIdentifier(type)] } != nil
    }

    /// Writes the message's type name, then the message.
    public func encode(_ message: any Sendable, to writer: inout WireWriter) throws {
        guard let entry = byType.withLock({ $0[ObjectIdentifier(type(of: message))] }) else {
            throw WireError.unknownType(String(describing: type(of: message)))
        }
        writer.writeRaw(entry.wireName)
        try entry.encode(message, &writer)
    }

    /// Reads a message written by `encode`.
    public func decode(from reader: inout WireReader) throws -> any Sendable {
        let name = try reader.readRange()
        let frame = reader.bytes
        let entry = byName.withLock { table in
            frame.withUnsafeBytes { table.value(for: UnsafeRawBufferPointer(rebasing: $0[name])) }
        }
        guard let entry else { throw WireError.unknownType(String(decoding: frame[name], as: UTF8.self)) }
        return try entry.decode(&reader)
    }
}
