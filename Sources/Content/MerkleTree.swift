// SPDX-License-Identifier: Apache-2.0
import Crypto

/// A binary Merkle tree over 32-byte digests (chunk hashes, or the leaves of an anti-entropy tree).
///
/// Leaves and inner nodes are domain-separated (`H(0x00 ‖ leaf)`, `H(0x01 ‖ left ‖ right)`), so a leaf can
/// never be passed off as a node. A level with an odd count promotes its last node unchanged. The root of
/// an empty tree is `H(0x02)`.
public enum MerkleTree {
    public static func root(of leaves: [[UInt8]]) -> [UInt8] {
        guard !leaves.isEmpty else { return Array(SHA256.hash(data: [2])) }
        var level = leaves.map { leaf -> [UInt8] in
            var hasher = SHA256()
            hasher.update(data: [0])
            hasher.update(data: leaf)
            return Array(hasher.finalize())
        }
        while level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            var index = 0
            while index + 1 < level.count {
                var hasher = SHA256()
                hasher.update(data: [1])
                hasher.update(data: level[index])
                hasher.update(data: level[index + 1])
                next.append(Array(hasher.finalize()))
                index += 2
            }
            if index < level.count { next.append(level[index]) }
            level = next
        }
        return level[0]
    }
}
