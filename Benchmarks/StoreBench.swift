import Foundation
import Todo

/// A node's store writing new entries over 1,000 lists, each commit synced: four changes a
/// commit, as the HTTP mix's batches (three to five), and 200 a commit, where the
/// statements rather than the syncs are most of the cost. The figures are the CPU time the
/// whole process spends per change, which the sync's wait does not count in: in all, and in
/// user space alone (SQLite and our code, without the kernel's share of writing and
/// syncing, which moves the most from run to run).
enum StoreBench {
    static func cpuMicrosecondsPerChange(changes: Int, perCommit: Int) async throws -> (total: Double, user: Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("todo-store-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await TodoStore.open(directory: directory.path)
        guard let day = TodoDate("2018-12-19") else { throw BenchFailure("no date") }
        var lists = [TodoList](repeating: TodoList(), count: 1_000)
        var batches: [[(name: String, change: ListChange)]] = []
        for start in stride(from: 0, to: changes, by: perCommit) {
            batches.append((start..<start + perCommit).map { index in
                let list = index % lists.count
                let change = lists[list].add(date: day, title: "Task \(index)", by: "bench1", atMillis: Int64(index)).1
                return ("list_\(list)", change)
            })
        }
        let before = cpuSeconds()
        do {
            for batch in batches { try await store.apply(batch) }
        } catch {
            await store.close()
            throw error
        }
        let after = cpuSeconds()
        // Closed before the directory goes: a store closing on its own as the directory was
        // removed took its files away under the removal, which gave up and left the directory.
        await store.close()
        let perChange = 1e6 / Double(changes)
        return ((after.user + after.system - before.user - before.system) * perChange, (after.user - before.user) * perChange)
    }

    /// This process's CPU time so far, in user space and in the kernel.
    private static func cpuSeconds() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return (Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }
}
