import Cluster
import OSProcess
import Prometheus

/// The node's figures for `GET /metrics`, in Prometheus text format.
public final class TodoMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let node: ClusterNode
    private let requestDuration: [String: DurationHistogram]
    private let unavailableCount: Counter
    private let processes: Gauge
    private let visibleNodes: Gauge
    private let globalNames: Gauge
    private let caughtUpLists: Counter
    private let lastCatchUpSeconds: Gauge
    private let residentMemory: Gauge

    init(node: ClusterNode) {
        self.node = node
        let buckets: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                                   .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                   .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(10)]
        var durations: [String: DurationHistogram] = [:]
        for operation in ["entries", "add", "update", "delete", "merge"] {
            durations[operation] = registry.makeDurationHistogram(
                descriptor: Self.describe("todo_request_duration", unit: "seconds", "Time to serve a to-do request, list server included"),
                labels: [("operation", operation)], buckets: buckets)
        }
        requestDuration = durations
        unavailableCount = registry.makeCounter(descriptor: Self.describe("todo_unavailable_total", "Requests answered as unavailable (HTTP 503)"))
        processes = registry.makeGauge(descriptor: Self.describe("todo_processes", "Processes alive on this node"))
        visibleNodes = registry.makeGauge(descriptor: Self.describe("todo_visible_nodes", "Visible peers connected to this node"))
        globalNames = registry.makeGauge(descriptor: Self.describe("todo_global_names", "Names in this node's replica of the global registry"))
        caughtUpLists = registry.makeCounter(descriptor: Self.describe("todo_catch_up_lists_total", "Lists that gained writes from peers by catch-up"))
        lastCatchUpSeconds = registry.makeGauge(descriptor: Self.describe(
            "todo_catch_up_last", unit: "seconds", "Duration of the last catch-up that gained writes"))
        // The name Prometheus's own process collectors give it.
        residentMemory = registry.makeGauge(descriptor: Self.describe(
            "process_resident_memory", unit: "bytes", "Resident memory size in bytes"))
    }

    private static func describe(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }

    func requestServed(_ request: TodoServer.Request, seconds: Double) {
        let operation = switch request {
        case .entries: "entries"
        case .add: "add"
        case .update: "update"
        case .delete: "delete"
        case .merge, .mergeOverruled: "merge"
        }
        requestDuration[operation]?.recordNanoseconds(Int64(seconds * 1e9))
    }

    func unavailable() { unavailableCount.increment() }

    func caughtUp(lists: Int, seconds: Double) {
        guard lists > 0 else { return }
        caughtUpLists.increment(by: Int64(lists))
        lastCatchUpSeconds.set(to: seconds)
    }

    /// The text of `GET /metrics`.
    public func render() -> String {
        processes.set(to: Double(node.runtime.processCount))
        visibleNodes.set(to: Double(node.nodes().count))
        globalNames.set(to: Double(node.global.registered().count))
        if let resident = Heap.residentBytes { residentMemory.set(to: Double(resident)) }
        return registry.emitToString()
    }
}
