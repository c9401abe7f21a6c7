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
        for pointer in freed { free(pointer) }
        // The holes' own pages, not the process's resident total: the suites that run beside
        // this one grow and shrink that by megabytes meanwhile (it once fell by only 13.6 of the
        // holes' 28 MiB). Another thread may take a hole in the meantime, so most, not all.
        let held = Self.residentPages(inside: freed, bytes: blockBytes)
        #expect(held.all >= pairs * 6)
        #expect(held.resident * 4 >= held.all * 3, "freed, but still resident")
        let released = Heap.releaseFreePages()
        let left = Self.residentPages(inside: freed, bytes: blockBytes)
        #expect(left.resident * 4 <= left.all, "\(left.resident) of \(left.all) pages still resident")
        #expect(released > 0)
    }

    /// How many of the whole pages inside `blocks` (each `bytes` long, freed) are resident,
    /// of how many: from the first page boundary past the allocator's own fields at a free
    /// chunk's start to the last before its end.
    private static func residentPages(inside blocks: [UnsafeMutableRawPointer], bytes: Int) -> (resident: Int, all: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = 0, all = 0
        for block in blocks {
            let start = (Int(bitPattern: block) + 64 + page - 1) / page * page
            let end = (Int(bitPattern: block) + bytes) / page * page
            guard end > start, let first = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            var pages = [UInt8](repeating: 0, count: (end - start) / page)
            guard mincore(first, end - start, &pages) == 0 else { continue }
            all += pages.count
            resident += pages.count { $0 & 1 == 1 }
        }
        return (resident, all)
    }
}
