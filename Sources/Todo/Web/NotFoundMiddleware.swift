import Hummingbird

/// Unknown routes and methods (`GET /add_entry` included): the book's `404`, body `not found`.
/// It wraps only the router's answer to a request no route takes (`TodoRoutes.router` adds it
/// after the routes); the routes' handlers answer their own errors (`TodoRoutes.respond`).
public struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    /// `next` is `@concurrent`, as Hummingbird's requirement has it (Package.swift).
    public func handle(_ request: Request, context: Context, next: @concurrent (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return .text(.notFound, "not found")
        }
    }
}
