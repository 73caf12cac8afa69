// SPDX-License-Identifier: Apache-2.0
import Content

/// A node's identity on the mesh: the SHA-256 of its Ed25519 public key — 256 bits in the same space as
/// content hashes, so Kademlia's XOR distance works between nodes and content alike.
///
/// Text form: `n` followed by the 32 bytes in lowercase base32 (53 characters), e.g. `nq7...`.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// The ID of the node holding `publicKey` (32-byte Ed25519).
    public init(publicKey: [UInt8]) {
        precondition(publicKey.count == 32, "an Ed25519 public key has 32 bytes")
        bytes = Sodium.sha256(publicKey)
    }

    /// Parses the text form; nil for anything else.
    public init?(_ text: String) {
        guard text.first == "n", let decoded = Base32.decode(text.dropFirst()), decoded.count == 32 else { return nil }
        bytes = decoded
    }

    public var description: String { "n" + Base32.encode(bytes) }

    public static func < (a: NodeID, b: NodeID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// Kademlia distance: the bytewise XOR of two IDs, compared as a big-endian number.
    public func distance(to other: NodeID) -> [UInt8] { zip(bytes, other.bytes).map { $0 ^ $1 } }
}
