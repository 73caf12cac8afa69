// SPDX-License-Identifier: Apache-2.0

/// One side's walk down two Merkle trees of the same shape (``MerkleReplica``'s: 16 children per node, `depth`
/// levels), as a state machine with no I/O: it asks questions — the root, a node's children — and is given the
/// remote answer with the local hashes; it descends only where they differ and ends with the differing leaves,
/// whose items the driver then pulls. The simulator drives it between two replicas in memory; a node drives it
/// with MERKLE requests over a session.
///
/// ```swift
/// var walk = MerkleWalk(depth: tree.depth)
/// while let question = walk.question {
///     guard walk.answer(remote: try ask(question), local: localHashes(question)) else { throw malformed }
/// }
/// for leaf in walk.differingLeaves { pull(leaf) }
/// ```
public struct MerkleWalk: Sendable, Equatable {
    public enum Question: Sendable, Equatable {
        case root
        /// The 16 child hashes of `node` at `level` (0 is the root's level).
        case children(level: Int, node: Int)
    }

    public let depth: Int
    /// -1 while the roots are compared; then the level whose nodes are asked about; `depth` when done.
    private var level = -1
    private var nodes: [Int] = [0]
    private var nextLevel: [Int] = []
    private var index = 0
    /// Questions asked so far (the driver's cost).
    public private(set) var questions = 0

    public init(depth: Int) {
        precondition((1...6).contains(depth), "depth 1...6")
        self.depth = depth
    }

    /// The next question, or nil when the walk is over.
    public var question: Question? {
        if level < 0 { return .root }
        guard level < depth, index < nodes.count else { return nil }
        return .children(level: level, node: nodes[index])
    }

    /// The leaves (nodes of level `depth`) whose hashes differ; complete once ``question`` is nil.
    public var differingLeaves: [Int] { question == nil && level == depth ? nodes : [] }

    /// Takes the answer to ``question``: the remote hashes and the local ones for the same node. False when the
    /// remote answer is malformed (a count other than 1 for the root, 16 for children): the walk is not advanced.
    public mutating func answer(remote: [UInt64], local: [UInt64]) -> Bool {
        guard let asked = question else { return false }
        switch asked {
        case .root:
            guard remote.count == 1, local.count == 1 else { return false }
            questions += 1
            if remote[0] == local[0] {
                (level, nodes) = (depth, [])
            } else {
                level = 0
            }
        case .children(_, let node):
            guard remote.count == 16, local.count == 16 else { return false }
            questions += 1
            for child in 0..<16 where remote[child] != local[child] { nextLevel.append(node * 16 + child) }
            index += 1
            if index == nodes.count {
                (level, nodes, nextLevel, index) = (level + 1, nextLevel, [], 0)
                if nodes.isEmpty { level = depth }
            }
        }
        return true
    }
}
