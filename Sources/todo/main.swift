import ArgumentParser
import Foundation

// todo: exit 0 on success, 1 when the operation failed, 2 for bad usage; errors are one
// line on stderr.

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("todo: \(message)\n".utf8))
    exit(code)
}

var command: any ParsableCommand
do {
    command = try TodoClient.parseAsRoot()
} catch {
    if TodoClient.exitCode(for: error) == .success {
        print(TodoClient.fullMessage(for: error))
        exit(0)
    }
    fail(TodoClient.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage", code: 2)
}

do {
    if let clientCommand = command as? any ClientCommand {
        try await clientCommand.execute()
    } else {
        try command.run()
    }
} catch let failure as ClientFailure {
    fail(failure.description, code: 1)
} catch let exit as ExitCode {
    Foundation.exit(exit.rawValue)
} catch let error as ValidationError {
    fail(error.message, code: 2)
} catch {
    if TodoClient.exitCode(for: error) == .validationFailure {
        fail(TodoClient.message(for: error), code: 2)
    }
    fail("\(error)", code: 1)
}
