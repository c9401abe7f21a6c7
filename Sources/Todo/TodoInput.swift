/// Why a request's input was refused: the sentence is the `400` body and the client's error.
public struct TodoInputError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The rules for outside input, shared by HTTP and the client.
public enum TodoInput {
    public static let maxListNameBytes = 200
    public static let maxTitleBytes = 1_000

    public static func listName(_ value: String?) throws(TodoInputError) -> String {
        guard let value else { throw TodoInputError("missing parameter: list") }
        guard !value.isEmpty else { throw TodoInputError("the list name is empty") }
        guard value.utf8.count <= maxListNameBytes else {
            throw TodoInputError("the list name is longer than \(maxListNameBytes) bytes")
        }
        guard !value.unicodeScalars.contains(where: isControl) else {
            throw TodoInputError("the list name contains control characters")
        }
        return value
    }

    public static func date(_ value: String?) throws(TodoInputError) -> TodoDate {
        guard let value else { throw TodoInputError("missing parameter: date") }
        guard let date = TodoDate(value) else { throw TodoInputError("bad date \(quoted(value)): expected YYYY-MM-DD") }
        return date
    }

    /// Titles may not hold control characters either: a line break would split one entry
    /// into two lines of `GET /entries`.
    public static func title(_ value: String?) throws(TodoInputError) -> String {
        guard let value else { throw TodoInputError("missing parameter: title") }
        guard value.utf8.count <= maxTitleBytes else { throw TodoInputError("the title is longer than \(maxTitleBytes) bytes") }
        guard !value.unicodeScalars.contains(where: isControl) else {
            throw TodoInputError("the title contains control characters (line breaks included)")
        }
        return value
    }

    public static func entryId(_ value: String?) throws(TodoInputError) -> EntryID {
        guard let value else { throw TodoInputError("missing entry id") }
        guard let id = EntryID(value) else {
            throw TodoInputError("bad entry id \(quoted(value)): expected an id as printed by add, like 3.todo1")
        }
        return id
    }

    /// Unicode's control characters (general category Cc) are exactly these two ranges, and
    /// will stay so (a stability policy). Compared directly: the category was a search of
    /// Unicode's tables for every scalar of every request's list name and title.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Echoes at most 40 characters of bad input: enough to recognise, never a whole payload.
    private static func quoted(_ value: String) -> String {
        let cut = value.prefix(40).unicodeScalars.map { isControl($0) ? "?" : String($0) }.joined()
        return "\"\(cut)\(value.count > 40 ? "…" : "")\""
    }
}
