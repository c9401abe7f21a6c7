import Cluster
import Todo

/// A read of one day of a list (`GET /entries`'s work on the list server's node, once the
/// request has found the shelf): 1,000 lists of `entries` entries spread over December, read
/// at random, so that most reads find their list out of cache, as a node serving 1,000
/// lists does.
enum ListReadBench {
    /// Nanoseconds per read of one random day of one random list.
    static func measure(entries: Int, reads: Int = 1_000_000) throws -> Double {
        let days = (1...31).compactMap { TodoDate(year: 2018, month: 12, day: $0) }
        let lists = (0..<1_000).map { _ in
            var list = TodoList()
            for index in 0..<entries {
                _ = list.add(date: days[index % days.count], title: "Task", by: "bench@localhost", atMillis: Int64(index))
            }
            return list
        }
        var random = UInt64(1), found = 0
        let start = ContinuousClock.now
        for _ in 0..<reads {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let list = Int(random >> 33) % lists.count, day = Int(random >> 20) % days.count
            found &+= lists[list].entries(on: days[day]).count
        }
        let elapsed = seconds(ContinuousClock.now - start)
        // Every read finds its day's share: the loop did its work.
        guard found >= reads * (entries / days.count) else { throw BenchFailure("reads of a day found \(found) entries in all") }
        return elapsed / Double(reads) * 1e9
    }

    /// Milliseconds to read one list of at least `bytes` on the wire, of entries with
    /// 100-byte titles: the biggest part of a list a `todo.fetch` answer carries (8 MiB), which
    /// the calling process reads (an rpc answer reaches it as bytes, off the transport thread).
    static func decode(bytes: Int = 8 << 20) throws -> Double {
        guard let day = TodoDate(year: 2018, month: 12, day: 19) else { throw BenchFailure("no such day") }
        var list = TodoList()
        var writer = WireWriter()
        while writer.bytes.count < bytes {
            for index in 0..<1_000 {
                _ = list.add(date: day, title: String(repeating: "t", count: 100), by: "bench@localhost", atMillis: Int64(index))
            }
            writer = WireWriter()
            list.encode(to: &writer)
        }
        let start = ContinuousClock.now
        var reader = WireReader(writer.bytes)
        let read = try TodoList(from: &reader)
        let elapsed = seconds(ContinuousClock.now - start)
        guard read.records.count == list.records.count else { throw BenchFailure("the list read back short") }
        return elapsed * 1e3
    }
}
