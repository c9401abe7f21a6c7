import HTTPTypes
import Hummingbird

/// What every request passes before a route: an optional bearer token (`--http-token`), and
/// for requests that change data, no cross-site browser origin. A web page the user visits
/// can make the browser POST to `localhost:5454`; browsers say where such a request comes
/// from (`Origin`, `Sec-Fetch-Site`), so a write from another site is refused with `403`.
/// Clients that are not browsers (curl, scripts, haproxy's checks) send neither and pass.
///
/// A responder in front of the router's, not a router middleware: a middleware calls the
/// route through a closure, which the task hops back from after each call: with the guard and
/// `NotFoundMiddleware` around every route a `GET /entries` made 49 task switches, and 39
/// with this (about 2 µs less of its node's CPU; README, `A read's path`).
public struct RequestGuard<Next: HTTPResponder>: HTTPResponder {
    /// Required as `Authorization: Bearer TOKEN` on every route but `/health`; nil: none.
    public let token: String?
    let next: Next

    public init(token: String? = nil, next: Next) {
        self.token = token
        self.next = next
    }

    /// `@concurrent` as Hummingbird's requirement is (its module runs a nonisolated async
    /// function on the generic executor, ours on the caller's: Package.swift).
    @concurrent public func respond(to request: Request, context: Next.Context) async throws -> Response {
        if let token, request.uri.path != "/health", !RequestChecks.bears(token, request.headers[.authorization]) {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer", .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "a bearer token is required (Authorization: Bearer ...)")))
        }
        if RequestChecks.changesData(request.method),
           let refusal = RequestChecks.crossSiteRefusal(request.headers, authority: request.head.authority) {
            return .text(.forbidden, refusal)
        }
        return try await next.respond(to: request, context: context)
    }
}

/// A router behind `RequestGuard`, for `Application(router:)`.
public struct GuardedRouter<Context: RequestContext>: HTTPResponderBuilder {
    let router: Router<Context>
    let token: String?

    public func buildResponder() -> RequestGuard<RouterResponder<Context>> {
        RequestGuard(token: token, next: router.buildResponder())
    }
}

/// The guard's checks, as plain functions of a request's parts.
enum RequestChecks {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site") ?? .origin

    static func changesData(_ method: HTTPRequest.Method) -> Bool {
        method != .get && method != .head && method != .options
    }

    /// Why a request that changes data is refused as coming from another site; nil if not.
    /// `authority` is the request's Host: a browser's `Origin` must name it.
    static func crossSiteRefusal(_ headers: HTTPFields, authority: String?) -> String? {
        if let site = headers[secFetchSite], site != "same-origin", site != "none" {
            return "a request from another site may not change data (Sec-Fetch-Site: \(site.prefix(20)))"
        }
        if let origin = headers[.origin] {
            let host = authority ?? ""
            guard !host.isEmpty, origin == "http://\(host)" || origin == "https://\(host)" else {
                return "a request from another site may not change data (Origin: \(origin.prefix(100)))"
            }
        }
        return nil
    }

    /// Whether `header` is `Bearer TOKEN`, compared in constant time.
    static func bears(_ token: String, _ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst("Bearer ".utf8.count)), expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
