import ArgumentParser
import Cluster
import Foundation
import Todo

/// `todo add LIST DATE TITLE`: prints the new entry as `ID DATE TITLE`.
struct Add: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Add an entry to a list; prints it with its id.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The list's name.") var list: String
    @Argument(help: "The entry's date, YYYY-MM-DD.") var date: String
    @Argument(help: "The entry's title.") var title: String

    func execute() async throws {
        let request = TodoServer.Request.add(date: try TodoInput.date(date), title: try TodoInput.title(title))
        try options.printEntry(try await options.perform(try TodoInput.listName(list), request))
    }
}

/// `todo entries LIST DATE`: `DATE TITLE` lines, as `GET /entries` gives them.
struct Entries: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Print a list's entries for a date.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The list's name.") var list: String
    @Argument(help: "The date, YYYY-MM-DD.") var date: String

    func execute() async throws {
        let day = try TodoInput.date(date)
        guard case .entries(let entries) = try await options.perform(try TodoInput.listName(list), .entries(day)) else {
            throw ClientFailure("unexpected answer from the node")
        }
        if options.json {
            try options.printJSON(entries)
        } else if !entries.isEmpty {
            print(entries.map { "\($0.date) \($0.title)" }.joined(separator: "\n"))
        }
    }
}

/// `todo update LIST ID [--date D] [--title T]`: prints the changed entry.
struct Update: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Change an entry's date or title; prints it.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The list's name.") var list: String
    @Argument(help: "The entry's id, as add printed it (like 3.todo1).") var id: String
    @Option(help: "The new date, YYYY-MM-DD.") var date: String?
    @Option(help: "The new title.") var title: String?

    func validate() throws {
        if date == nil && title == nil { throw ValidationError("give --date, --title or both") }
    }

    func execute() async throws {
        let request = TodoServer.Request.update(
            id: try TodoInput.entryId(id), date: try date.map { try TodoInput.date($0) },
            title: try title.map { try TodoInput.title($0) })
        try options.printEntry(try await options.perform(try TodoInput.listName(list), request), missing: (list, id))
    }
}

/// `todo delete LIST ID`.
struct Delete: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Delete an entry.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The list's name.") var list: String
    @Argument(help: "The entry's id, as add printed it (like 3.todo1).") var id: String

    struct Output: Encodable { let deleted: String }

    func execute() async throws {
        switch try await options.perform(try TodoInput.listName(list), .delete(id: try TodoInput.entryId(id))) {
        case .deleted:
            if options.json { try options.printJSON(Output(deleted: id)) } else { print("deleted \(id)") }
        case .notFound:
            throw ClientFailure("no entry \(id) in list \(list)")
        default:
            throw ClientFailure("unexpected answer from the node")
        }
    }
}

/// `todo whereis LIST`: the node running the list's server, or `none`.
struct Whereis: ClientCommand {
    static let configuration = CommandConfiguration(abstract: "Print the node running a list's server, or none.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The list's name.") var list: String

    struct Output: Encodable {
        let list: String
        let node: String?
    }

    func execute() async throws {
        let name = try TodoInput.listName(list)
        let targets = try options.targets()
        let owner = try await options.withHiddenNode(near: targets) { node -> String? in
            let target = try await options.firstAnswering(targets, from: node)
            do {
                return try await TodoSystem.clientWhereis(name, on: target, via: node)
            } catch {
                throw ClientFailure("\(target): \(error)")
            }
        }
        if options.json { try options.printJSON(Output(list: name, node: owner)) } else { print(owner ?? "none") }
    }
}

extension ClientOptions {
    /// Asks the first answering node to serve `request` on `list`.
    func perform(_ list: String, _ request: TodoServer.Request) async throws -> TodoServer.Reply {
        let targets = try targets()
        let answer = try await withHiddenNode(near: targets) { node -> ClientAnswer in
            let target = try await firstAnswering(targets, from: node)
            do {
                return try await TodoSystem.clientCall(ClientCall(list: list, request: request), on: target, via: node)
            } catch {
                throw ClientFailure("\(target): \(error)")
            }
        }
        switch answer {
        case .reply(let reply): return reply
        case .badInput(let words): throw TodoInputError(words)
        case .unavailable(let words), .failed(let words): throw ClientFailure(words)
        }
    }

    /// Prints an entry as `ID DATE TITLE` (or JSON); a missing entry is a failure.
    func printEntry(_ reply: TodoServer.Reply, missing: (list: String, id: String)? = nil) throws {
        switch reply {
        case .entry(let entry):
            if json { try printJSON(entry) } else { print("\(entry.id) \(entry.date) \(entry.title)") }
        case .notFound:
            throw ClientFailure("no entry \(missing?.id ?? "?") in list \(missing?.list ?? "")")
        default:
            throw ClientFailure("unexpected answer from the node")
        }
    }
}
