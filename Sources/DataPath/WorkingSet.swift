// SPDX-License-Identifier: Apache-2.0
import Host

/// The arena blocks one put or get works in: `k + m` shard blocks of `chunkSize` bytes and one block for
/// the stored (compressed) form. Allocated once per operation and reused for every stripe, so a 10 GB file
/// is processed in the same few MiB as a 10 MB one, with no per-chunk allocation or heap copy: the file is
/// read straight into arena blocks, hashed and compressed in place, and the store writes from the arena.
final class WorkingSet: Sendable {
    let arena: Arena
    let shards: [Int]      // arena offsets, k + m of them
    let stored: Int        // arena offset of the compressed/stored-form block
    let chunkSize: Int
    let storedCapacity: Int

    init(arena: Arena, shardCount: Int, chunkSize: Int, storedCapacity: Int) throws(DataPathError) {
        self.arena = arena
        self.chunkSize = chunkSize
        self.storedCapacity = storedCapacity
        var taken: [Int] = []
        func release() { taken.forEach { arena.heap.free($0) } }
        for _ in 0..<shardCount {
            guard let offset = arena.heap.allocate(chunkSize) else {
                release()
                throw Self.tooSmall(arena: arena, shardCount: shardCount, chunkSize: chunkSize, storedCapacity: storedCapacity)
            }
            taken.append(offset)
        }
        guard let stored = arena.heap.allocate(storedCapacity) else {
            release()
            throw Self.tooSmall(arena: arena, shardCount: shardCount, chunkSize: chunkSize, storedCapacity: storedCapacity)
        }
        self.shards = taken
        self.stored = stored
    }

    deinit {
        shards.forEach { arena.heap.free($0) }
        arena.heap.free(stored)
    }

    private static func tooSmall(arena: Arena, shardCount: Int, chunkSize: Int, storedCapacity: Int) -> DataPathError {
        let needed = (shardCount * chunkSize + storedCapacity) >> 20
        return DataPathError(
            .invalidArgument,
            "this operation needs about \(needed + 1) MiB of arena heap (\(shardCount) shards of \(chunkSize >> 10) KiB) but only \(arena.heap.statistics.capacity - arena.heap.statistics.bytesInUse >> 20) MiB are free: raise [arena] size_mib or use fewer shards")
    }

    func shard(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: arena.base + shards[index], count: chunkSize)
    }

    func shardPointer(_ index: Int) -> UnsafeMutableRawPointer { arena.base + shards[index] }

    var storedBuffer: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: arena.base + stored, count: storedCapacity)
    }
}
