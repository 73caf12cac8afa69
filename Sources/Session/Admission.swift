// SPDX-License-Identifier: Apache-2.0
import CSodium
import Identity

/// A mesh key: a 32-byte secret shared by every member of a mesh (like a libp2p private network's PSK or
/// Serf's keyring). Only holders complete the session handshake with a keyed node.
///
/// The key itself never leaves the node: the handshake proves possession with MACs under a key derived from
/// it, and logs show only ``id``, a short fingerprint.
public struct MeshKey: Sendable, Hashable, CustomStringConvertible {
    /// The size of a mesh key, in bytes.
    public static let size = 32

    /// The secret. Write it only to a key file (mode 0600).
    package let bytes: [UInt8]
    /// The key the handshake's proofs are MACs under: BLAKE2b-256("inos-mesh-admission-v1") keyed with the secret.
    let proofKey: [UInt8]
    /// The fingerprint: 16 hex digits of BLAKE2b("inos-mesh-key-id-v1") keyed with the secret. Safe to print;
    /// it tells nothing about the key.
    public let id: String

    /// A key from its 32 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        Sodium.ensureReady()
        self.bytes = bytes
        proofKey = Handshake.hash(Array("inos-mesh-admission-v1".utf8), key: bytes)
        id = Handshake.hash(Array("inos-mesh-key-id-v1".utf8), length: 16, key: bytes).prefix(8)
            .map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// A new random key (libsodium's `randombytes_buf`).
    public static func generate() -> MeshKey { MeshKey(bytes: Sodium.random(size))! }

    /// "mesh key <id>": never the secret.
    public var description: String { "mesh key \(id)" }

    /// A MAC of `bytes` under this key's proof key (keyed BLAKE2b-256).
    func proof(_ bytes: [UInt8]) -> [UInt8] { Handshake.hash(bytes, key: proofKey) }
}

/// Who may complete a session handshake with this node: the mesh keys it holds and an optional allowlist of
/// node IDs. ``open`` (no key, no list) is the open mesh: any node may join, and the handshake is the keyless
/// one, byte for byte.
public struct Admission: Sendable, Hashable {
    /// The mesh keys, in order: the first is the one this node proves with when it initiates; every one is
    /// accepted when it responds. A rolling key switch: add the new key everywhere second, then make it first
    /// everywhere, then remove the old one.
    public var keys: [MeshKey]
    /// When set, the only nodes a handshake completes with (both directions).
    public var allowed: Set<NodeID>?

    public init(keys: [MeshKey] = [], allowed: Set<NodeID>? = nil) {
        self.keys = keys
        self.allowed = allowed
    }

    /// No key and no allowlist: any node may join.
    public static let open = Admission()

    /// True without a mesh key: the keyless handshake.
    public var isOpen: Bool { keys.isEmpty }

    /// The key this node proves with when it initiates.
    public var primary: MeshKey? { keys.first }
}
