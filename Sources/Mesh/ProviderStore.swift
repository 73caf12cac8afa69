// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization
import Wire

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

    /// Adds or refreshes a record if it verifies (``ProviderRecord/problem(key:)``): whoever offers it, a record
    /// its node did not sign, or naming a member its key is not, is refused. An older announcement (smaller
    /// Lamport time) than the one kept is ignored. Returns whether anything changed.
    @discardableResult
    public func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64) -> Bool {
        add(key, record, now: now, verified: false)
    }

    /// `verified`: the caller already checked ``ProviderRecord/problem(key:)`` (it is not checked again).
    @discardableResult
    func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64, verified: Bool) -> Bool {
        guard key.count == 32, verified || record.verifies(key: key) else { return false }
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
