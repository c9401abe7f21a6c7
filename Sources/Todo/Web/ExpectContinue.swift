import NIOCore
import NIOHTTP1

/// Answers `Expect: 100-continue` with `100 Continue` as the request comes in. A client that
/// asks it sends its body only after that, or after a wait of its own: Hummingbird never
/// answered it, so curl's uploads of over 1 MB waited 1 s each before a refusal, and clients
/// that send it on every POST waited on every write. HTTP/1.0 requests' expectations are
/// ignored, as RFC 9110 says.
///
/// Sits before Hummingbird's parts, beside `ConnectionPersistence`, nearer the socket: NIO's
/// pipelining handler lets one request at a time through, so the `100` is in its place.
final class ExpectContinue: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), Self.waitsForContinue(head) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    /// Whether `request` waits for a `100 Continue` before it sends its body.
    static func waitsForContinue(_ request: HTTPRequestHead) -> Bool {
        (request.version.major, request.version.minor) >= (1, 1)
            && request.headers[canonicalForm: "Expect"].contains { $0.lowercased() == "100-continue" }
    }
}
