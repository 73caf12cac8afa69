// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Host

@Suite("Payload heap (buddy allocator)")
struct HeapAllocatorTests {
    static func heap() throws -> (Arena, PayloadHeap) {
        let arena = try Arena(configuration: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 4096, outboxCapacity: 4096))
        return (arena, arena.heap)
    }

    @Test("a freed block is reused; neighbours merge so a large block fits again")
    func reuseAndCoalescing() throws {
        let (_, heap) = try Self.heap()
        let a = try #require(heap.allocate(1000))
        heap.free(a)
        #expect(heap.allocate(1000) == a)
        heap.free(a)

        let largest = heap.largestBlock
        var small: [Int] = []
        while let block = heap.allocate(256) { small.append(block) }
        #expect(heap.allocate(largest) == nil)
        for block in small.shuffled() { heap.free(block) }
        #expect(heap.statistics.bytesInUse == 0)
        #expect(heap.allocate(largest) != nil)
    }

    @Test("exhaustion returns nil and is counted; it never traps")
    func exhaustion() throws {
        let (_, heap) = try Self.heap()
        var blocks: [Int] = []
        while let block = heap.allocate(64 << 10) { blocks.append(block) }
        #expect(!blocks.isEmpty)
        // Smaller pieces of the heap's decomposition remain usable for smaller payloads…
        while let block = heap.allocate(256) { blocks.append(block) }
        // …until nothing is left at all.
        #expect(heap.allocate(1) == nil)
        #expect(heap.allocate(Int.max) == nil)
        #expect(heap.allocate(0) == nil)
        #expect(heap.statistics.failedAllocations == 5)
        #expect(heap.statistics.bytesInUse == heap.statistics.capacity)
    }

    @Test("double and foreign frees are refused and counted")
    func invalidFrees() throws {
        let (_, heap) = try Self.heap()
        let block = try #require(heap.allocate(300))
        #expect(heap.free(block))
        #expect(!heap.free(block))
        #expect(!heap.free(block + 8))
        #expect(!heap.free(-1))
        #expect(!heap.free(0))
        #expect(heap.statistics.invalidFrees == 4)
    }

    @Test("random allocate/free: blocks are aligned, inside the heap, never overlap; accounting adds up")
    func randomised() throws {
        let (arena, heap) = try Self.heap()
        let header = arena.header
        var random = SystemRandomNumberGenerator()
        var live: [Int: Int] = [:]  // offset → requested size
        for step in 0..<20_000 {
            if live.isEmpty || (step % 3 != 0 && live.count < 500) {
                let size = Int.random(in: 1...(step % 50 == 0 ? 300_000 : 5000), using: &random)
                guard let offset = heap.allocate(size) else { continue }
                #expect(offset % 64 == 0)
                #expect(UInt64(offset) >= header.heap_offset && UInt64(offset + size) <= header.heap_offset + header.heap_size)
                #expect(heap.blockSize(at: offset)! >= size)
                live[offset] = size
            } else {
                let offset = live.keys.randomElement(using: &random)!
                #expect(heap.free(offset))
                live[offset] = nil
            }
        }
        let ranges = live.map { ($0.key, $0.key + heap.blockSize(at: $0.key)!) }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.1 <= b.0) }
        #expect(heap.statistics.liveBlocks == live.count)
        #expect(heap.statistics.bytesInUse == ranges.reduce(0) { $0 + $1.1 - $1.0 })
    }

    @Test("two threads allocating and freeing keep the heap consistent")
    func concurrent() throws {
        let (_, heap) = try Self.heap()
        let done = DispatchGroup()
        for seed in 0..<2 {
            done.enter()
            Thread {
                var mine: [Int] = []
                for i in 0..<50_000 {
                    if i % 2 == 0, let block = heap.allocate(256 << (i % 5 + seed)) { mine.append(block) }
                    else if !mine.isEmpty { heap.free(mine.removeLast()) }
                }
                mine.forEach { heap.free($0) }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(heap.statistics.bytesInUse == 0)
        #expect(heap.statistics.liveBlocks == 0)
        #expect(heap.statistics.invalidFrees == 0)
        #expect(heap.allocate(heap.largestBlock) != nil)
    }
}
