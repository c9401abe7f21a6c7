import ArgumentParser
import Cluster
import Foundation
import Logging
import OSProcess
import Todo

// todo: exit 0 on success, 1 when the operation failed, 2 for bad usage; errors are one
// line on stderr.

StandardStreams.openMissing()

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("todo: \(message)\n".utf8))
    exit(code)
}

/// The shared options that take a value; `--json` is the one that takes none.
let sharedWithValue: Set = ["--node", "--cookie", "--mapper-port"]

/// The contract puts the shared options before the command (`todo --node n1 --json nodes`);
/// each command declares them, so move them behind the command's name.
func optionsAfterCommand(_ arguments: [String]) -> [String] {
    var shared: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if sharedWithValue.contains(argument), index + 1 < arguments.count {
            shared += [argument, arguments[index + 1]]
            index += 2
        } else if argument == "--json" || sharedWithValue.contains(where: { argument.hasPrefix($0 + "=") }) {
            shared.append(argument)
            index += 1
        } else {
            break
        }
    }
    guard index < arguments.count else { return arguments }
    return [arguments[index]] + shared + arguments[(index + 1)...]
}

/// What is wrong with the command's name, once it leads the arguments: none given, or one
/// not known. Past the name, ArgumentParser would blame the shared options moved behind it
/// (`Unknown option '--node'`), or, with no name at all, ask for help and exit 1.
func commandProblem(_ arguments: [String]) -> String? {
    let names = TodoClient.configuration.subcommands.map { $0._commandName }
    let known = "one of \(names.joined(separator: ", ")); see todo --help"
    guard let first = arguments.first,
          first != "--json", !sharedWithValue.contains(where: { first == $0 || first.hasPrefix($0 + "=") })
    else { return "no command given: \(known)" }
    if first.hasPrefix("-") || first == "help" || names.contains(first) { return nil }
    return "unknown command '\(first)': \(known)"
}

// Logs, when asked for with TODO_LOG_LEVEL, go to stderr (the nodes' lines): stdout is the command's answer.
LoggingSystem.bootstrap { NodeLogHandler.standardError(label: $0) }

let arguments = optionsAfterCommand(Array(CommandLine.arguments.dropFirst()))
if let problem = commandProblem(arguments) { fail(problem, code: 2) }
var command: any ClientCommand
do {
    var parsed = try TodoClient.parseAsRoot(arguments)
    guard let client = parsed as? any ClientCommand else {
        try parsed.run()  // `--help` and `help` parse as ArgumentParser's help command, which throws the help
        exit(0)
    }
    command = client
} catch {
    if TodoClient.exitCode(for: error) == .success {
        print(TodoClient.fullMessage(for: error))
        exit(0)
    }
    fail(TodoClient.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage", code: 2)
}

do {
    try await command.execute()
} catch let failure as ClientFailure {
    fail(failure.description, code: 1)
} catch let exit as ExitCode {
    Foundation.exit(exit.rawValue)
} catch let error as ValidationError {
    fail(error.message, code: 2)
} catch let error as TodoInputError {
    fail(error.description, code: 2)  // bad input on the command line is bad usage
} catch let error as NodeNameError {
    fail("\(error)", code: 2)  // a malformed node name on the command line is bad usage
} catch {
    if TodoClient.exitCode(for: error) == .validationFailure {
        fail(TodoClient.message(for: error), code: 2)
    }
    fail("\(error)", code: 1)
}
