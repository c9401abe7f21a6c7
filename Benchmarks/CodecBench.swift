import Cluster
import Foundation
import Processes

/// The wire codec against Foundation's JSON, on a typical Codable message.
enum CodecBench {
    struct Entry: Codable, Sendable {
        let id: Int
        let date: String
        let title: String
        let tags: [String]
        let done: Bool
    }

    static let sample = Entry(id: 12_345, date: "2018-12-19", title: "Dentist appointment", tags: ["health", "bob"], done: false)

    /// Nanoseconds per encode and decode of `sample`, for our binary codec and for JSON.
    static func measure(count: Int = 100_000) throws -> (binary: Double, json: Double, binaryBytes: Int, jsonBytes: Int) {
        let binary = BinaryEncoder(), binaryDecoder = BinaryDecoder()
        let json = JSONEncoder(), jsonDecoder = JSONDecoder()
        var start = ContinuousClock.now
        var binaryBytes = 0
        for _ in 0..<count {
            let bytes = try binary.encode(sample)
            binaryBytes = bytes.count
            _ = try binaryDecoder.decode(Entry.self, from: bytes)
        }
        let binaryTime = seconds(ContinuousClock.now - start) / Double(count) * 1e9
        start = ContinuousClock.now
        var jsonBytes = 0
        for _ in 0..<count {
            let bytes = try json.encode(sample)
            jsonBytes = bytes.count
            _ = try jsonDecoder.decode(Entry.self, from: bytes)
        }
        let jsonTime = seconds(ContinuousClock.now - start) / Double(count) * 1e9
        return (binaryTime, jsonTime, binaryBytes, jsonBytes)
    }

    /// Milliseconds to encode and to read a table of `count` names to pids in the tagged
    /// binary form, as a node with that many list servers sent its table of global names to
    /// each peer that came up before protocol version 5 (process groups still come so).
    static func nameTable(count: Int = 100_000) throws -> (encode: Double, decode: Double) {
        var names: [String: Pid] = [:]
        for serial in 0..<count {
            names["{Todo.Server, \"list-\(serial)\"}"] = Pid(node: "a@localhost", incarnation: 3, serial: UInt64(serial))
        }
        let start = ContinuousClock.now
        let bytes = try BinaryEncoder().encode(names)
        let encoded = ContinuousClock.now
        let read = try BinaryDecoder().decode([String: Pid].self, from: bytes)
        let end = ContinuousClock.now
        guard read.count == count else { throw WireError.malformed("the table read back short") }
        return (seconds(encoded - start) * 1e3, seconds(end - encoded) * 1e3)
    }
}
