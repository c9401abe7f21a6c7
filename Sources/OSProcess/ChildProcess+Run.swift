import Foundation

extension ChildProcess {
    /// What a program that ran to its end left: its status and its two outputs.
    public struct Finished: Sendable {
        public let status: Int32
        public let output: String
        public let errors: String
    }

    /// Runs a program to its end, blocking this thread. Its outputs go through files, not
    /// pipes: a daemon it leaves behind cannot hold them open, and a full one cannot stall it.
    public static func run(_ executable: String, _ arguments: [String] = [],
                           environment: [String: String]? = nil) throws -> Finished {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        let (outputPath, errorsPath) = (scratch.path + ".out", scratch.path + ".err")
        defer {
            try? FileManager.default.removeItem(atPath: outputPath)
            try? FileManager.default.removeItem(atPath: errorsPath)
        }
        guard FileManager.default.createFile(atPath: outputPath, contents: nil),
              FileManager.default.createFile(atPath: errorsPath, contents: nil),
              let output = FileHandle(forWritingAtPath: outputPath), let errors = FileHandle(forWritingAtPath: errorsPath)
        else { throw ChildProcessError(executable: executable, errno: errno) }
        defer {
            try? output.close()
            try? errors.close()
        }
        let child = try ChildProcess(executable, arguments, environment: environment,
                                     output: .descriptor(output.fileDescriptor), errors: .descriptor(errors.fileDescriptor))
        let status = child.waitForExit()
        func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Finished(status: status, output: read(outputPath), errors: read(errorsPath))
    }
}
