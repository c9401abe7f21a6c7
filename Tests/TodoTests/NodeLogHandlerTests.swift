import Foundation
import Logging
import Synchronization
import Testing
@testable import Todo

struct NodeLogHandlerTests {
    /// Where a handler writes its lines.
    final class Lines: TextOutputStream, @unchecked Sendable {
        private let written = Mutex<[String]>([])
        var all: [String] { written.withLock { $0 } }
        func write(_ string: String) { written.withLock { $0.append(string) } }
    }

    /// A metadata value that counts how often it is turned into text.
    final class Counted: CustomStringConvertible, Sendable {
        let renders = Atomic<Int>(0)
        var description: String {
            renders.add(1, ordering: .relaxed)
            return "counted"
        }
    }

    /// A line without its timestamp (the first word), which may differ between two handlers.
    private func withoutTimestamp(_ line: String) -> Substring { line.drop { $0 != " " } }

    @Test func writesTheLinesTheStreamHandlerWrites() {
        let ours = Lines(), theirs = Lines()
        var node = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: ours, metadataProvider: nil) }
        var stream = Logger(label: "todo.node") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        node.info("no metadata")
        stream.info("no metadata")
        node[metadataKey: "b"] = "2"
        node[metadataKey: "a"] = "1"
        stream[metadataKey: "b"] = "2"
        stream[metadataKey: "a"] = "1"
        node.warning("with metadata", metadata: ["c": "3", "a": "line's"])
        stream.warning("with metadata", metadata: ["c": "3", "a": "line's"])
        node.debug("below the level")
        stream.debug("below the level")
        #expect(ours.all.count == 2)
        #expect(ours.all.map(withoutTimestamp) == theirs.all.map(withoutTimestamp))
        #expect(ours.all.last?.contains("a=line's b=2 c=3 [TodoTests] with metadata") == true)
    }

    @Test func keepsTheStreamHandlersOrderLoggerThenProviderThenLine() {
        let ours = Lines(), theirs = Lines()
        let provider = Logger.MetadataProvider { ["a": "provided", "p": "provided"] }
        var node = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: ours, metadataProvider: provider) }
        var stream = Logger(label: "todo.node") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: provider) }
        node[metadataKey: "a"] = "logger's"
        node[metadataKey: "b"] = "logger's"
        stream[metadataKey: "a"] = "logger's"
        stream[metadataKey: "b"] = "logger's"
        node.info("line", metadata: ["p": "line's"])
        stream.info("line", metadata: ["p": "line's"])
        #expect(ours.all.map(withoutTimestamp) == theirs.all.map(withoutTimestamp))
        #expect(ours.all.first?.contains("a=provided b=logger's p=line's") == true)
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "refused" }
    }

    @Test func writesAnErrorAsTheStreamHandlerDoes() {
        let ours = Lines(), theirs = Lines()
        let node = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: ours, metadataProvider: nil) }
        let stream = Logger(label: "todo.node") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        node.error("cannot connect", error: Refused(), metadata: ["peer": "b@localhost"])
        stream.error("cannot connect", error: Refused(), metadata: ["peer": "b@localhost"])
        #expect(ours.all.map(withoutTimestamp) == theirs.all.map(withoutTimestamp))
        #expect(ours.all.first?.contains("error.message=refused") == true)
    }

    /// Lines stamp the millisecond: a cluster's nodes log the same second many times, and
    /// their order across the nodes' logs is what the stamp is read for.
    @Test func stampsTheMillisecond() throws {
        let lines = Lines()
        let logger = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: lines, metadataProvider: nil) }
        logger.info("a line")
        let line = try #require(lines.all.first)
        let stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}/
        #expect(try stamp.prefixMatch(in: line) != nil, "\(line)")
        #expect(line.hasSuffix(" info todo.node: [TodoTests] a line\n"))
    }

    @Test func padsTheMillisecondToThreeDigits() {
        let early = NodeLogHandler.timestamp(at: timespec(tv_sec: 1_000_000_000, tv_nsec: 7_600_000))
        let late = NodeLogHandler.timestamp(at: timespec(tv_sec: 1_000_000_000, tv_nsec: 999_999_999))
        #expect(early.dropFirst(19).hasPrefix(".007"), "\(early)")
        #expect(late.dropFirst(19).hasPrefix(".999"), "\(late)")
        #expect(early.prefix(19) == late.prefix(19))
        #expect(early < late)
    }

    /// Each line asks the metadata provider once.
    @Test func asksTheProviderOncePerLine() {
        let lines = Lines(), asked = Atomic<Int>(0)
        let provider = Logger.MetadataProvider {
            asked.add(1, ordering: .relaxed)
            return ["p": "provided"]
        }
        var logger = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: lines, metadataProvider: provider) }
        logger[metadataKey: "a"] = "logger's"
        logger.info("a line")
        #expect(asked.load(ordering: .relaxed) == 1)
        #expect(lines.all.first?.contains("a=logger's p=provided [TodoTests] a line") == true)
    }

    @Test func rendersMetadataOnlyWhenALineIsWritten() {
        let lines = Lines(), value = Counted()
        var logger = Logger(label: "todo.node") { NodeLogHandler(label: $0, stream: lines, metadataProvider: nil) }
        logger[metadataKey: "counted"] = .stringConvertible(value)
        for request in 0..<100 { logger[metadataKey: "request"] = "\(request)" }
        logger.debug("below the level")
        #expect(value.renders.load(ordering: .relaxed) == 0)
        logger.info("a line")
        #expect(value.renders.load(ordering: .relaxed) == 1)
        #expect(lines.all.first?.contains("counted=counted request=99 [TodoTests] a line") == true)
    }
}
