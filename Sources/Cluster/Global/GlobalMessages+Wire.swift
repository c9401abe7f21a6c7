import Processes

// The global registry's messages in hand-written wire forms (protocol version 5): a peer's
// table comes with every connection, and holds a name for each list server on the peer; the
// transport thread reads it, and nothing else meanwhile. In the tagged binary form, which
// names every field of every pid, a table of 100,000 names took 8.2 MB, and in a debug build
// five times as long to read as in this form (5.2 MB; 0.94 to 0.98 s against 0.17 to 0.18).

extension GlobalRequest: WireCodable {
    func encode(to writer: inout WireWriter) {
        writer.writeString(name)
        pid.encode(to: &writer)
        register.encode(to: &writer)
        tag.encode(to: &writer)
        replyTo.encode(to: &writer)
    }

    init(from reader: inout WireReader) throws(WireError) {
        name = try reader.readString()
        pid = try Pid(from: &reader)
        register = try Bool(from: &reader)
        tag = try Ref(from: &reader)
        replyTo = try Pid(from: &reader)
    }
}

extension GlobalReply: WireCodable {
    func encode(to writer: inout WireWriter) {
        tag.encode(to: &writer)
        writer.encodeOptional(owner)
    }

    init(from reader: inout WireReader) throws(WireError) {
        tag = try Ref(from: &reader)
        owner = try reader.decodeOptional(Pid.self)
    }
}

extension GlobalUpdate: WireCodable {
    func encode(to writer: inout WireWriter) {
        writer.writeString(name)
        pid.encode(to: &writer)
        registered.encode(to: &writer)
    }

    init(from reader: inout WireReader) throws(WireError) {
        name = try reader.readString()
        pid = try Pid(from: &reader)
        registered = try Bool(from: &reader)
    }
}

extension GlobalSync: WireCodable {
    // `more` is written only when set.
    func encode(to writer: inout WireWriter) {
        writer.writeString(from)
        writer.writeNamed(names.map { ($0.key, $0.value) })
        if more { writer.write(1) }
    }

    /// A name written twice (only a broken or hostile peer writes one) keeps its first pid.
    init(from reader: inout WireReader) throws(WireError) {
        from = try reader.readString()
        names = Dictionary(try reader.readNamed(Pid.self, "name"), uniquingKeysWith: { first, _ in first })
        guard !reader.isAtEnd else { return }
        guard try reader.read() == 1 else { throw .malformed("not a part of a table to go on") }
        more = true
    }
}
