/// How long a long-running program waits between trims of its heap, each giving the heap's
/// free pages back to the system (`Heap.releaseFreePages`). Pure: it is told what each trim
/// released.
///
/// It starts at `shortest`. A trim that releases less than `worthwhileBytes` (a heap in
/// steady use, which reuses what it frees) doubles the wait, up to `longest`; one that
/// releases more (a burst has ended: list servers stopped, a catch-up done) brings the wait
/// back to `shortest`, while the burst's memory may still be coming free.
public struct HeapTrimSchedule: Sendable {
    public static let shortest = Duration.seconds(10)
    public static let longest = Duration.seconds(160)
    public static let worthwhileBytes = 4 << 20

    /// How long to wait before the next trim.
    public private(set) var wait = HeapTrimSchedule.shortest

    public init() {}

    /// A trim released `bytes`.
    public mutating func released(_ bytes: Int) {
        wait = bytes >= Self.worthwhileBytes ? Self.shortest : min(wait * 2, Self.longest)
    }
}
