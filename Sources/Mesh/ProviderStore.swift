// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives
import Synchronization
import Wire

/// The provider records this node keeps for the keys it is among the closest members to, with expiry (swept
/// by the node's epoch tick), mirrored in a Merkle tree for anti-entropy with other members.
///
/// Only records that verify are kept (``ProviderRecord/problem(key:)``), whoever sent them, and the table is
/// bounded three ways (``Limits``): per key, per announcing member and in all. Over a bound the record with the
/// lowest Lamport time among those the bound covers goes — or the newcomer is refused if it is not later than
/// that one. Nothing here traps on what peers send.
public final class ProviderStore: Sendable {
    /// Bounds on the table (docs/security.md, "Self-certified records and caps").
    public struct Limits: Sendable, Equatable {
        /// Providers kept per key: the 64 latest announcements (by Lamport time). Kademlia keeps k = 20.
        public var perKey = 64
        /// Keys one member may be kept as a provider of.
        public var perMember = 100_000
        /// Records in all: about 1 KiB each here with the Merkle mirror and the indexes, so ≈ 1 GiB at most.
        public var total = 1_000_000
        public init(perKey: Int = 64, perMember: Int = 100_000, total: Int = 1_000_000) {
            self.perKey = max(1, perKey)
            self.perMember = max(1, perMember)
            self.total = max(1, total)
        }
    }

    struct Entry {
        var record: ProviderRecord
        var expires: UInt64
        /// Unique per insertion: tells live eviction-queue items from stale ones.
        var sequence: UInt64
        /// For a withdrawal (TTL 0): the TTL of the record it replaced, so its tombstone lasts as long as relayed
        /// copies of that record can live.
        var withdrawn: UInt32 = 0
    }

    struct Table {
        var records: [[UInt8]: [MemberID: Entry]] = [:]
        /// Keys each member is kept as a provider of.
        var perMember: [MemberID: Int] = [:]
        var count = 0
        var sequence: UInt64 = 0
        /// Records that expired here: their Lamport time, and until when a relayed copy is refused.
        var expired: [Tombstone: (lamport: UInt64, until: UInt64)] = [:]
        /// Every record by (Lamport, sequence), and each member's: what a full table evicts first.
        var oldest = EvictionQueue()
        var oldestOf: [MemberID: EvictionQueue] = [:]

        func isLive(_ item: EvictionQueue.Item) -> Bool { records[item.key]?[item.member]?.sequence == item.sequence }

        /// The live record that goes first: of `member`'s, or of all (nil).
        mutating func oldestLive(of member: MemberID?) -> EvictionQueue.Item? {
            withQueue(of: member) { queue, table in queue.peek(live: table.isLive) }
        }

        /// Drops the stale items of `member`'s queue, or of the queue of all (nil).
        mutating func compact(_ member: MemberID?) {
            withQueue(of: member) { queue, table in queue.compact(live: table.isLive) }
        }

        /// Runs `body` on a queue taken out of the table (so the queue is changed in place, not copied, while the
        /// table is read), then puts it back.
        private mutating func withQueue<R>(of member: MemberID?, _ body: (inout EvictionQueue, Table) -> R) -> R {
            var queue = EvictionQueue()
            if let member { swap(&queue, &oldestOf[member, default: EvictionQueue()]) } else { swap(&queue, &oldest) }
            defer { if let member { oldestOf[member] = queue } else { oldest = queue } }
            return body(&queue, self)
        }
    }

    private let table = Mutex(Table())
    public let limits: Limits
    /// The same records as Merkle items: key = the resource key's first 24 bytes ‖ the member, value = the record.
    /// Changed only under the table's lock (the lock order is table, then tree).
    let tree = Mutex(MerkleReplica(digest: sha256Digest64))

    static func itemKey(_ key: [UInt8], _ member: MemberID) -> Key256 {
        Key256(bigEndian: key, last: member)
    }
    /// Providers kept per key by default.
    public static let maximumPerKey = Limits().perKey

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Adds or refreshes a record if it verifies (``ProviderRecord/problem(key:)``); an older announcement
    /// (smaller Lamport time) than the one kept is ignored, and the bounds of ``limits`` apply. Returns whether
    /// anything changed.
    @discardableResult
    public func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64) -> Bool {
        add(key, record, now: now, verified: false)
    }

    /// `verified`: the caller already checked ``ProviderRecord/problem(key:)`` (it is not checked again) — the
    /// announcer's own PROVIDE, or this node's own announcement. Only those refresh an identical record's expiry
    /// and may bring back a record that expired here: a copy relayed by anti-entropy or a FIND_PROVIDERS answer
    /// does neither, so records of a provider that stopped announcing die out instead of being passed around.
    @discardableResult
    func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64, verified: Bool) -> Bool {
        guard key.count == 32 else { return false }
        let expires = now.saturatingAdd(UInt64(record.ttl) * 1_000_000_000)  // ttl · 10^9 < 2^63; the sum saturates
        let known = table.withLock { table -> Bool? in
            if !verified, let gone = table.expired[Tombstone(key: key, member: record.member)], gone.lamport >= record.lamport, gone.until > now {
                return false  // expired here: only its announcer brings it back
            }
            guard let kept = table.records[key]?[record.member] else { return nil }
            if kept.record == record {
                // The same announcement again: from its announcer, it refreshes the expiry; relayed, it changes nothing.
                if verified { table.records[key]![record.member]!.expires = max(kept.expires, expires) }
                return false
            }
            return kept.record.lamport > record.lamport ? false : nil
        }
        if let known { return known }
        guard verified || record.verifies(key: key) else { return false }
        return table.withLock { table in insert(key, record, expires: expires, into: &table) }
    }

    /// Inserts a verified record, evicting what the bounds require; false if it is refused or not newer.
    private func insert(_ key: [UInt8], _ record: ProviderRecord, expires: UInt64, into table: inout Table) -> Bool {
        let member = record.member
        if let kept = table.records[key]?[member] {
            // A later announcement (or the same Lamport time, as before signatures) replaces the kept one in place.
            guard kept.record.lamport <= record.lamport, kept.record != record else { return false }
            table.sequence += 1
            let withdrawn = record.ttl == 0 ? max(kept.record.ttl, kept.withdrawn) : 0
            table.records[key]![member] = Entry(record: record, expires: expires, sequence: table.sequence, withdrawn: withdrawn)
            enqueue(key, record, sequence: table.sequence, into: &table)
            tree.withLock { $0.set(Self.itemKey(key, member), ProviderRecord.encode(key: key, record)) }
            return true
        }
        // A withdrawal of nothing kept here withdraws nothing: not stored (else any member could fill the table
        // with TTL-0 records, and their tombstones, for keys it never announced).
        guard record.ttl > 0 else { return false }
        // A new (key, member): find what each bound would evict before evicting anything.
        var victims: [(key: [UInt8], member: MemberID)] = []
        if let entries = table.records[key], entries.count >= limits.perKey {
            guard let low = entries.min(by: { ($0.value.record.lamport, $0.value.sequence) < ($1.value.record.lamport, $1.value.sequence) }),
                low.value.record.lamport < record.lamport
            else { return false }
            victims.append((key, low.key))  // another member's record: the member bound below is unaffected
        }
        if table.perMember[member, default: 0] >= limits.perMember {
            guard let low = table.oldestLive(of: member), low.lamport < record.lamport else { return false }
            victims.append((low.key, member))
        }
        if victims.isEmpty, table.count >= limits.total {  // any victim already makes room in all
            guard let low = table.oldestLive(of: nil), low.lamport < record.lamport else { return false }
            victims.append((low.key, low.member))
        }
        for victim in victims { remove(victim.key, victim.member, from: &table) }
        table.sequence += 1
        table.records[key, default: [:]][member] = Entry(record: record, expires: expires, sequence: table.sequence)
        table.perMember[member, default: 0] += 1
        table.count += 1
        enqueue(key, record, sequence: table.sequence, into: &table)
        tree.withLock { $0.set(Self.itemKey(key, member), ProviderRecord.encode(key: key, record)) }
        return true
    }

    private func enqueue(_ key: [UInt8], _ record: ProviderRecord, sequence: UInt64, into table: inout Table) {
        let item = EvictionQueue.Item(lamport: record.lamport, sequence: sequence, key: key, member: record.member)
        table.oldest.push(item)
        table.oldestOf[record.member, default: EvictionQueue()].push(item)
        // Replaced and removed records leave stale items behind: drop them once they are half the queue.
        let live = table.count + 1
        if table.oldest.count > 2 * live + 64 { table.compact(nil) }
        if table.oldestOf[record.member, default: EvictionQueue()].count > 2 * table.perMember[record.member, default: 0] + 64 {
            table.compact(record.member)
        }
    }

    private func remove(_ key: [UInt8], _ member: MemberID, from table: inout Table) {
        guard table.records[key]?.removeValue(forKey: member) != nil else { return }
        if table.records[key]!.isEmpty { table.records[key] = nil }
        table.count -= 1
        let left = table.perMember[member, default: 1] - 1
        table.perMember[member] = left > 0 ? left : nil
        if left <= 0 { table.oldestOf[member] = nil }
        tree.withLock { $0.remove(Self.itemKey(key, member)) }
    }

    public func providers(of key: [UInt8], now: UInt64) -> [ProviderRecord] {
        table.withLock { table in
            (table.records[key] ?? [:]).values.filter { $0.expires > now }.map(\.record).sorted { $0.member < $1.member }
        }
    }

    /// Drops expired records; returns how many.
    @discardableResult
    public func expire(now: UInt64) -> Int {
        table.withLock { table in
            var dropped: [([UInt8], MemberID)] = []
            for (key, entries) in table.records {
                for (member, entry) in entries where entry.expires <= now { dropped.append((key, member)) }
            }
            // Tombstones: a relayed copy of an expired record is refused for one more TTL (bounded like the table);
            // after a withdrawal (TTL 0), for the TTL of the record it withdrew.
            table.expired = table.expired.filter { $0.value.until > now }
            for (key, member) in dropped {
                if let entry = table.records[key]?[member], table.expired.count < limits.total {
                    let ttl = entry.record.ttl == 0 ? entry.withdrawn : entry.record.ttl
                    table.expired[Tombstone(key: key, member: member)] = (entry.record.lamport, now.saturatingAdd(UInt64(ttl) * 1_000_000_000))
                }
                remove(key, member, from: &table)
            }
            if table.oldest.count > 2 * table.count + 64 { table.compact(nil) }
            return dropped.count
        }
    }

    public var count: Int { table.withLock { $0.count } }

    /// Keys `member` is kept as a provider of.
    public func count(of member: MemberID) -> Int { table.withLock { $0.perMember[member, default: 0] } }
}

/// A (resource key, member) whose record expired here.
struct Tombstone: Hashable {
    var key: [UInt8]
    var member: MemberID
}
