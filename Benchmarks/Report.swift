import Foundation
import OSProcess

/// One figure of `make bench`, as written to bench-results.json.
struct Figure: Codable {
    let name: String
    let value: Double
    let unit: String
    var reference: String?
    var referenceValue: Double?

    enum CodingKeys: String, CodingKey {
        case name, value, unit, reference
        case referenceValue = "reference_value"
    }
}

/// Collects figures, prints them as a table and writes bench-results.json.
final class Report {
    private(set) var figures: [Figure] = []

    func add(_ name: String, _ value: Double, _ unit: String, reference: String? = nil) {
        var figure = Figure(name: name, value: value, unit: unit)
        var sameUnit = false
        if let reference, let other = figures.first(where: { $0.name == reference }) {
            figure.reference = reference
            figure.referenceValue = other.value
            sameUnit = other.unit == unit
        }
        figures.append(figure)
        print(line(figure, withRatio: sameUnit))
    }

    /// The figure, its reference's value, and, where both count the same thing, how many
    /// times the reference it is: issue 12's targets are such ratios.
    private func line(_ figure: Figure, withRatio: Bool) -> String {
        let value = format(figure.value).padding(toLength: 14, withPad: " ", startingAt: 0)
        var text = "\(figure.name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(value) \(figure.unit)"
        if let reference = figure.reference, let other = figure.referenceValue {
            let ratio = withRatio && other != 0 ? String(format: ", %.2fx", figure.value / other) : ""
            text += "   (\(reference): \(format(other))\(ratio))"
        }
        return text
    }

    private func format(_ value: Double) -> String {
        value >= 1000 ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: URL(fileURLWithPath: path))
    }
}

/// The median of `runs` measurements.
func median(runs: Int = 5, _ measure: () async throws -> Double) async rethrows -> Double {
    var values: [Double] = []
    for _ in 0..<runs { values.append(try await measure()) }
    return median(values)
}

/// The middle value (the upper one of an even count); `values` must not be empty.
func median(_ values: [Double]) -> Double {
    values.sorted()[values.count / 2]
}

/// The CPU time (user and system) `pids` have used so far, in seconds.
func cpuSeconds(of pids: [Int32]) -> Double {
    pids.reduce(0) { $0 + (ProcessStat(pid: $1)?.cpuSeconds ?? 0) }
}

/// The CPU time a set of OS processes (every thread of each) uses from the moment it is made:
/// the `*_cpu` figures, per operation.
struct CPUMeter {
    let pids: [Int32]
    private let start: Double

    init(_ pids: [Int32]) {
        self.pids = pids
        start = cpuSeconds(of: pids)
    }

    /// Microseconds used since, per one of `operations`; zero for none.
    func microseconds(per operations: Double) -> Double {
        operations > 0 ? (cpuSeconds(of: pids) - start) / operations * 1e6 : 0
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Resident memory of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Runs this benchmark binary again with `arguments` (a measurement that wants a fresh OS
/// process, so memory freed by an earlier run is not reused); its standard output.
func runBenchChild(_ arguments: [String]) throws -> String {
    try ChildProcess.run(CommandLine.arguments[0], arguments).output
}

/// Starts a program whose standard output this process reads.
func startReadingOutput(_ path: String, _ arguments: [String]) throws -> (ChildProcess, FileHandle) {
    let output = Pipe()
    let child = try ChildProcess(path, arguments, output: .descriptor(output.fileHandleForWriting.fileDescriptor))
    try output.fileHandleForWriting.close()  // the child has its own copy: its end brings ours
    return (child, output.fileHandleForReading)
}
