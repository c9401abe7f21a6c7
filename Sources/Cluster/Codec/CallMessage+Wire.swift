import Processes

// A server's calls and replies in their hand-written wire form whenever the request or the
// reply has one (register them with `WireRegistry.register`): remote calls are a hot path.

extension CallMessage: WireCodable where Request: WireCodable {
    public func encode(to writer: inout WireWriter) {
        from.caller.encode(to: &writer)
        from.tag.encode(to: &writer)
        request.encode(to: &writer)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        let from = CallFrom(caller: try Pid(from: &reader), tag: try Ref(from: &reader))
        self.init(from: from, request: try Request(from: &reader))
    }
}

extension CallReply: WireCodable where Value: WireCodable {
    public func encode(to writer: inout WireWriter) {
        tag.encode(to: &writer)
        value.encode(to: &writer)
    }

    public init(from reader: inout WireReader) throws(WireError) {
        self.init(tag: try Ref(from: &reader), value: try Value(from: &reader))
    }
}
