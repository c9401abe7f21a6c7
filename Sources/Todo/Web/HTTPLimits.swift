import Hummingbird
import HummingbirdCore

/// What a node's HTTP front holds open for its clients at most. The cluster's connections
/// and the database's files are descriptors too: clients that took them all (idle
/// connections are enough) left the node unable to let a peer join or come back, and its
/// log blamed a wrong cookie.
public struct HTTPLimits: Sendable {
    /// Connections open at once; more wait in the kernel's queue until one closes.
    public var maxConnections: Int
    /// A connection that has sent no whole request, head or body part in this long is closed:
    /// an idle keep-alive connection, or one that trickles a request's head.
    public var idleTimeout: Duration

    public init(maxConnections: Int, idleTimeout: Duration = .seconds(60)) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
    }

    /// For a process that may hold `descriptors` at once: a quarter of them, at least 128,
    /// are kept for the node itself.
    public init(descriptors: Int, idleTimeout: Duration = .seconds(60)) {
        self.init(maxConnections: max(16, descriptors - max(128, descriptors / 4)), idleTimeout: idleTimeout)
    }

    /// The HTTP/1 server with the idle timeout, ending connections as each request's
    /// version has it.
    public var server: HTTPServerBuilder {
        let (seconds, attoseconds) = idleTimeout.components
        let configuration = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        return HTTPServerBuilder { responder in
            TodoHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }

    /// The application's configuration at `address`, with the bound on connections.
    public func configuration(address: BindAddress) -> ApplicationConfiguration {
        ApplicationConfiguration(address: address, reuseAddress: true,
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections))
    }
}
