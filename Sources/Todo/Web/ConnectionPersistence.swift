import NIOCore
import NIOHTTP1

/// Whether a connection outlives its request, in the request's own HTTP version's terms:
/// an HTTP/1.0 request keeps it only with `Connection: keep-alive`, an HTTP/1.1 one unless
/// it says `Connection: close` (in any case, among other tokens). Hummingbird closes only
/// after a request whose header is exactly `close`, and it forgets the version: an HTTP/1.0
/// client that reads its answer to the end of the stream, as HTTP/1.0 allows, waited out the
/// idle timeout for every request.
///
/// Sits between NIO's HTTP/1 parts and Hummingbird's version-free ones; NIO's pipelining
/// handler before it lets one request at a time through to its answer.
final class ConnectionPersistence: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The requests read and not yet answered, oldest first.
    private var unanswered: [HTTPRequestHead] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        unanswered.append(head)
        context.fireChannelRead(wrapInboundOut(.head(Self.asRead(head))))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer without a request (to one that could not be parsed) closes anyway; a
        // `100 Continue` is not the answer.
        guard case .head(let response) = unwrapOutboundIn(data), !(100..<200).contains(response.status.code), !unanswered.isEmpty else {
            return context.write(data, promise: promise)
        }
        let request = unanswered.removeFirst()
        context.write(wrapOutboundOut(.head(Self.answer(response, to: request))), promise: promise)
    }

    /// The request as Hummingbird should read it: `Connection: close` exactly when the
    /// connection ends after it.
    static func asRead(_ request: HTTPRequestHead) -> HTTPRequestHead {
        var request = request
        if !request.isKeepAlive {
            request.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        return request
    }

    /// The answer's head, telling the client what becomes of the connection where its
    /// version would not assume it.
    static func answer(_ response: HTTPResponseHead, to request: HTTPRequestHead) -> HTTPResponseHead {
        var response = response
        if !request.isKeepAlive {
            response.headers.replaceOrAdd(name: "Connection", value: "close")
        } else if request.version == .http1_0 {
            response.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        return response
    }
}
