import Glibc
import Testing
@testable import OSProcess

/// The C heap's free pages go back to the system when asked, those below a chunk still in
/// use too, which glibc's `free` alone keeps.
struct HeapTests {
    @Test func residentMemoryIsReadFromTheSystem() throws {
        let resident = try #require(Heap.residentBytes)
        // A Swift test process holds at least its libraries' pages.
        #expect(resident > 1 << 20)
    }

    @Test func memoryFreedBelowABlockInUseGoesBackOnlyWhenReleased() throws {
        // 64 MiB in 32 KiB blocks (below the allocator's mmap threshold, so from an arena),
        // each written so it is resident, then a block above them all that stays in use.
        let blockBytes = 32 << 10, blocks = 2_048
        let heldBefore = try #require(Heap.residentBytes)
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0..<blocks {
            let pointer = try #require(malloc(blockBytes))
            memset(pointer, 1, blockBytes)
            pointers.append(pointer)
        }
        let pin = try #require(malloc(64))
        defer { free(pin) }
        for pointer in pointers { free(pointer) }
        let heldFreed = try #require(Heap.residentBytes)
        // Freed, but below `pin`: still resident (most of it; the suite's other threads come and go).
        #expect(heldFreed - heldBefore > 32 << 20)
        let released = Heap.releaseFreePages()
        #expect(released > 32 << 20)
        #expect(try #require(Heap.residentBytes) < heldFreed - (32 << 20))
    }
}
