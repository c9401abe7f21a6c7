import Foundation
import Synchronization
import Testing
@testable import Todo

/// Log lines into a pipe: whole and in order while it is read; dropped, and then counted,
/// while it is not, instead of holding up the thread that logs.
@Suite(.timeLimit(.minutes(1)))
struct LineOutputTests {
    /// A pipe's two ends, closed by `close()`.
    final class Pipe: Sendable {
        let reading: Int32
        let writing: Int32

        init() throws {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw POSIXError(.EMFILE) }
            (reading, writing) = (ends[0], ends[1])
        }

        /// What can be read now, without waiting.
        func drain() -> String {
            _ = fcntl(reading, F_SETFL, fcntl(reading, F_GETFL) | O_NONBLOCK)
            var bytes: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65_536)
            while case let count = read(reading, &buffer, buffer.count), count > 0 { bytes += buffer[..<count] }
            return String(decoding: bytes, as: UTF8.self)
        }

        func close() {
            Foundation.close(reading)
            Foundation.close(writing)
        }
    }

    @Test func linesToAReaderThatReadsArriveWholeAndInOrder() async throws {
        let pipe = try Pipe()
        defer { pipe.close() }
        let output = LineOutput(descriptor: pipe.writing, patience: .seconds(30))
        let lines = (0..<2_000).map { "line \($0) " + String(repeating: "x", count: $0 % 100 == 0 ? 10_000 : 100) + "\n" }
        let read = Mutex("")
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while case let count = Foundation.read(pipe.reading, &buffer, buffer.count), count > 0 {
                read.withLock { $0 += String(decoding: buffer[..<count], as: UTF8.self) }
            }
        }
        reader.start()
        // Two writers at once: a line of one never lands inside a line of the other.
        await withTaskGroup(of: Void.self) { group in
            for half in [lines[..<1_000], lines[1_000...]] {
                group.addTask { for line in half { output.write(line) } }
            }
        }
        let expected = lines.map(\.count).reduce(0, +)
        while read.withLock({ $0.utf8.count }) < expected { try await Task.sleep(for: .milliseconds(10)) }
        let written: [String] = read.withLock { $0 }.split(separator: "\n").map { String($0) + "\n" }
        #expect(written.count == lines.count)
        #expect(Set(written) == Set(lines), "a line was cut or mixed with another")
        let firstHalf = Set(lines[..<1_000])
        #expect(written.filter { firstHalf.contains($0) } == Array(lines[..<1_000]))
        #expect(written.filter { !firstHalf.contains($0) } == Array(lines[1_000...]))
    }

    @Test func aReaderThatDoesNotReadCostsLinesNotAStall() async throws {
        let pipe = try Pipe()
        defer { pipe.close() }
        let output = LineOutput(descriptor: pipe.writing, patience: .milliseconds(20))
        let lines = (0..<300).map { "line \($0) " + String(repeating: "x", count: 1_000) + "\n" }
        // Some 300 KB into a pipe of 64 KB, on a thread of its own: were it to wait for the
        // reader, the test reads, so that it fails instead of hanging.
        let done = Atomic<Bool>(false)
        Thread {
            for line in lines { output.write(line) }
            done.store(true, ordering: .releasing)
        }.start()
        let deadline = ContinuousClock.now + .seconds(20)
        while !done.load(ordering: .acquiring), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        guard done.load(ordering: .acquiring) else {
            while !done.load(ordering: .acquiring) { _ = pipe.drain() }
            Issue.record("writing waited for a reader that does not read")
            return
        }

        let kept: [String] = pipe.drain().split(separator: "\n").map { String($0) + "\n" }
        #expect(kept.count > 10 && kept.count < lines.count)
        #expect(kept == Array(lines[..<kept.count]), "the pipe holds whole lines, the first ones")
        output.write("after\n")
        let resumed = pipe.drain().split(separator: "\n")
        #expect(resumed.count == 2)
        #expect(resumed.first?.hasSuffix(" warning todo.log: [Todo] \(lines.count - kept.count) log lines dropped: their reader fell behind") == true,
                "\(resumed)")
        #expect(resumed.last == "after")
    }

    /// The count of dropped lines after a write that went out in part: the lines a notice
    /// told of are not counted again, whatever becomes of the line after the notice.
    @Test func linesANoticeToldOfAreNotCountedAgain() {
        typealias State = LineOutput.State
        let dropping = State(dropped: 3, cut: true)  // a prefix of 1 + 60 bytes before the line
        let cases: [(State, written: Int, expected: State)] = [
            (dropping, 100, State()),  // all of it
            (dropping, 0, State(dropped: 4, cut: true)),  // nothing: this line dropped too
            (dropping, 30, State(dropped: 4, cut: true)),  // part of the notice
            (dropping, 61, State(dropped: 1, cut: false)),  // the notice, then none of the line
            (dropping, 80, State(dropped: 1, cut: true)),  // the notice, then part of the line
            (State(), 0, State(dropped: 1, cut: false)),
            (State(), 10, State(dropped: 1, cut: true)),
            (State(dropped: 2, cut: false), 0, State(dropped: 3, cut: false)),
        ]
        for (state, written, expected) in cases {
            let prefixBytes = state == State() ? 0 : (state.cut ? 61 : 60)
            #expect(state.after(written: written, prefixBytes: prefixBytes, totalBytes: 100) == expected, "\(state), \(written) bytes")
        }
    }

    @Test func aReaderThatHasGoneCostsNothing() throws {
        let pipe = try Pipe()
        defer { Foundation.close(pipe.writing) }
        Foundation.close(pipe.reading)
        let output = LineOutput(descriptor: pipe.writing, patience: .milliseconds(20))
        // No write is tried (that would raise SIGPIPE, which ends this test process).
        for number in 0..<100 { output.write("line \(number)\n") }
    }
}
