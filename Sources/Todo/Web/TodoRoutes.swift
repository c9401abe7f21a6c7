import Foundation
import Hummingbird

/// The HTTP front of one node: the book's two routes exactly, the JSON API, `/health` and
/// `/metrics` (see CONTRACT.md). Bad input is a `400` with one line; a list server that cannot
/// be reached is a `503` with `Retry-After`.
public enum TodoRoutes {
    struct Health: Encodable {
        let node: String
        let nodes: [String]
        let hidden: [String]
        let uptime_s: Int
    }

    struct NewEntry: Decodable {
        let date: String?
        let title: String?
    }

    /// The routes; `token`, when given, is required as a bearer token on all but `/health`.
    public static func router(system: TodoSystem, token: String? = nil, started: ContinuousClock.Instant = .now) -> GuardedRouter<BasicRequestContext> {
        let router = Router()
        let node = system.node

        router.post("/add_entry") { request, _ in
            await respond {
                let query = try formQuery(request)
                let list = try TodoInput.listName(query["list"])
                let date = try TodoInput.date(query["date"])
                let title = try TodoInput.title(query["title"])
                _ = try await system.perform(list, .add(date: date, title: title))
                return .text(.ok, "OK")
            }
        }

        router.get("/entries") { request, _ in
            await respond {
                let query = try formQuery(request)
                let list = try TodoInput.listName(query["list"])
                let date = try TodoInput.date(query["date"])
                let entries = try await entries(of: list, on: date, system: system)
                return .text(.ok, entries.map { "\($0.date) \($0.title)" }.joined(separator: "\n"))
            }
        }

        router.get("/lists/:list/entries") { request, context in
            await respond {
                let list = try pathList(context)
                let query = try formQuery(request)
                let date = try query["date"].map { try TodoInput.date($0) }
                return .json(.ok, try await entries(of: list, on: date, system: system))
            }
        }

        router.post("/lists/:list/entries") { request, context in
            await respond {
                let list = try pathList(context)
                let body = try await jsonBody(NewEntry.self, request)
                let date = try TodoInput.date(body.date)
                let title = try TodoInput.title(body.title)
                guard case .entry(let entry) = try await system.perform(list, .add(date: date, title: title)) else {
                    throw TodoFailure.failed("unexpected answer from the list's server")
                }
                return .json(.created, entry)
            }
        }

        router.put("/lists/:list/entries/:id") { request, context in
            await respond {
                let list = try pathList(context)
                let id = try pathID(context)
                let body = try await jsonBody(NewEntry.self, request)
                let date = try body.date.map { try TodoInput.date($0) }
                let title = try body.title.map { try TodoInput.title($0) }
                switch try await system.perform(list, .update(id: id, date: date, title: title)) {
                case .entry(let entry): return .json(.ok, entry)
                case .notFound: return .text(.notFound, "no entry \(id) in that list")
                default: throw TodoFailure.failed("unexpected answer from the list's server")
                }
            }
        }

        router.delete("/lists/:list/entries/:id") { _, context in
            await respond {
                let list = try pathList(context)
                let id = try pathID(context)
                switch try await system.perform(list, .delete(id: id)) {
                case .deleted: return Response(status: .noContent)
                case .notFound: return .text(.notFound, "no entry \(id) in that list")
                default: throw TodoFailure.failed("unexpected answer from the list's server")
                }
            }
        }

        router.get("/health") { _, _ in
            Response.json(.ok, Health(
                node: node.name.description,
                nodes: node.nodes().map(\.description),
                hidden: node.hiddenNodes().map(\.description),
                uptime_s: Int((ContinuousClock.now - started).components.seconds)))
        }

        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: system.metrics.render())))
        }
        // Added after the routes, so it wraps only what answers a request no route takes.
        router.middlewares.add(NotFoundMiddleware())
        return GuardedRouter(router: router, token: token)
    }

    private static func entries(of list: String, on date: TodoDate?, system: TodoSystem) async throws -> [TodoEntry] {
        guard case .entries(let entries) = try await system.perform(list, .entries(date)) else {
            throw TodoFailure.failed("unexpected answer from the list's server")
        }
        return entries
    }

    /// Runs a handler, turning bad input into `400` and an unreachable server into `503`.
    private static func respond(_ handler: () async throws -> Response) async -> Response {
        do {
            return try await handler()
        } catch let error as TodoInputError {
            return .text(.badRequest, error.description)
        } catch let failure as TodoFailure {
            return .failure(failure)
        } catch {
            return .text(.internalServerError, "\(error)")
        }
    }

    private static func formQuery(_ request: Request) throws(TodoInputError) -> FormQuery {
        let query = FormQuery(request.uri.query ?? "")
        if let key = query.malformed.first { throw TodoInputError("bad encoding in parameter \(key)") }
        return query
    }

    /// `{list}` of the path, percent-decoded (in a path `+` is a plus sign).
    private static func pathList(_ context: BasicRequestContext) throws(TodoInputError) -> String {
        guard let raw = context.parameters.get("list") else { throw TodoInputError("missing list name") }
        guard let decoded = FormQuery.decode(Substring(raw), plusIsSpace: false) else {
            throw TodoInputError("bad encoding in the list name")
        }
        return try TodoInput.listName(decoded)
    }

    /// `{id}` of the path, percent-decoded (`2.todo%40hostB` is `2.todo@hostB`).
    private static func pathID(_ context: BasicRequestContext) throws(TodoInputError) -> EntryID {
        guard let raw = context.parameters.get("id") else { return try TodoInput.entryId(nil) }
        guard let decoded = FormQuery.decode(Substring(raw), plusIsSpace: false) else {
            throw TodoInputError("bad encoding in the entry id")
        }
        return try TodoInput.entryId(decoded)
    }

    private static func jsonBody<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 << 10)
        } catch {
            throw TodoInputError("the body is larger than 64 KiB")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw TodoInputError("the body is not the expected JSON object")
        }
    }
}
