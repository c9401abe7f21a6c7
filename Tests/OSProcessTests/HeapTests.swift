import Glibc
import Testing
@testable import OSProcess

/// The C heap's free pages go back to the system when asked, those between chunks still in
/// use too, which glibc's `free` alone keeps.
struct HeapTests {
    @Test func residentMemoryIsReadFromTheSystem() throws {
        let resident = try #require(Heap.residentBytes)
        // A Swift test process holds at least its libraries' pages.
        #expect(resident > 1 << 20)
    }

    @Test func memoryFreedBetweenBlocksInUseGoesBackOnlyWhenReleased() throws {
        // 1,024 pairs of 32 KiB blocks (below the allocator's mmap threshold, so from an
        // arena), each written so it is resident; then the first of each pair is freed: a
        // hole between two blocks in use, which neither merges nor leaves from the top.
        let blockBytes = 32 << 10, pairs = 1_024
        var freed: [UnsafeMutableRawPointer] = [], kept: [UnsafeMutableRawPointer] = []
        defer { for pointer in kept { free(pointer) } }
        for _ in 0..<pairs {
            for index in 0..<2 {
                let pointer = try #require(malloc(blockBytes))
                memset(pointer, 1, blockBytes)
                if index == 0 { freed.append(pointer) } else { kept.append(pointer) }
            }
        }
        let heldBefore = try #require(Heap.residentBytes)
        for pointer in freed { free(pointer) }
        // Freed, but still resident (most of it: the suite's other threads come and go).
        #expect(heldBefore - (try #require(Heap.residentBytes)) < 8 << 20)
        // Each 32 KiB hole holds 7 whole pages that can go.
        let released = Heap.releaseFreePages()
        #expect(released > 16 << 20)
        #expect(try #require(Heap.residentBytes) < heldBefore - (16 << 20))
    }
}
