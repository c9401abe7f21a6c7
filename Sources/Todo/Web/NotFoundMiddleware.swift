import Hummingbird

/// Unknown routes and methods (`GET /add_entry` included): the book's `404`, body `not found`.
/// Any other error a handler lets escape is answered as a short line too, never a crash.
public struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return .text(.notFound, "not found")
        } catch let error as HTTPError {
            return .text(error.status, error.body ?? error.status.reasonPhrase)
        }
    }
}
