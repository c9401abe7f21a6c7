import Cluster
import Foundation
import Hummingbird

/// The node's HTTP front for now: `GET /health`; anything else is `404 not found`.
enum HealthRoutes {
    struct Health: ResponseEncodable {
        let node: String
        let nodes: [String]
        let hidden: [String]
        let uptime_s: Int
    }

    static func router(node: ClusterNode, started: ContinuousClock.Instant) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in
            Health(node: node.name.description,
                   nodes: node.nodes().map(\.description),
                   hidden: node.hiddenNodes().map(\.description),
                   uptime_s: Int((ContinuousClock.now - started).components.seconds))
        }
        return router
    }

    /// Unknown routes and methods: the book's `404` with body `not found`.
    struct NotFound<Context: RequestContext>: RouterMiddleware {
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "not found")))
            }
        }
    }
}
