import Logging

/// swift-log's `StreamLogHandler`, writing the same lines, with the logger's metadata turned
/// into text only when a line is written. The stream handler renders all of it each time a
/// key is set, and the HTTP server sets a request's metadata on every request, most of which
/// write no line.
public struct NodeLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]
    /// Kept here, not in the stream handler, so that a line asks it once.
    public var metadataProvider: Logger.MetadataProvider?

    /// Writes through `stream`, whose own metadata is left empty and whose metadata provider
    /// this handler takes over.
    public init(_ stream: StreamLogHandler) {
        self.stream = stream
        metadataProvider = stream.metadataProvider
        self.stream.metadataProvider = nil
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard !metadata.isEmpty || metadataProvider != nil else { return stream.log(event: event) }
        // Given with the line, it is rendered with it. The stream handler's order of precedence
        // is kept: the logger's metadata, then the provider's, then the line's own.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, provided in provided } }
        if let line = event.metadata { merged.merge(line) { _, line in line } }
        var event = event
        event.metadata = merged
        stream.log(event: event)
    }
}
