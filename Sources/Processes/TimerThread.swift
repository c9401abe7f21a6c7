#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The receive timeouts of one runtime, on one thread of their own: a min-heap of deadlines
/// and a condition variable. A Dispatch timer per timed receive cost a timer-heap insert and
/// a wake of Dispatch's manager thread each, and kept the process alive until it fired. Here
/// the heap holds plain integers (a deadline as a `WaitTimer.Moment`, and a slot number), so
/// sifting copies no references and no `ContinuousClock.Instant`s (which it moved and compared
/// through their metadata: with the run-time exclusivity checks, about 40 % of what
/// scheduling an entry cost); the slot holds its process's serial, looked up in the runtime's
/// table when its time comes (a weak reference gave every process that ever waited with a
/// timeout a side table: memory per idle process, and the slow path of every retain and
/// release of its cell, which each copy of its pid makes). A process arms entries
/// lazily (`WaitTimer`), and those it no longer relies on are dropped when their time comes,
/// or sooner: each time the heap doubles, it is rebuilt without them (O(1) amortized per
/// timer, nothing on the receive path), so long timeouts under load cannot pile up.
final class TimerThread: @unchecked Sendable {
    private struct Entry {
        let due: WaitTimer.Moment
        let slot: Int
    }

    /// The runtime's live processes, where a slot's serial is looked up when its time comes.
    private let table: ProcessTable

    // Guarded by `mutex` (or the mutex and condition themselves), so Swift's run-time
    // exclusivity checks, one per access through a thread-local set, are left out.
    @exclusivity(unchecked) private var heap: [Entry] = []
    /// The serial of each slot's process; 0 for a free slot.
    @exclusivity(unchecked) private var slots: [UInt64] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    @exclusivity(unchecked) private var sizeAfterCleaning = 0
    @exclusivity(unchecked) private var stopped = false
    @exclusivity(unchecked) private var mutex = pthread_mutex_t()
    @exclusivity(unchecked) private var condition = pthread_cond_t()
    @exclusivity(unchecked) private var thread: pthread_t?

    init(table: ProcessTable) {
        self.table = table
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Calls `cell.timerFired(entry: due)` at `due`, if the process is still alive.
    func schedule(_ cell: ProcessCell, at due: WaitTimer.Moment) {
        pthread_mutex_lock(&mutex)
        if thread == nil { start() }
        if heap.count >= max(1_024, 2 * sizeAfterCleaning) { dropStale() }
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = cell.serial
        } else {
            slot = slots.count
            slots.append(cell.serial)
        }
        heap.append(Entry(due: due, slot: slot))
        siftUp(heap.count - 1)
        let earliest = heap[0].due == due
        pthread_mutex_unlock(&mutex)
        if earliest { pthread_cond_signal(&condition) }
    }

    /// Entries in the heap, stale ones included (for tests).
    var pendingCount: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return heap.count
    }

    /// Keeps only the entries a live process relies on, and rebuilds the heap (O(n)).
    private func dropStale() {
        var kept = 0
        for entry in heap {
            if let cell = table[serial: slots[entry.slot]], cell.needsTimer(entry: entry.due) {
                heap[kept] = entry
                kept += 1
            } else {
                release(entry.slot)
            }
        }
        heap.removeLast(heap.count - kept)
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        sizeAfterCleaning = heap.count
    }

    /// Frees a slot for the next entry.
    private func release(_ slot: Int) {
        slots[slot] = 0
        freeSlots.append(slot)
    }

    func stop() {
        pthread_mutex_lock(&mutex)
        stopped = true
        pthread_mutex_unlock(&mutex)
        pthread_cond_signal(&condition)
    }

    /// Started on first use: a runtime that never waits with a timeout has no thread.
    private func start() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let created = pthread_create(&handle, nil, { argument in
            guard let argument else { return nil }
            let timers = Unmanaged<TimerThread>.fromOpaque(argument).takeRetainedValue()
            timers.run()
            return nil
        }, box.toOpaque())
        if created == 0 {
            pthread_detach(handle)
            thread = handle
        } else {
            box.release()
        }
    }

    private func run() {
        var fired: [(due: WaitTimer.Moment, serial: UInt64)] = []
        pthread_mutex_lock(&mutex)
        while !stopped {
            let now = WaitTimer.now()
            while let first = heap.first, first.due <= now {
                let entry = popFirst()
                fired.append((entry.due, slots[entry.slot]))
                release(entry.slot)
            }
            if !fired.isEmpty {
                pthread_mutex_unlock(&mutex)
                for entry in fired { table[serial: entry.serial]?.timerFired(entry: entry.due) }
                fired.removeAll(keepingCapacity: true)
                pthread_mutex_lock(&mutex)
                continue
            }
            if let first = heap.first {
                var wake = timespec()
                clock_gettime(CLOCK_MONOTONIC, &wake)
                // At most an hour at a time: a deadline centuries away must not overflow.
                let nanoseconds = Int(min(first.due - now, 3_600_000_000_000)) + wake.tv_nsec
                wake.tv_sec += nanoseconds / 1_000_000_000
                wake.tv_nsec = nanoseconds % 1_000_000_000
                pthread_cond_timedwait(&condition, &mutex, &wake)
            } else {
                pthread_cond_wait(&condition, &mutex)
            }
        }
        pthread_mutex_unlock(&mutex)
    }

    private func popFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return first
    }

    private func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count, heap[right].due < heap[smallest].due { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
