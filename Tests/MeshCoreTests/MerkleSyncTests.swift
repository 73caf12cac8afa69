// SPDX-License-Identifier: Apache-2.0
import HostTestSupport
import MeshCore
import Testing

@Suite("Merkle anti-entropy")
struct MerkleSyncTests {
    static func key(_ i: Int) -> Key256 {
        var x = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
        return Key256(next(), next(), next(), next())
    }

    /// A provider-record-sized value (144 bytes).
    static func value(_ i: Int, version: Int = 0) -> [UInt8] { (0..<144).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &+ version * 7) } }

    @Test("a tree kept up to date item by item (sets, overwrites, removes, between reads) equals one built at once", arguments: [1, 2, 4])
    func incrementalEqualsFromScratch(depth: Int) {
        var live = MerkleReplica(depth: depth, digest: fnv1a64)
        var rng = SeededRandom(seed: UInt64(depth))
        for round in 0..<40 {
            for _ in 0..<50 {
                let i = Int(rng.next() % 400)
                switch rng.next() % 4 {
                case 0: live.remove(Self.key(i))
                case 1: live.set(Self.key(i), Self.value(i))  // the same value again: no change
                default: live.set(Self.key(i), Self.value(i, version: round))
                }
            }
            var scratch = MerkleReplica(depth: depth, digest: fnv1a64)
            for (key, value) in live.items { scratch.set(key, value) }
            #expect(live.root() == scratch.root(), "round \(round)")
            for level in 0..<depth { for node in [0, (1 << (4 * level)) - 1] { #expect(live.children(level: level, node: node) == scratch.children(level: level, node: node)) } }
        }
        // Emptied again: the empty tree's root.
        for key in live.items.keys { live.remove(key) }
        var empty = MerkleReplica(depth: depth, digest: fnv1a64)
        #expect(live.root() == empty.root())
    }

    @Test("identical replicas exchange only their roots; one differing item walks one path down")
    func identicalAndSingle() {
        var a = MerkleReplica(digest: fnv1a64), b = MerkleReplica(digest: fnv1a64)
        for i in 0..<5000 {
            a.set(Self.key(i), Self.value(i))
            b.set(Self.key(i), Self.value(i))
        }
        let same = MerkleReplica.synchronize(&a, &b)
        #expect(same.total == 16 && same.itemsTransferred == 0)
        b.set(Self.key(42), Self.value(42, version: 1))
        let one = MerkleReplica.synchronize(&a, &b)
        #expect(one.differingLeaves == 1)
        #expect(one.treeBytes == 16 + 4 * (16 * 8 + 2))  // depth 4: one node expanded per level
        #expect(a.root() == b.root())
        #expect(a.items == b.items)
    }

    @Test("1% of 20,000 items differ: both replicas converge, moving at most 5× the differing items' bytes")
    func onePercent() {
        var a = MerkleReplica(digest: fnv1a64), b = MerkleReplica(digest: fnv1a64)
        for i in 0..<20_000 {
            a.set(Self.key(i), Self.value(i))
            b.set(Self.key(i), Self.value(i))
        }
        var differing = 0
        for i in stride(from: 0, to: 20_000, by: 200) {  // 100 items changed on b
            b.set(Self.key(i), Self.value(i, version: 1))
            differing += 32 + 144
        }
        for i in 20_000..<20_050 {  // 50 new on each side
            a.set(Self.key(i), Self.value(i))
            b.set(Self.key(i + 50), Self.value(i + 50))
            differing += 2 * (32 + 144)
        }
        let report = MerkleReplica.synchronize(&a, &b)
        #expect(a.root() == b.root())
        #expect(a.items == b.items)
        #expect(a.items.count == 20_100)
        #expect(report.itemsTransferred == 200)
        #expect(report.total <= 5 * differing, "\(report.total) bytes for \(differing) bytes of differing items")
        let full = 20_100 * (32 + 144)
        #expect(report.total * 20 < full)  // and far less than sending everything
        #expect(MerkleReplica.synchronize(&a, &b).total == 16)
    }
}

@Suite("Merkle questions at their bounds")
struct MerkleBoundsTests {
    @Test("children of levels and nodes a peer may name: 0 … 16^level − 1 answer 16 hashes, anything else is empty")
    func children() {
        var tree = MerkleReplica(depth: 4, digest: fnv1a64)
        tree.set(Key256(.max, 0, 0, 0), [1])
        #expect(tree.children(level: 0, node: 0).count == 16)
        #expect(tree.children(level: 1, node: 1).count == 16)
        #expect(tree.children(level: 3, node: (1 << 12) - 1).count == 16)
        for (level, node) in [(0, 1), (3, 1 << 12), (4, 0), (5, 0), (-1, 0), (0, -1), (Int.max, 0), (1, Int.max), (Int.min, Int.min)] {
            #expect(tree.children(level: level, node: node).isEmpty)
        }
        #expect(tree.items(inLeaf: Int.max).isEmpty && tree.items(inLeaf: -1).isEmpty)
        var ledger = Ledger()
        #expect(ledger.children(level: 2, node: 0).isEmpty)  // depth 2: level 2 is the leaves
        #expect(ledger.children(level: 1, node: 15).count == 16)
    }

    @Test("the walk finds exactly the leaves whose items differ, refuses malformed answers, and asks one question when roots match")
    func walk() {
        var a = MerkleReplica(depth: 3, digest: fnv1a64), b = MerkleReplica(depth: 3, digest: fnv1a64)
        for i in 0..<3000 {
            a.set(MerkleSyncTests.key(i), MerkleSyncTests.value(i))
            b.set(MerkleSyncTests.key(i), MerkleSyncTests.value(i))
        }
        var same = MerkleWalk(depth: 3)
        let rootsMatch = same.answer(remote: [a.root()], local: [b.root()])
        #expect(rootsMatch)
        #expect(same.question == nil && same.differingLeaves.isEmpty && same.questions == 1)

        let changed = [7, 700, 2999]
        for i in changed { b.set(MerkleSyncTests.key(i), MerkleSyncTests.value(i, version: 1)) }
        b.set(MerkleSyncTests.key(5000), MerkleSyncTests.value(5000))
        let expected = Set((changed + [5000]).map { Int(MerkleSyncTests.key($0).words.0 >> (64 - 12)) })
        var walk = MerkleWalk(depth: 3)
        let empty = walk.answer(remote: [], local: [b.root()])
        #expect(!empty, "an empty root answer is malformed")
        while let question = walk.question {
            switch question {
            case .root:
                let taken = walk.answer(remote: [a.root()], local: [b.root()])
                #expect(taken)
            case .children(let level, let node):
                let short = walk.answer(remote: Array(a.children(level: level, node: node).prefix(15)), local: b.children(level: level, node: node))
                #expect(!short, "15 child hashes are malformed")
                let taken = walk.answer(remote: a.children(level: level, node: node), local: b.children(level: level, node: node))
                #expect(taken)
            }
        }
        #expect(Set(walk.differingLeaves) == expected)
        #expect(walk.questions < 1 + 3 * expected.count + 1, "only differing paths are walked")
    }
}
