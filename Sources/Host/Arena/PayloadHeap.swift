// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// The allocator of the arena's payload heap: a binary buddy allocator.
///
/// Size classes are powers of two from ``minimumBlock`` (256 bytes) up to the largest block that fits.
/// A freed block is merged with its free buddy, so memory freed by many small payloads is available again
/// for a 1 MiB chunk. Offsets are absolute arena offsets, 256-byte aligned (so 64-byte aligned as the ABI
/// promises). Exhaustion returns `nil` — backpressure for the caller — and never traps.
///
/// - Complexity: allocate and free are O(log(heap size / minimumBlock)).
public final class PayloadHeap: Sendable {
    /// The smallest block handed out.
    public static let minimumBlock = 256

    /// Counters, for the allocator plugin ("free storage") and for tests.
    public struct Statistics: Sendable, Hashable {
        public var capacity: Int
        public var bytesInUse: Int
        public var peakBytesInUse: Int
        public var liveBlocks: Int
        public var allocations: Int
        public var failedAllocations: Int
        public var invalidFrees: Int
    }

    private struct State {
        var freeLists: [Set<Int>]     // per order: relative offsets of free blocks
        var orderOf: [Int8]           // per minimum block: order of the allocated block starting here, or -1
        var statistics: Statistics
    }

    private let heapOffset: Int
    private let heapSize: Int
    private let topBlocks: [(offset: Int, order: Int)]  // binary decomposition of the heap
    private let state: Mutex<State>

    init(offset: Int, size: Int) {
        precondition(size >= Self.minimumBlock && size % Self.minimumBlock == 0)
        heapOffset = offset
        heapSize = size
        var tops: [(Int, Int)] = []
        var lists: [Set<Int>] = []
        var at = 0
        var remaining = size / Self.minimumBlock
        while remaining > 0 {
            let order = Int.bitWidth - 1 - remaining.leadingZeroBitCount
            tops.append((at, order))
            while lists.count <= order { lists.append([]) }
            lists[order].insert(at)
            at += Self.minimumBlock << order
            remaining -= 1 << order
        }
        topBlocks = tops
        state = Mutex(
            State(
                freeLists: lists,
                orderOf: Array(repeating: -1, count: size / Self.minimumBlock),
                statistics: Statistics(
                    capacity: size, bytesInUse: 0, peakBytesInUse: 0, liveBlocks: 0, allocations: 0,
                    failedAllocations: 0, invalidFrees: 0)))
    }

    /// Bytes the heap manages.
    public var capacity: Int { heapSize }

    /// The largest single allocation this heap can ever satisfy.
    public var largestBlock: Int { Self.minimumBlock << (topBlocks.map(\.order).max() ?? 0) }

    /// Reserves a block of at least `size` bytes; returns its absolute arena offset, or `nil` when no free
    /// block is large enough (backpressure: free something and retry).
    public func allocate(_ size: Int) -> Int? {
        guard size > 0, size <= heapSize else {
            state.withLock { $0.statistics.failedAllocations += 1 }
            return nil
        }
        let wanted = Self.order(for: size)
        return state.withLock { state -> Int? in
            var order = wanted
            while order < state.freeLists.count && state.freeLists[order].isEmpty { order += 1 }
            guard order < state.freeLists.count, let block = state.freeLists[order].popFirst() else {
                state.statistics.failedAllocations += 1
                return nil
            }
            while order > wanted {  // split, keeping the lower half
                order -= 1
                state.freeLists[order].insert(block + (Self.minimumBlock << order))
            }
            state.orderOf[block / Self.minimumBlock] = Int8(order)
            let bytes = Self.minimumBlock << order
            state.statistics.bytesInUse += bytes
            state.statistics.peakBytesInUse = max(state.statistics.peakBytesInUse, state.statistics.bytesInUse)
            state.statistics.liveBlocks += 1
            state.statistics.allocations += 1
            return heapOffset + block
        }
    }

    /// Returns a block to the heap. An offset that is not a live block (double free, foreign offset) is
    /// counted in ``Statistics/invalidFrees`` and otherwise ignored; returns `false` in that case.
    @discardableResult
    public func free(_ offset: Int) -> Bool {
        // Overflow-checked: any foreign offset, Int.min included, is an invalid free and never a trap.
        let (relative, overflow) = offset.subtractingReportingOverflow(heapOffset)
        return state.withLock { state -> Bool in
            guard !overflow, relative >= 0, relative < heapSize, relative % Self.minimumBlock == 0,
                state.orderOf[relative / Self.minimumBlock] >= 0
            else {
                state.statistics.invalidFrees += 1
                return false
            }
            var order = Int(state.orderOf[relative / Self.minimumBlock])
            state.orderOf[relative / Self.minimumBlock] = -1
            state.statistics.bytesInUse -= Self.minimumBlock << order
            state.statistics.liveBlocks -= 1
            var block = relative
            let topOrder = topOrder(containing: block)
            while order < topOrder {
                let buddy = block ^ (Self.minimumBlock << order)
                guard state.freeLists[order].remove(buddy) != nil else { break }
                block = min(block, buddy)
                order += 1
            }
            state.freeLists[order].insert(block)
            return true
        }
    }

    /// The usable size of the live block at `offset`, or `nil` if there is none.
    public func blockSize(at offset: Int) -> Int? {
        let (relative, overflow) = offset.subtractingReportingOverflow(heapOffset)
        guard !overflow, relative >= 0, relative < heapSize, relative % Self.minimumBlock == 0 else { return nil }
        return state.withLock { state in
            let order = state.orderOf[relative / Self.minimumBlock]
            return order >= 0 ? Self.minimumBlock << Int(order) : nil
        }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    private func topOrder(containing relative: Int) -> Int {
        for top in topBlocks where relative >= top.offset && relative < top.offset + (Self.minimumBlock << top.order) {
            return top.order
        }
        preconditionFailure("offset outside the heap")
    }

    static func order(for size: Int) -> Int {
        let blocks = (size + minimumBlock - 1) / minimumBlock
        return blocks <= 1 ? 0 : Int.bitWidth - (blocks - 1).leadingZeroBitCount
    }
}
