// SPDX-License-Identifier: Apache-2.0
import Crypto
import Primitives

/// Merkle anti-entropy over a node's mesh metadata (manifests it tracks, provider records, ledger entries):
/// each replica keeps a fixed-shape tree over the key space — 16 children per node, `depth` levels, leaves
/// by key prefix — and two replicas compare roots, walk down only where hashes differ, and then exchange only
/// the items of differing leaves. As in Cassandra's and Dynamo's anti-entropy, the work grows with the
/// difference, not with the data.
///
/// Hashes are 8 bytes (a digest of the item's key and value, combined up the tree); `digest` is supplied
/// by the caller — SHA-256 in the node, anything fast in the simulator.
public struct MerkleReplica: Sendable {
    public let depth: Int
    public let digest: @Sendable ([UInt8]) -> UInt64
    /// key → value
    public private(set) var items: [Key256: [UInt8]] = [:]
    /// levels[l][i]: hash of node i at level l (level 0 is the root, level `depth` the leaves).
    private var levels: [[UInt64]]
    /// The whole tree is to be computed (at first use): items change only `items` until then.
    private var unbuilt = true
    /// Leaves whose sum changed since the inner nodes were last computed: only their paths to the root are
    /// recomputed (a node's root was read for every gossiped root it received, and rebuilding all 4,369 inner
    /// nodes and every item's hash each time was a tenth of a 30-node mesh's CPU while repair changed records).
    private var dirtyLeaves: Set<Int> = []

    public init(depth: Int = 4, digest: @escaping @Sendable ([UInt8]) -> UInt64) {
        precondition((1...6).contains(depth), "depth 1...6 (16^6 leaves at most)")
        self.depth = depth
        self.digest = digest
        levels = (0...depth).map { Array(repeating: 0, count: 1 << (4 * $0)) }
    }

    public mutating func set(_ key: Key256, _ value: [UInt8]) {
        let old = items.updateValue(value, forKey: key)
        guard !unbuilt, old != value else { return }
        let leaf = leaf(of: key)
        if let old { levels[depth][leaf] &-= itemHash(key, old) }
        levels[depth][leaf] &+= itemHash(key, value)
        dirtyLeaves.insert(leaf)
    }

    public mutating func remove(_ key: Key256) {
        guard let old = items.removeValue(forKey: key), !unbuilt else { return }
        let leaf = leaf(of: key)
        levels[depth][leaf] &-= itemHash(key, old)
        dirtyLeaves.insert(leaf)
    }

    /// The leaf of a key: its top 4·depth bits.
    func leaf(of key: Key256) -> Int { Int(key.words.0 >> UInt64(64 - 4 * depth)) }

    private func itemHash(_ key: Key256, _ value: [UInt8]) -> UInt64 {
        var bytes = ByteWriter(capacity: 32 + value.count)
        key.write(to: &bytes)
        bytes.bytes(value)
        return digest(bytes.bytes)
    }

    /// Brings the tree up to date (leaves: the sum of their items' hashes, so order does not matter and an item
    /// changes its leaf by one subtraction and one addition; inner nodes: a digest of their 16 children). The
    /// first time, everything; after that, the paths from the leaves that changed to the root.
    private mutating func rebuild() {
        if unbuilt {
            levels[depth] = Array(repeating: 0, count: 1 << (4 * depth))
            for (key, value) in items { levels[depth][leaf(of: key)] &+= itemHash(key, value) }
            for level in stride(from: depth - 1, through: 0, by: -1) {
                for node in 0..<(1 << (4 * level)) { levels[level][node] = innerHash(level, node) }
            }
            unbuilt = false
            dirtyLeaves.removeAll()
            return
        }
        guard !dirtyLeaves.isEmpty else { return }
        var nodes = Set(dirtyLeaves.map { $0 >> 4 })
        for level in stride(from: depth - 1, through: 0, by: -1) {
            for node in nodes { levels[level][node] = innerHash(level, node) }
            nodes = Set(nodes.map { $0 >> 4 })
        }
        dirtyLeaves.removeAll()
    }

    /// The digest of inner node `node` at `level`: its 16 children's hashes, big-endian, in order.
    private func innerHash(_ level: Int, _ node: Int) -> UInt64 {
        var bytes = ByteWriter(capacity: 128)
        for child in 0..<16 { bytes.bigEndian(levels[level + 1][node * 16 + child]) }
        return digest(bytes.bytes)
    }

    public mutating func root() -> UInt64 {
        rebuild()
        return levels[0][0]
    }

    /// The hashes of a node's 16 children (what a replica sends when asked about a differing node); empty when
    /// there is no such inner node (`level` outside 0..<depth, `node` outside 0..<16^level — a peer's question
    /// may name any).
    public mutating func children(level: Int, node: Int) -> [UInt64] {
        guard (0..<depth).contains(level), (0..<(1 << (4 * level))).contains(node) else { return [] }
        rebuild()
        return (0..<16).map { levels[level + 1][node * 16 + $0] }
    }

    /// The items of a leaf.
    public func items(inLeaf leaf: Int) -> [(Key256, [UInt8])] {
        items.filter { self.leaf(of: $0.key) == leaf }.map { ($0.key, $0.value) }
    }

    /// Everything the two replicas would send each other to converge, and the bytes it took.
    public struct SyncReport: Sendable {
        /// Bytes exchanged while walking the trees: per differing node, one side's 16 child hashes (8 bytes each)
        /// and the other side's answer, a 2-byte bit set of the children that differ.
        public var treeBytes = 0
        /// Bytes of item digests exchanged for differing leaves (32-byte key + 8-byte hash per item).
        public var digestBytes = 0
        /// Bytes of items transferred (key + value), both directions.
        public var itemBytes = 0
        public var differingLeaves = 0
        public var itemsTransferred = 0
        public var total: Int { treeBytes + digestBytes + itemBytes }
    }

    /// Anti-entropy between two replicas: compare roots, walk the differing subtrees, exchange digests of the
    /// differing leaves, then transfer only items one side lacks or holds differently. Both replicas end equal
    /// (for a key both hold with different values, `merge` decides, e.g. the later Lamport stamp wins).
    public static func synchronize(
        _ a: inout MerkleReplica, _ b: inout MerkleReplica,
        merge: ([UInt8], [UInt8]) -> [UInt8] = { x, y in x.lexicographicallyPrecedes(y) ? y : x }
    ) -> SyncReport {
        precondition(a.depth == b.depth)
        var report = SyncReport()
        report.treeBytes += 16  // the two roots
        // b walks a's tree (the same walk a node drives over MERKLE requests).
        var walk = MerkleWalk(depth: a.depth)
        while let question = walk.question {
            switch question {
            case .root:
                _ = walk.answer(remote: [a.root()], local: [b.root()])
            case .children(let level, let node):
                report.treeBytes += 16 * 8 + 2
                _ = walk.answer(remote: a.children(level: level, node: node), local: b.children(level: level, node: node))
            }
        }
        let differing = walk.differingLeaves
        report.differingLeaves = differing.count
        for leaf in differing {
            let left = Dictionary(uniqueKeysWithValues: a.items(inLeaf: leaf)), right = Dictionary(uniqueKeysWithValues: b.items(inLeaf: leaf))
            report.digestBytes += (left.count + right.count) * 40
            for (key, value) in left where right[key] != value {
                let merged = right[key].map { merge(value, $0) } ?? value
                if right[key] != merged {
                    b.set(key, merged)
                    report.itemBytes += 32 + merged.count
                    report.itemsTransferred += 1
                }
                if merged != value {
                    a.set(key, merged)
                    report.itemBytes += 32 + merged.count
                    report.itemsTransferred += 1
                }
            }
            for (key, value) in right where left[key] == nil {
                a.set(key, value)
                report.itemBytes += 32 + value.count
                report.itemsTransferred += 1
            }
        }
        return report
    }
}

/// The first 8 bytes of SHA-256, big-endian: the digest of the node's trees (provider records, the ledger), whose
/// items peers choose. A fuzzer found two sets of items whose FNV-1a sums collide within minutes (Fuzz/Regressions/
/// merkle): with it, a peer could make two replicas look equal while they differ.
public func sha256Digest64(_ bytes: [UInt8]) -> UInt64 {
    SHA256.hash(data: bytes).withUnsafeBytes { digest in digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
}

/// FNV-1a, 64-bit: a fast digest for simulations (never for items a peer chooses: ``sha256Digest64``).
public func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return hash
}
