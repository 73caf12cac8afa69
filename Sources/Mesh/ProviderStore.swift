// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization
import Wire

/// A DHT provider record: `member` (reachable at `address`) holds the resource or chunk named by a key.
public struct ProviderRecord: Sendable, Equatable {
    public var member: MemberID
    public var address: String
    /// Seconds the record stays valid; the provider republishes well before.
    public var ttl: UInt32
    /// The provider's Lamport time when it announced: a later announcement replaces an earlier one everywhere.
    public var lamport: UInt64

    public init(member: MemberID, address: String, ttl: UInt32, lamport: UInt64 = 0) {
        self.member = member
        self.address = address
        self.ttl = ttl
        self.lamport = lamport
    }

    /// key (32) ‖ member (u64) ‖ ttl (u32) ‖ lamport (u64) ‖ address length (u8) ‖ address
    static func encode(key: [UInt8], _ record: ProviderRecord) -> [UInt8] {
        var out = key
        withUnsafeBytes(of: record.member.littleEndian) { out += $0 }
        withUnsafeBytes(of: record.ttl.littleEndian) { out += $0 }
        withUnsafeBytes(of: record.lamport.littleEndian) { out += $0 }
        let address = Array(record.address.utf8.prefix(255))
        return out + [UInt8(address.count)] + address
    }

    /// One record and the bytes after it; nil if short or its Lamport time is above
    /// ``WireLimits/maximumLamport`` (docs/wire.md, "Values from peers"). Every TTL is accepted: the expiry
    /// it gives saturates (``ProviderStore/add(_:_:now:)``).
    static func decode(_ bytes: ArraySlice<UInt8>) -> (key: [UInt8], record: ProviderRecord, rest: ArraySlice<UInt8>)? {
        var reader = ByteReader(bytes)
        guard let key = reader.bytes(32), let member = reader.read(UInt64.self), let ttl = reader.read(UInt32.self),
            let lamport = reader.lamport(), let address = reader.prefixed(UInt8.self)
        else { return nil }
        let record = ProviderRecord(member: member, address: String(decoding: address, as: UTF8.self), ttl: ttl, lamport: lamport)
        return (Array(key), record, reader.rest())
    }
}

/// The provider records this node keeps for the keys it is among the closest members to, with expiry (swept
/// by the node's epoch tick), mirrored in a Merkle tree for anti-entropy with other members.
public final class ProviderStore: Sendable {
    private let records = Mutex<[[UInt8]: [MemberID: (record: ProviderRecord, expires: UInt64)]]>([:])
    /// The same records as Merkle items: key = the resource key's first 24 bytes ‖ the member, value = the record.
    let tree = Mutex(MerkleReplica(digest: fnv1a64))

    static func itemKey(_ key: [UInt8], _ member: MemberID) -> Key256 {
        func word(_ i: Int) -> UInt64 { key[(8 * i)..<(8 * i + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        return Key256(word(0), word(1), word(2), member)
    }
    /// Providers kept per key; more are refused (a hostile peer cannot grow the table without bound).
    public static let maximumPerKey = 64

    public init() {}

    /// Adds or refreshes a record; an older announcement (smaller Lamport time) than the one kept is ignored.
    /// Returns whether anything changed.
    @discardableResult
    public func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64) -> Bool {
        guard key.count == 32 else { return false }
        let changed = records.withLock { records -> Bool in
            var entries = records[key, default: [:]]
            guard entries[record.member] != nil || entries.count < Self.maximumPerKey else { return false }
            let kept = entries[record.member]?.record
            if let kept, kept.lamport > record.lamport { return false }
            entries[record.member] = (record, now.saturatingAdd(UInt64(record.ttl) * 1_000_000_000))  // ttl · 10^9 < 2^63; the sum saturates
            records[key] = entries
            return kept != record  // the same announcement again only refreshes its expiry
        }
        if changed { tree.withLock { $0.set(Self.itemKey(key, record.member), ProviderRecord.encode(key: key, record)) } }
        return changed
    }

    public func providers(of key: [UInt8], now: UInt64) -> [ProviderRecord] {
        records.withLock { records in
            (records[key] ?? [:]).values.filter { $0.expires > now }.map(\.record).sorted { $0.member < $1.member }
        }
    }

    /// Drops expired records; returns how many.
    @discardableResult
    public func expire(now: UInt64) -> Int {
        records.withLock { records in
            var dropped = 0
            for (key, entries) in records {
                let live = entries.filter { $0.value.expires > now }
                dropped += entries.count - live.count
                for member in entries.keys where live[member] == nil { tree.withLock { $0.remove(Self.itemKey(key, member)) } }
                records[key] = live.isEmpty ? nil : live
            }
            return dropped
        }
    }

    public var count: Int { records.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}
