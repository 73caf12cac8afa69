// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import PluginABI
import Testing

@testable import Host

@Suite("Payload heap (buddy allocator)")
struct PayloadHeapTests {
    static let minimum = PayloadHeap.minimumBlock

    /// The heap of a small arena and where it lies in the arena.
    static func heap() throws -> (arena: Arena, heap: PayloadHeap, start: Int, end: Int) {
        let arena = try makeArena()
        let header = arena.header
        return (arena, arena.heap, Int(header.heap_offset), Int(header.heap_offset + header.heap_size))
    }

    /// The sizes of the heap's top blocks (its binary decomposition into powers of two), largest first.
    static func topBlockSizes(capacity: Int) -> [Int] {
        let blocks = capacity / minimum
        return (0..<Int.bitWidth).reversed().filter { blocks & (1 << $0) != 0 }.map { minimum << $0 }
    }

    /// Allocates the heap's top blocks, largest first: succeeds only if every free block has merged back.
    static func expectFullyCoalesced(_ heap: PayloadHeap, sourceLocation: SourceLocation = #_sourceLocation) {
        let stats = heap.statistics
        #expect(stats.bytesInUse == 0 && stats.liveBlocks == 0, sourceLocation: sourceLocation)
        var taken: [Int] = []
        for size in topBlockSizes(capacity: stats.capacity) {
            let block = heap.allocate(size)
            #expect(block != nil, "a \(size)-byte top block did not merge back", sourceLocation: sourceLocation)
            if let block { taken.append(block) }
        }
        #expect(heap.allocate(1) == nil, "the top blocks should cover the whole heap", sourceLocation: sourceLocation)
        for block in taken { heap.free(block) }
    }

    @Test("sizes round up to a power of two of at least 256 bytes")
    func sizeClasses() throws {
        let (_, heap, _, _) = try Self.heap()
        for (size, block) in [(1, 256), (255, 256), (256, 256), (257, 512), (1000, 1024), (4096, 4096), (4097, 8192)] {
            let offset = try #require(heap.allocate(size))
            #expect(heap.blockSize(at: offset) == block, "size \(size)")
            #expect(heap.free(offset))
            #expect(heap.blockSize(at: offset) == nil)
        }
        #expect(heap.largestBlock == Self.topBlockSizes(capacity: heap.statistics.capacity).first)
    }

    @Test("a freed block is reused by the next allocation of its size")
    func reuse() throws {
        let (_, heap, start, _) = try Self.heap()
        var blocks: [Int] = []
        while let block = heap.allocate(Self.minimum) { blocks.append(block) }
        blocks.sort()
        #expect(blocks.count == heap.statistics.capacity / Self.minimum)
        #expect(blocks.first == start)

        // The only free block is the one just freed, whatever size class is asked for within it.
        let middle = blocks[blocks.count / 2]
        #expect(heap.free(middle))
        #expect(heap.allocate(Self.minimum) == middle)
        #expect(heap.free(middle))
        #expect(heap.allocate(1) == middle)

        // Two buddies merge into one block of twice the size…
        let buddy = blocks.firstIndex { ($0 - start) % (2 * Self.minimum) == 0 }!
        #expect(heap.free(blocks[buddy]) && heap.free(blocks[buddy + 1]))
        #expect(heap.allocate(2 * Self.minimum) == blocks[buddy])
        // …but neighbours that are not buddies do not: 512 bytes are free, no 512-byte block is.
        #expect(heap.free(blocks[buddy + 3]) && heap.free(blocks[buddy + 4]))
        #expect(heap.allocate(2 * Self.minimum) == nil)
        #expect(Set([heap.allocate(Self.minimum), heap.allocate(Self.minimum)]) == [blocks[buddy + 3], blocks[buddy + 4]])
    }

    @Test("a heap filled with small blocks and freed in any order gives its largest blocks back")
    func coalescing() throws {
        let (_, heap, start, _) = try Self.heap()
        var random = SeededRandom(seed: 7)
        for round in 0..<3 {
            var blocks: [Int] = []
            while let block = heap.allocate(Self.minimum << (round % 2)) { blocks.append(block) }
            #expect(heap.statistics.bytesInUse == heap.statistics.capacity)
            #expect(heap.allocate(heap.largestBlock) == nil)

            // Free every other block: half the heap is free, yet no block has a free buddy to merge with.
            blocks.sort()
            let size = Self.minimum << (round % 2)
            let (even, odd) = (blocks.filter { ($0 - start) / size % 2 == 0 }, blocks.filter { ($0 - start) / size % 2 == 1 })
            for block in even.shuffled(using: &random) { #expect(heap.free(block)) }
            #expect(heap.statistics.bytesInUse == heap.statistics.capacity / 2)
            #expect(heap.allocate(2 * size) == nil)

            for block in odd.shuffled(using: &random) { #expect(heap.free(block)) }
            Self.expectFullyCoalesced(heap)
        }
    }

    @Test("exhaustion and impossible sizes return nil, are counted, and never trap")
    func exhaustion() throws {
        let (_, heap, start, end) = try Self.heap()
        let capacity = end - start
        #expect(heap.statistics.capacity == capacity)
        let impossible = [0, -1, .min, capacity + 1, heap.largestBlock + 1, .max]
        for (index, size) in impossible.enumerated() {
            #expect(heap.allocate(size) == nil, "size \(size)")
            #expect(heap.statistics.failedAllocations == index + 1)
        }
        var blocks: [Int] = []
        while let block = heap.allocate(64 << 10) { blocks.append(block) }
        while let block = heap.allocate(1) { blocks.append(block) }  // the small top blocks
        let failed = heap.statistics.failedAllocations
        #expect(failed == impossible.count + 2)
        for _ in 0..<100 { #expect(heap.allocate(1) == nil) }
        let stats = heap.statistics
        #expect(stats.failedAllocations == failed + 100)
        #expect(stats.bytesInUse == capacity && stats.peakBytesInUse == capacity)
        #expect(stats.allocations == blocks.count && stats.liveBlocks == blocks.count)

        #expect(heap.free(blocks.removeLast()))
        #expect(heap.allocate(1) != nil, "freeing makes room again")
    }

    @Test("double, interior, unaligned and foreign frees are refused, counted, and change nothing")
    func invalidFrees() throws {
        let (_, heap, start, end) = try Self.heap()
        let block = try #require(heap.allocate(1024))
        let other = try #require(heap.allocate(300))
        let before = heap.statistics
        let bad = [
            block + 256, block + 512, block + 8, block + 64, other + 1,  // inside live blocks
            0, start - Self.minimum, end, end + Self.minimum, -1, .min, .max,  // outside the heap
        ]
        for offset in bad { #expect(!heap.free(offset), "offset \(offset)") }
        #expect(heap.blockSize(at: .min) == nil && heap.blockSize(at: .max) == nil && heap.blockSize(at: -256) == nil)
        var after = heap.statistics
        #expect(after.invalidFrees == bad.count)
        after.invalidFrees = before.invalidFrees
        #expect(after == before, "a refused free must not touch the heap")
        #expect(heap.blockSize(at: block) == 1024 && heap.blockSize(at: other) == 512)

        #expect(heap.free(block))
        #expect(!heap.free(block), "double free")
        #expect(heap.statistics.invalidFrees == bad.count + 1)
        #expect(heap.free(other))
        Self.expectFullyCoalesced(heap)
    }

    @Test("random allocate/free (seeded): aligned, inside the heap, never overlapping, accounting exact")
    func randomised() throws {
        let (_, heap, start, end) = try Self.heap()
        var random = SeededRandom(seed: 0xB0DD1)
        var live: [Int: (requested: Int, block: Int)] = [:]
        var starts: [Int] = []  // sorted starts of live blocks, for the overlap check
        var succeeded = 0
        var failed = 0
        var bytesInUse = 0
        var failures: [String] = []

        for step in 0..<30_000 {
            let allocating = live.isEmpty || (live.count < 400 && random.next() % 3 != 0)
            if allocating {
                let size: Int
                switch random.next() % 100 {
                case 0: size = Int.random(in: (end - start + 1)...(4 * (end - start)), using: &random)  // too big
                case 1..<4: size = Int.random(in: 1...heap.largestBlock, using: &random)
                case 4..<30: size = Int.random(in: 1...65_536, using: &random)
                default: size = Int.random(in: 1...2_000, using: &random)
                }
                guard let offset = heap.allocate(size) else {
                    failed += 1
                    continue
                }
                succeeded += 1
                let block = heap.blockSize(at: offset) ?? 0
                if offset % 64 != 0 || offset < start || offset + block > end || block < size || block.nonzeroBitCount != 1 {
                    failures.append("step \(step): \(size) bytes at \(offset), block \(block)")
                }
                // Neighbours in address order must end before this block and start after it.
                let index = starts.partitioningIndex { $0 >= offset }
                if index > 0, let previous = live[starts[index - 1]], starts[index - 1] + previous.block > offset {
                    failures.append("step \(step): block at \(offset) overlaps the one at \(starts[index - 1])")
                }
                if index < starts.count, starts[index] < offset + block {
                    failures.append("step \(step): block at \(offset)+\(block) overlaps the one at \(starts[index])")
                }
                starts.insert(offset, at: index)
                live[offset] = (size, block)
                bytesInUse += block
            } else {
                let index = Int(random.next() % UInt64(starts.count))
                let offset = starts.remove(at: index)
                bytesInUse -= live.removeValue(forKey: offset)!.block
                if !heap.free(offset) { failures.append("step \(step): free of live block \(offset) refused") }
            }
            let stats = heap.statistics
            if stats.bytesInUse != bytesInUse || stats.liveBlocks != live.count {
                failures.append("step \(step): heap says \(stats.bytesInUse) bytes in \(stats.liveBlocks) blocks, want \(bytesInUse) in \(live.count)")
            }
            if failures.count > 10 { break }
        }
        #expect(failures.isEmpty, "\(failures)")
        let stats = heap.statistics
        #expect(stats.allocations == succeeded)
        #expect(stats.failedAllocations == failed && failed > 0)
        #expect(stats.invalidFrees == 0)
        #expect(stats.peakBytesInUse >= bytesInUse && stats.peakBytesInUse <= stats.capacity)

        for offset in starts.shuffled(using: &random) { #expect(heap.free(offset)) }
        Self.expectFullyCoalesced(heap)
    }

    @Test("two threads allocating, writing and freeing never share a byte; the heap ends empty")
    func concurrent() throws {
        let (arena, heap, _, _) = try Self.heap()
        let corrupted = Box(0)
        let threads = (0..<2).map { thread in
            JoinableThread {
                var random = SeededRandom(seed: UInt64(thread) + 100)
                var mine: [(offset: Int, length: Int, stamp: UInt8)] = []
                var serial = 0
                func release(_ block: (offset: Int, length: Int, stamp: UInt8)) {
                    // Every byte must still hold this block's stamp: another live block over it would have
                    // overwritten some.
                    let intact = arena.withBytes(at: block.offset, length: block.length) { bytes in
                        bytes[0] == block.stamp && memcmp(bytes.baseAddress!, bytes.baseAddress! + 1, bytes.count - 1) == 0
                    }
                    if !intact { corrupted.update { $0 += 1 } }
                    if !heap.free(block.offset) { corrupted.update { $0 += 1 } }
                }
                for _ in 0..<40_000 {
                    if mine.count < 64 && (mine.isEmpty || random.next() % 2 == 0) {
                        let size = Int.random(in: 1...8192, using: &random)
                        guard let offset = heap.allocate(size) else { continue }
                        serial += 1
                        let stamp = UInt8(truncatingIfNeeded: serial * 2 + thread)  // differs between threads
                        _ = arena.withBytes(at: offset, length: size) { $0.initializeMemory(as: UInt8.self, repeating: stamp) }
                        mine.append((offset, size, stamp))
                    } else {
                        release(mine.remove(at: Int(random.next() % UInt64(mine.count))))
                    }
                }
                mine.forEach(release)
            }
        }
        threads.forEach { $0.join() }
        #expect(corrupted.value == 0)
        let stats = heap.statistics
        #expect(stats.bytesInUse == 0 && stats.liveBlocks == 0 && stats.invalidFrees == 0)
        #expect(stats.allocations > 10_000)
        Self.expectFullyCoalesced(heap)
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, for an array partitioned by it (binary search).
    fileprivate func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
