import Foundation
import Testing
@testable import todo_bench

/// `make bench`'s figures as CONTRACT gives bench-results.json: an array of `{"name",
/// "value", "unit", "reference"?, "reference_value"?}`, each reference a figure of the same
/// run, with its value.
struct ReportTests {
    @Test func figuresAreWrittenAsTheContractSays() throws {
        let report = Report()
        report.add("zmq_roundtrip_p50", 80, "us")
        report.add("remote_roundtrip_p50", 120, "us", reference: "zmq_roundtrip_p50")
        report.add("orphan", 3, "us", reference: "not_measured")
        let path = NSTemporaryDirectory() + "bench-results-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try report.write(to: path)

        let written = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]])
        #expect(written.count == 3)
        #expect(written.allSatisfy { Set($0.keys).isSubset(of: ["name", "value", "unit", "reference", "reference_value"]) })
        #expect(written[0]["name"] as? String == "zmq_roundtrip_p50" && written[0]["reference"] == nil)
        #expect(written[1]["reference"] as? String == "zmq_roundtrip_p50")
        #expect(written[1]["reference_value"] as? Double == 80)
        #expect(written[1]["value"] as? Double == 120 && written[1]["unit"] as? String == "us")
        // A reference that was not measured in this run is not named.
        #expect(written[2]["reference"] == nil && written[2]["reference_value"] == nil)
    }

    /// The `*_cpu` figures' source: each process's user and system time, from `/proc`.
    @Test func cpuTimeGrowsAsTheProcessWorksAndIsZeroForOneGone() {
        let before = cpuSeconds(of: [getpid()])
        Self.work(cpuSeconds: 0.05, from: before)
        #expect(cpuSeconds(of: [getpid()]) - before >= 0.05)
        #expect(cpuSeconds(of: [Int32.max]) == 0)  // above any pid Linux gives
    }

    /// A meter counts only what its processes use after it is made, per operation.
    @Test func aMeterCountsFromItsStartPerOperation() {
        let meter = CPUMeter([getpid()])
        let start = cpuSeconds(of: [getpid()])
        Self.work(cpuSeconds: 0.05, from: start)
        let metered = meter.microseconds(per: 1)
        let used = (cpuSeconds(of: [getpid()]) - start) * 1e6
        #expect(metered >= 50_000)
        // Nothing from before it was made: only the instant between its start and `start`.
        #expect(metered <= used + 20_000)
        #expect(abs(meter.microseconds(per: 1_000) * 1_000 - metered) < 20_000)
        #expect(meter.microseconds(per: 0) == 0)
    }

    /// Computes until this process has used `cpuSeconds` more than `start` (10 s at most).
    private static func work(cpuSeconds wanted: Double, from start: Double) {
        var spun = 0.0
        let deadline = ContinuousClock.now + .seconds(10)
        while cpuSeconds(of: [getpid()]) - start < wanted, ContinuousClock.now < deadline {
            for index in 0..<100_000 { spun += Double(index).squareRoot() }
        }
        #expect(spun > 0)
    }

    @Test func theMedianIsTheMiddleValue() {
        #expect(median([3, 1, 2]) == 2)
        #expect(median([4, 1, 3, 2]) == 3)  // the upper of the two middle ones
    }
}
