// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives

/// Merkle anti-entropy (MerkleWalk, MerkleReplica): MERKLE answers fed into a walk against a replica, and a
/// peer's questions fed into the replica.
///
/// Input: mode (u8) ‖ depth (u8, 1…3) ‖ local items (a record of 9-byte items: key prefix u64 ‖ value byte) ‖
/// then, by mode: 0 — remote items (a record): both replicas honest, the walk must find exactly the leaves
/// that differ and ``MerkleReplica/synchronize(_:_:merge:)`` must make the roots equal; 1 — every record is a
/// MERKLE_REPLY body (u64 hashes) answering the walk's next question: it must end within the tree's node
/// count, refuse malformed answers and name only leaves that exist; 2 — records of questions (level ‖ node,
/// any i64) into the replica: an answer has 16 hashes or none.
enum MerkleTarget {
    /// A MERKLE_REPLY body: little-endian u64 hashes (a trailing partial hash is ignored, as the service does).
    static func hashes(_ payload: [UInt8]) -> [UInt64] {
        var reader = ByteReader(payload), out: [UInt64] = []
        while let hash = reader.read(UInt64.self) { out.append(hash) }
        return out
    }

    static func replica(depth: Int, _ bytes: [UInt8]) -> MerkleReplica {
        var replica = MerkleReplica(depth: depth, digest: sha256Digest64)
        var items = FuzzInput(bytes)
        while items.remaining >= 9 {
            let prefix = items.integer(UInt64.self)
            replica.set(Key256(prefix, 0, 0, UInt64(items.remaining)), [items.byte()])
        }
        return replica
    }

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let mode = input.byte() % 3
        let depth = 1 + Int(input.byte() % 3)
        var local = replica(depth: depth, input.record() ?? [])
        let leaves = 1 << (4 * depth)
        switch mode {
        case 0:
            var remote = replica(depth: depth, input.record() ?? [])
            var walk = MerkleWalk(depth: depth)
            while let question = walk.question {
                let answered: Bool
                switch question {
                case .root: answered = walk.answer(remote: [remote.root()], local: [local.root()])
                case .children(let level, let node): answered = walk.answer(remote: remote.children(level: level, node: node), local: local.children(level: level, node: node))
                }
                require(answered, "an honest answer was refused")
            }
            let differing = Set(walk.differingLeaves)
            let parents = 1 << (4 * (depth - 1))
            var expected: Set<Int> = []
            for parent in 0..<parents {
                let theirs = remote.children(level: depth - 1, node: parent), mine = local.children(level: depth - 1, node: parent)
                for child in 0..<16 where theirs[child] != mine[child] { expected.insert(parent * 16 + child) }
            }
            // Equal leaf hashes under differing inner hashes cannot happen; differing leaves under an equal
            // root can only be a hash collision — which the fuzzer found for fnv1a64's sums (Fuzz/Regressions/
            // merkle), so the target uses the node's digest, SHA-256.
            require(local.root() == remote.root() ? differing.isEmpty : differing == expected, "the walk found \(differing.sorted()), not the differing leaves \(expected.sorted())")
            _ = MerkleReplica.synchronize(&remote, &local)
            require(remote.root() == local.root(), "after synchronize the roots differ")
            require(remote.items == local.items, "after synchronize the items differ")
        case 1:
            var walk = MerkleWalk(depth: depth)
            let bound = 1 + (0..<depth).reduce(0) { $0 + (1 << (4 * $1)) }
            while let question = walk.question, let reply = input.record() {
                let remote = hashes(reply)
                let localHashes: [UInt64]
                switch question {
                case .root: localHashes = [local.root()]
                case .children(let level, let node):
                    require((0..<depth).contains(level) && (0..<(1 << (4 * level))).contains(node), "the walk asked about a node that does not exist")
                    localHashes = local.children(level: level, node: node)
                }
                let before = walk.questions
                let accepted = walk.answer(remote: remote, local: localHashes)
                require(accepted == (remote.count == localHashes.count), "the walk judged an answer of \(remote.count) hashes wrongly")
                require(walk.questions == before + (accepted ? 1 : 0), "a refused answer advanced the walk")
                require(walk.questions <= bound, "the walk asked more questions than the tree has nodes")
            }
            let differing = walk.differingLeaves
            require(Set(differing).count == differing.count && differing.allSatisfy { (0..<leaves).contains($0) }, "the walk named leaves that do not exist")
        default:
            while let question = input.record() {
                var fields = FuzzInput(question)
                let level = Int(truncatingIfNeeded: fields.integer(UInt64.self)), node = Int(truncatingIfNeeded: fields.integer(UInt64.self))
                let answer = local.children(level: level, node: node)
                require(answer.isEmpty || answer.count == 16, "children(level:node:) answered \(answer.count) hashes")
                require(answer.isEmpty == !((0..<depth).contains(level) && node >= 0 && node < 1 << (4 * max(0, min(level, depth)))), "children(level:node:) answered a node that does not exist, or not one that does")
                _ = local.items(inLeaf: node)
            }
        }
    }
}
