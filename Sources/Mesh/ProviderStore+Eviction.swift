// SPDX-License-Identifier: Apache-2.0
import MeshCore

extension ProviderStore {
    /// A binary min-heap of records by (Lamport time, insertion sequence), with lazy deletion: a record that is
    /// replaced or removed leaves its item behind, and ``peek(live:)`` drops such items as it meets them
    /// (the table says which items are live). ``compact(live:)`` drops them all when they pile up.
    ///
    /// - Complexity: `push` O(log n); `peek` O(log n) amortized per stale item dropped; `compact` O(n).
    struct EvictionQueue {
        struct Item {
            var lamport: UInt64
            var sequence: UInt64
            var key: [UInt8]
            var member: MemberID
            func precedes(_ other: Item) -> Bool { (lamport, sequence) < (other.lamport, other.sequence) }
        }

        private var heap: [Item] = []
        var count: Int { heap.count }

        mutating func push(_ item: Item) {
            heap.append(item)
            siftUp(heap.count - 1)
        }

        /// The live item that precedes every other live item, or nil when none is live.
        mutating func peek(live: (Item) -> Bool) -> Item? {
            while let top = heap.first {
                if live(top) { return top }
                popFirst()
            }
            return nil
        }

        /// Keeps only live items.
        mutating func compact(live: (Item) -> Bool) {
            heap.removeAll { !live($0) }
            for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }

        private mutating func popFirst() {
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            if !heap.isEmpty { siftDown(0) }
        }

        private mutating func siftUp(_ start: Int) {
            var child = start
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].precedes(heap[parent]) else { return }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        private mutating func siftDown(_ start: Int) {
            var parent = start
            while true {
                let left = 2 * parent + 1, right = left + 1
                var first = parent
                if left < heap.count && heap[left].precedes(heap[first]) { first = left }
                if right < heap.count && heap[right].precedes(heap[first]) { first = right }
                if first == parent { return }
                heap.swapAt(parent, first)
                parent = first
            }
        }
    }
}
