// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Host

/// An `ArenaBlock` owns one heap block: the only way to reach its bytes is a borrowing closure, and dropping
/// (or moving on and then dropping) the value frees the block exactly once.
@Suite("Arena block (owned heap block)")
struct ArenaBlockTests {
    @Test("dropping a block frees it; its bytes are the arena's at its offset")
    func dropFrees() throws {
        let arena = try makeArena()
        do {
            guard var block = ArenaBlock(allocating: 1000, in: arena) else { Issue.record("no block"); return }
            #expect(arena.heap.statistics.liveBlocks == 1)
            let length = block.length
            #expect(length == 1000)
            block.withMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
            let filled = block.withBytes { $0.count == 1000 && $0.allSatisfy { $0 == 0x5A } }
            #expect(filled)
            let offset = block.offset
            let direct = arena.withBytes(at: offset, length: 1000) { Array($0) }
            #expect(direct == [UInt8](repeating: 0x5A, count: 1000))
        }
        #expect(arena.heap.statistics.liveBlocks == 0)
        #expect(arena.heap.statistics.invalidFrees == 0)
    }

    @Test("a block moved to another owner (and thread) is freed once, by that owner")
    func moveFreesOnce() throws {
        let arena = try makeArena()
        let offset = try #require(arena.heap.allocate(4096))
        let block = ArenaBlock(adopting: offset, length: 4096, in: arena)
        final class Box: Sendable {
            let block: ArenaBlock
            init(_ block: consuming ArenaBlock) { self.block = block }
        }
        var box: Box? = Box(block)
        #expect(arena.heap.statistics.liveBlocks == 1)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var moved = box
        box = nil
        Thread {
            let count = moved!.block.withBytes { $0.count }
            #expect(count == 4096)
            moved = nil
            done.signal()
        }.start()
        done.wait()
        #expect(arena.heap.statistics.liveBlocks == 0)
        #expect(arena.heap.statistics.invalidFrees == 0)
    }

    static func isNil(_ block: consuming ArenaBlock?) -> Bool {
        switch consume block {
        case .none: true
        case .some: false
        }
    }

    @Test("allocating more than the heap has free gives nil, never a trap")
    func exhaustion() throws {
        let arena = try makeArena()
        let tooLarge = Self.isNil(ArenaBlock(allocating: arena.heap.capacity + 1, in: arena))
        #expect(tooLarge)
        guard let whole = ArenaBlock(allocating: arena.heap.largestBlock, in: arena) else { Issue.record("no block"); return }
        let second = Self.isNil(ArenaBlock(allocating: arena.heap.largestBlock, in: arena))
        #expect(second)
        #expect(arena.heap.statistics.liveBlocks == 1)
        _ = consume whole
        #expect(arena.heap.statistics.liveBlocks == 0)
    }
}
