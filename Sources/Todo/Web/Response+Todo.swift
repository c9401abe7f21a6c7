import Foundation
import Hummingbird

extension Response {
    static let textType = "text/plain; charset=utf-8"

    /// A plain-text answer, as all the book's routes give.
    static func text(_ status: HTTPResponse.Status, _ body: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: textType]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A JSON answer with stable key order.
    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return .text(.internalServerError, "cannot encode the answer") }
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// What a failure of the list's server becomes: `503` with `Retry-After` when it may pass.
    static func failure(_ failure: TodoFailure) -> Response {
        switch failure {
        case .unavailable(let words):
            .text(.serviceUnavailable, words, headers: [.retryAfter: "1"])
        case .failed(let words):
            .text(.internalServerError, words)
        }
    }
}
