// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Primitives
import Wire

/// A DHT provider record: `member` (reachable at `address`) holds the resource or chunk named by a key.
///
/// Records are self-certified: each carries the announcing node's Ed25519 public key and its signature over
/// ``signedBytes(key:)``, and the key must hash to a node ID whose member ID is `member`. So a record says only
/// what the node it names said, whoever relays it (anti-entropy, FIND_PROVIDERS answers); a member cannot
/// claim that another holds something, or move another's address (docs/security.md, "Self-certified records
/// and caps").
public struct ProviderRecord: Sendable, Equatable {
    public var member: MemberID
    public var address: String
    /// Seconds the record stays valid (at most ``maximumTTL``); the provider republishes well before.
    public var ttl: UInt32
    /// The provider's Lamport time when it announced: a later announcement replaces an earlier one everywhere.
    public var lamport: UInt64
    /// The announcing node's Ed25519 public key (32 bytes); its node ID's first 8 bytes are `member`.
    public var publicKey: [UInt8]
    /// The announcing node's signature (64 bytes) over ``signedBytes(key:)``.
    public var signature: [UInt8]

    /// The longest TTL a record may carry: one day. A record past it is refused, so a record outlives its
    /// provider's last announcement by a day at most at any one node.
    public static let maximumTTL: UInt32 = 86_400
    /// The longest address a record carries, in UTF-8 bytes (a length byte precedes it).
    public static let maximumAddressBytes = 255
    static let domain = Array("inos-provider-v1".utf8)

    /// An unsigned record (tests of the store; it does not verify, so no store or peer accepts it).
    public init(member: MemberID, address: String, ttl: UInt32, lamport: UInt64 = 0, publicKey: [UInt8] = [], signature: [UInt8] = []) {
        self.member = member
        self.address = address
        self.ttl = ttl
        self.lamport = lamport
        self.publicKey = publicKey
        self.signature = signature
    }

    /// `identity`'s announcement that it holds `key`, reachable at `address`: signed, naming its own member ID.
    /// The TTL is capped at ``maximumTTL``; an address over 255 UTF-8 bytes is cut to whole characters.
    public init(signing key: [UInt8], address: String, ttl: UInt32, lamport: UInt64, by identity: NodeIdentity) {
        var address = address
        while address.utf8.count > Self.maximumAddressBytes { address.removeLast() }
        self.init(
            member: Membership.member(identity.id), address: address, ttl: min(ttl, Self.maximumTTL), lamport: min(lamport, WireLimits.maximumLamport),
            publicKey: identity.publicKey)
        signature = identity.sign(signedBytes(key: key))
    }

    /// What the announcing node signs: "inos-provider-v1" ‖ key (32) ‖ member (u64) ‖ address length (u8) ‖
    /// address ‖ TTL (u32) ‖ Lamport (u64).
    public func signedBytes(key: [UInt8]) -> [UInt8] {
        var out = ByteWriter(appendingTo: Self.domain + key)
        out.u64(member)
        out.prefixed(address.utf8.prefix(Self.maximumAddressBytes), as: UInt8.self)
        out.u32(ttl)
        out.u64(lamport)
        return out.bytes
    }

    /// Why this record must not be believed as a provider of `key`, or nil when it verifies: its TTL is at most
    /// a day, its Lamport time within ``WireLimits/maximumLamport``, its public key hashes to a node ID whose
    /// member ID is `member`, and the signature over ``signedBytes(key:)`` is that key's.
    public func problem(key: [UInt8]) -> String? {
        guard key.count == 32 else { return "the key is not 32 bytes" }
        guard ttl <= Self.maximumTTL else { return "TTL \(ttl) s is above \(Self.maximumTTL) s" }
        guard lamport <= WireLimits.maximumLamport else { return "Lamport time above 2^62" }
        guard address.utf8.count <= Self.maximumAddressBytes else { return "address longer than \(Self.maximumAddressBytes) bytes" }
        guard publicKey.count == 32, Membership.member(NodeID(publicKey: publicKey)) == member else {
            return "the public key is not member \(String(member, radix: 16))'s"
        }
        guard NodeIdentity.verify(signature, of: signedBytes(key: key), by: publicKey) else { return "the signature does not verify" }
        return nil
    }

    /// Whether the record verifies as a provider of `key` (``problem(key:)`` is nil).
    public func verifies(key: [UInt8]) -> Bool { problem(key: key) == nil }

    /// Bytes of an encoded record besides its address.
    static let fixedSize = 32 + 8 + 4 + 8 + 1 + 32 + 64

    /// key (32) ‖ member (u64) ‖ ttl (u32) ‖ lamport (u64) ‖ address length (u8) ‖ address ‖ public key (32) ‖
    /// signature (64). A record without a key or signature (unsigned) is sent with zeros there: it does not verify.
    static func encode(key: [UInt8], _ record: ProviderRecord) -> [UInt8] {
        var out = ByteWriter(capacity: fixedSize + record.address.utf8.count)
        out.bytes(key)
        out.u64(record.member)
        out.u32(record.ttl)
        out.u64(record.lamport)
        out.prefixed(record.address.utf8.prefix(maximumAddressBytes), as: UInt8.self)
        out.bytes(record.publicKey.count == 32 ? record.publicKey : [UInt8](repeating: 0, count: 32))
        out.bytes(record.signature.count == 64 ? record.signature : [UInt8](repeating: 0, count: 64))
        return out.bytes
    }

    /// One record and the bytes after it; nil if short or its Lamport time is above
    /// ``WireLimits/maximumLamport`` (docs/wire.md, "Values from peers"). Decoding does not judge the record:
    /// callers check ``problem(key:)`` (the store does on every add) before believing it.
    static func decode(_ bytes: ArraySlice<UInt8>) -> (key: [UInt8], record: ProviderRecord, rest: ArraySlice<UInt8>)? {
        var reader = ByteReader(bytes)
        guard let key = reader.bytes(32), let member = reader.read(UInt64.self), let ttl = reader.read(UInt32.self),
            let lamport = reader.lamport(), let address = reader.prefixed(UInt8.self), let publicKey = reader.bytes(32),
            let signature = reader.bytes(64)
        else { return nil }
        let record = ProviderRecord(
            member: member, address: String(decoding: address, as: UTF8.self), ttl: ttl, lamport: lamport, publicKey: Array(publicKey),
            signature: Array(signature))
        return (Array(key), record, reader.rest())
    }
}

extension ProviderRecord {
    /// What a record says its member has. A *holder* keeps the resource for its owner (repair counts it, billing
    /// pays it); an *edge cache* kept some of it after a read and may drop it any time (reads use it, nothing
    /// else does). A cache's records live under another DHT key, ``cacheKey(of:)``, so no census, bill or
    /// repair ever mistakes a cache for a replica — and the record format stays the same.
    public enum Kind: Sendable, Hashable {
        case holder
        case cache

        /// The DHT key a record of this kind for `key` is announced and looked up under.
        public func recordKey(_ key: [UInt8]) -> [UInt8] { self == .holder ? key : ProviderRecord.cacheKey(of: key) }
    }

    static let cacheDomain = Array("inos-cache-v1".utf8)

    /// Where edge caches of `key` announce themselves: SHA-256("inos-cache-v1" ‖ key), 32 bytes.
    public static func cacheKey(of key: [UInt8]) -> [UInt8] { Sodium.sha256(cacheDomain + key) }
}
