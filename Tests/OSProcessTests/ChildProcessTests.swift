import Foundation
import OSProcess
import Testing

struct ChildProcessTests {
    @Test func reportsTheExitCodeOrTheSignalAsShellsDo() async throws {
        #expect(try ChildProcess("/bin/sh", ["-c", "exit 3"]).waitForExit() == 3)
        let sleeper = try ChildProcess("/bin/sleep", ["30"])
        #expect(sleeper.isRunning)
        #expect(sleeper.kill() == 128 + SIGKILL)
        #expect(sleeper.status == 128 + SIGKILL)
    }

    @Test func runsInItsDirectoryWithItsEnvironmentWritingWhereItIsTold() throws {
        // A relative program path is ours, not the child's: `../../bin/sh` (up to / from our
        // directory) would name nothing from the child's, which lies deeper.
        let depth = FileManager.default.currentDirectoryPath.split(separator: "/").count
        let shell = String(repeating: "../", count: depth) + "bin/sh"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        let directory = (0...depth).reduce(scratch) { folder, _ in folder.appendingPathComponent("deeper") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let log = directory.appendingPathComponent("out")
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let child = try ChildProcess(shell, ["-c", "pwd; echo $GREETING; echo oops >&2"], environment: ["GREETING": "hello"],
                                     directory: directory.path, output: .descriptor(handle.fileDescriptor))
        #expect(child.waitForExit() == 0)
        let printed = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        #expect(printed.count == 2)
        #expect(printed.last == "hello")
        #expect(printed.first.map(String.init) == directory.resolvingSymlinksInPath().path)
    }

    /// A child started from a Swift task gets SIGTERM whatever the task's thread blocks,
    /// and none of this process's descriptors but its three standard ones.
    @Test func startsWithNoBlockedSignalAndNoDescriptorOfOurs() async throws {
        var blocked = sigset_t(), previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)  // inheritable: no O_CLOEXEC
        let child = Result { try ChildProcess("/bin/sleep", ["30"]) }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let sleeper = try child.get()
        defer { sleeper.kill() }
        // Compared by what they are, not by number: `sleep` may briefly open files of its own.
        func targets(_ pid: String, above: Int32) -> Set<String> {
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return Set(descriptors.filter { (Int32($0) ?? 0) > above }.compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            })
        }
        let ours = targets("self", above: -1), theirs = targets(String(sleeper.pid), above: 2)
        ends.forEach { close($0) }
        #expect(ours.contains { $0.hasPrefix("pipe:") })
        #expect(ours.isDisjoint(with: theirs), "the child holds \(theirs.intersection(ours))")
        sleeper.signal(SIGTERM)
        #expect(try await sleeper.waitForExit(within: .seconds(10)) == 128 + SIGTERM)
    }

    @Test func runningToTheEndGivesTheStatusAndBothOutputs() throws {
        let finished = try ChildProcess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 4"])
        #expect(finished.status == 4)
        #expect(finished.output == "out\n")
        #expect(finished.errors == "err\n")
    }

    /// A daemon left behind by the program does not hold up the run (it holds no pipe of ours).
    @Test func aDaemonLeftBehindDoesNotHoldTheRunUp() throws {
        let started = ContinuousClock.now
        let finished = try ChildProcess.run("/bin/sh", ["-c", "sleep 30 & echo $!"])
        #expect(ContinuousClock.now - started < .seconds(20))
        if let daemon = Int32(finished.output.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(daemon, SIGKILL) }
    }

    @Test func aMissingProgramIsAnErrorThatNamesIt() {
        #expect(throws: ChildProcessError.self) { try ChildProcess("/nonexistent/program") }
        do {
            _ = try ChildProcess("/nonexistent/program")
        } catch {
            #expect(error.description.contains("/nonexistent/program"))
        }
    }
}
