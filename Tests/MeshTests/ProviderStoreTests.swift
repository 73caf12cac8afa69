// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Testing

@testable import Mesh

@Suite("Provider records")
struct ProviderStoreTests {
    static let second: UInt64 = 1_000_000_000
    static func key(_ n: UInt8) -> [UInt8] { [UInt8](repeating: n, count: 32) }
    static func record(_ identity: NodeIdentity, _ key: [UInt8], address: String = "tcp://127.0.0.1:1", ttl: UInt32 = 60, lamport: UInt64 = 1) -> ProviderRecord {
        ProviderRecord(signing: key, address: address, ttl: ttl, lamport: lamport, by: identity)
    }

    @Test("records expire after their TTL; a republish refreshes them; a key holds a bounded number of providers")
    func expiry() {
        let store = ProviderStore()
        let key = Self.key(7), second = Self.second
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let (first, other) = Membership.member(a.id) < Membership.member(b.id) ? (a, b) : (b, a)
        store.add(key, Self.record(first, key, ttl: 10), now: 0)
        store.add(key, Self.record(other, key, ttl: 30), now: 0)
        let members = [Membership.member(first.id), Membership.member(other.id)]
        #expect(store.providers(of: key, now: 5 * second).map(\.member) == members)
        #expect(store.providers(of: key, now: 11 * second).map(\.member) == [members[1]])
        // The same record relayed (anti-entropy, a lookup answer) does not refresh it; from its announcer it does.
        store.add(key, Self.record(first, key, ttl: 10), now: 11 * second)
        #expect(store.providers(of: key, now: 15 * second).map(\.member) == [members[1]], "a relayed copy keeps nothing alive")
        store.add(key, Self.record(first, key, ttl: 10), now: 11 * second, verified: true)  // its announcer's PROVIDE
        #expect(store.providers(of: key, now: 15 * second).map(\.member) == members)
        #expect(store.expire(now: 40 * second) == 2)
        // Expired here, a relayed copy of it is refused for one more TTL; a newer announcement is not.
        #expect(!store.add(key, Self.record(first, key, ttl: 10), now: 41 * second), "a dead provider's record is not passed back")
        #expect(store.add(key, Self.record(first, key, ttl: 10, lamport: 2), now: 41 * second), "a newer announcement is")
        #expect(store.expire(now: 100 * second) == 1)
        #expect(store.count == 0)
        for _ in 0..<100 { store.add(key, Self.record(.ephemeral(), key), now: 0) }
        #expect(store.providers(of: key, now: 0).count == ProviderStore.maximumPerKey)
        #expect(store.providers(of: Self.key(8), now: 0).isEmpty)
    }

    @Test("a withdrawal (a newer record with TTL 0) hides the record at once, relayed copies of the old one stay refused for its TTL, a withdrawal of nothing is not kept")
    func withdrawal() {
        let store = ProviderStore()
        let key = ProviderRecord.cacheKey(of: Self.key(3)), second = Self.second
        #expect(key != Self.key(3) && key.count == 32 && ProviderRecord.Kind.holder.recordKey(Self.key(3)) == Self.key(3))
        let cache = NodeIdentity.ephemeral()
        store.add(key, Self.record(cache, key, ttl: 300, lamport: 5), now: 0, verified: true)
        #expect(store.providers(of: key, now: second).count == 1)
        #expect(store.add(key, Self.record(cache, key, ttl: 0, lamport: 6), now: 2 * second, verified: true))
        #expect(store.providers(of: key, now: 2 * second).isEmpty, "withdrawn at once")
        #expect(store.expire(now: 3 * second) == 1)
        // Anti-entropy offers the old record again within the withdrawn record's 300 s: refused.
        #expect(!store.add(key, Self.record(cache, key, ttl: 300, lamport: 5), now: 10 * second))
        #expect(!store.add(key, Self.record(cache, key, ttl: 300, lamport: 5), now: 290 * second))
        #expect(store.providers(of: key, now: 290 * second).isEmpty)
        // The cache reads the resource again: its new announcement is taken.
        #expect(store.add(key, Self.record(cache, key, ttl: 300, lamport: 7), now: 301 * second, verified: true))
        #expect(store.providers(of: key, now: 302 * second).count == 1)
        // A withdrawal of a record never kept here is not stored: no flood of TTL-0 records or tombstones.
        let stranger = NodeIdentity.ephemeral()
        let before = store.count
        for n in 0..<100 {
            let other = ProviderRecord.cacheKey(of: Self.key(UInt8(n)))
            #expect(!store.add(other, Self.record(stranger, other, ttl: 0, lamport: 9), now: 400 * second, verified: true))
        }
        #expect(store.count == before)
    }

    @Test("holders are ranked healthy, then in this node's region, then by round trip; without a region all are near")
    func holderRoutes() {
        let statuses: [MemberID: NodeStatus] = [
            1: NodeStatus(load: 0.1, capacityBytes: 1, freeBytes: 1, regionName: "eu"),
            2: NodeStatus(load: 0.9, capacityBytes: 1, freeBytes: 1, regionName: "us"),
            3: NodeStatus(load: 0.2, capacityBytes: 1, freeBytes: 1, regionName: "us"),
            4: NodeStatus(load: 0.2, capacityBytes: 1, freeBytes: 1, regionName: "us"),
        ]
        let rtts: [MemberID: Double] = [1: 100, 2: 50, 3: 5_000, 4: 900]
        let ranked = HolderRoute.ranked([1, 2, 3, 4, 5], statuses: statuses, rtts: rtts, region: "us")
        #expect(ranked.map(\.member) == [4, 3, 1, 5, 2], "\(ranked)")
        #expect(ranked.map(\.near) == [true, true, false, false, true])
        let flat = HolderRoute.ranked([1, 2, 3, 4, 5], statuses: statuses, rtts: rtts, region: "")
        #expect(flat.map(\.member) == [1, 4, 3, 5, 2], "\(flat)")
    }

    @Test("a record signed by its node verifies; a changed address, TTL, Lamport time, member or key does not")
    func signatures() {
        let a = NodeIdentity.ephemeral(), key = Self.key(1)
        let record = Self.record(a, key, address: "tcp://10.0.0.1:7400", ttl: 600, lamport: 5)
        #expect(record.problem(key: key) == nil)
        #expect(record.member == Membership.member(a.id) && record.publicKey == a.publicKey)
        var address = record
        address.address = "tcp://10.6.6.6:7400"
        var ttl = record
        ttl.ttl = 601
        var lamport = record
        lamport.lamport = 6
        var member = record
        member.member ^= 1
        for changed in [address, ttl, lamport, member] {
            #expect(changed.problem(key: key) != nil)
            #expect(!ProviderStore().add(key, changed, now: 0))
        }
        #expect(record.problem(key: Self.key(2)) != nil, "signed for another key")
        #expect(ProviderStore().add(key, record, now: 0))
        // Through the encoding: a relayed record keeps its signature.
        let decoded = ProviderRecord.decode(ProviderRecord.encode(key: key, record)[...])
        #expect(decoded?.record == record && decoded?.record.problem(key: key) == nil)
        // Unsigned records (no key, no signature) never verify.
        #expect(ProviderRecord(member: record.member, address: "x", ttl: 1).problem(key: key) != nil)
    }

    @Test("a record carrying B's key but naming A is refused, even signed by B; so is a TTL over a day")
    func impersonation() {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), key = Self.key(3)
        var forged = ProviderRecord(member: Membership.member(a.id), address: "tcp://evil:1", ttl: 60, lamport: 9, publicKey: b.publicKey)
        forged.signature = b.sign(forged.signedBytes(key: key))  // a good signature, by the wrong node
        #expect(NodeIdentity.verify(forged.signature, of: forged.signedBytes(key: key), by: b.publicKey))
        #expect(forged.problem(key: key) != nil)
        let store = ProviderStore()
        #expect(!store.add(key, forged, now: 0) && store.count == 0)
        var long = ProviderRecord(member: Membership.member(a.id), address: "tcp://a:1", ttl: ProviderRecord.maximumTTL + 1, lamport: 1, publicKey: a.publicKey)
        long.signature = a.sign(long.signedBytes(key: key))
        #expect(long.problem(key: key) != nil && !store.add(key, long, now: 0))
        #expect(Self.record(a, key, ttl: .max).ttl == ProviderRecord.maximumTTL, "the signer caps its TTL")
    }

    @Test("a full key keeps its latest providers: a newcomer older than all is refused, a later one evicts the oldest")
    func perKeyBound() {
        let store = ProviderStore(limits: .init(perKey: 3)), key = Self.key(4)
        let nodes = (0..<5).map { _ in NodeIdentity.ephemeral() }
        for (i, node) in nodes.prefix(3).enumerated() { #expect(store.add(key, Self.record(node, key, lamport: UInt64(10 + i)), now: 0)) }
        #expect(!store.add(key, Self.record(nodes[3], key, lamport: 10), now: 0), "not later than the oldest kept")
        #expect(store.add(key, Self.record(nodes[3], key, lamport: 11), now: 0))
        let kept = Set(store.providers(of: key, now: 0).map(\.member))
        #expect(kept == Set([nodes[1], nodes[2], nodes[3]].map { Membership.member($0.id) }))
        // A kept provider's later announcement replaces its own record: nothing else goes.
        #expect(store.add(key, Self.record(nodes[1], key, address: "tcp://moved:1", lamport: 50), now: 0))
        #expect(store.providers(of: key, now: 0).count == 3 && store.count == 3)
        #expect(store.add(key, Self.record(nodes[4], key, lamport: 12), now: 0))  // evicts nodes[3] (11), not nodes[1] (now 50)
        #expect(Set(store.providers(of: key, now: 0).map(\.member)) == Set([nodes[1], nodes[2], nodes[4]].map { Membership.member($0.id) }))
    }

    @Test("one member is kept for a bounded number of keys: its oldest announcement goes first, stale queue items are skipped")
    func perMemberBound() {
        let store = ProviderStore(limits: .init(perMember: 4)), node = NodeIdentity.ephemeral(), member = Membership.member(node.id)
        for n in 0..<4 { #expect(store.add(Self.key(UInt8(n)), Self.record(node, Self.key(UInt8(n)), lamport: UInt64(n + 1)), now: 0)) }
        // Key 0 is re-announced later: its old queue item is stale, so key 1 is now the oldest.
        #expect(store.add(Self.key(0), Self.record(node, Self.key(0), lamport: 20), now: 0))
        #expect(store.add(Self.key(9), Self.record(node, Self.key(9), lamport: 21), now: 0))
        #expect(store.count(of: member) == 4)
        #expect(store.providers(of: Self.key(1), now: 0).isEmpty)
        #expect(store.providers(of: Self.key(0), now: 0).count == 1)
        #expect(!store.add(Self.key(10), Self.record(node, Self.key(10), lamport: 1), now: 0), "older than all it has")
        // Another member is not affected by this one's bound.
        #expect(store.add(Self.key(10), Self.record(.ephemeral(), Self.key(10)), now: 0))
        #expect(store.count == 5)
        // Many replacements leave stale items; the bound still evicts the right record.
        for lamport in 30..<400 { store.add(Self.key(9), Self.record(node, Self.key(9), lamport: UInt64(lamport)), now: 0) }
        #expect(store.add(Self.key(11), Self.record(node, Self.key(11), lamport: 500), now: 0))
        #expect(store.providers(of: Self.key(2), now: 0).isEmpty && store.providers(of: Self.key(9), now: 0).first?.lamport == 399)
        #expect(store.count(of: member) == 4)
    }

    @Test("the table holds a bounded number of records in all: the lowest Lamport time goes, expired and evicted records leave the Merkle tree")
    func totalBound() {
        let store = ProviderStore(limits: .init(total: 4))
        let nodes = (0..<7).map { _ in NodeIdentity.ephemeral() }
        for n in 0..<4 { #expect(store.add(Self.key(UInt8(n)), Self.record(nodes[n], Self.key(UInt8(n)), lamport: UInt64(n + 10)), now: 0)) }
        #expect(!store.add(Self.key(8), Self.record(nodes[4], Self.key(8), lamport: 10), now: 0))
        #expect(store.add(Self.key(8), Self.record(nodes[4], Self.key(8), lamport: 11), now: 0))
        #expect(store.count == 4 && store.providers(of: Self.key(0), now: 0).isEmpty)
        #expect(store.tree.withLock { $0.items.count } == 4)
        #expect(store.add(Self.key(9), Self.record(nodes[5], Self.key(9), ttl: 1, lamport: 99), now: 0))  // evicts key 1 (11)
        #expect(store.providers(of: Self.key(1), now: 0).isEmpty)
        #expect(store.expire(now: 2 * Self.second) == 1, "key 9's record lives one second")
        #expect(store.count == 3 && store.tree.withLock { $0.items.count } == 3)
        #expect(!store.add(Self.key(9), Self.record(nodes[5], Self.key(9), lamport: 1), now: 0), "expired here: an older relayed copy is refused")
        #expect(store.add(Self.key(9), Self.record(nodes[6], Self.key(9), lamport: 1), now: 0), "room again: even an old record fits")
        #expect(store.expire(now: 3600 * Self.second) == 4)
        #expect(store.count == 0 && store.tree.withLock { $0.items.isEmpty })
        #expect(ProviderStore.Limits() == ProviderStore.Limits(perKey: 64, perMember: 100_000, total: 1_000_000))
    }
}

/// Provider records, member lists and offers arrive from peers (docs/wire.md, "Values from peers").
@Suite("Mesh payloads at their bounds")
struct MeshPayloadBoundsTests {
    static let key = [UInt8](repeating: 3, count: 32)

    @Test("provider records: TTLs, members 0, 1, max − 1, max and Lamport up to 2^62 decode; larger Lamport times are malformed")
    func providerRecords() {
        let publicKey = [UInt8](repeating: 5, count: 32), signature = [UInt8](repeating: 6, count: 64)
        func record(member: MemberID = 1, address: String = "", ttl: UInt32 = 1, lamport: UInt64 = 0) -> ProviderRecord {
            ProviderRecord(member: member, address: address, ttl: ttl, lamport: lamport, publicKey: publicKey, signature: signature)
        }
        for value in [UInt32(0), 1, .max - 1, .max] {
            let original = record(member: UInt64(value) << 32 | UInt64(value), address: "tcp://h:1", ttl: value, lamport: UInt64(value))
            let decoded = ProviderRecord.decode(ProviderRecord.encode(key: Self.key, original)[...])
            #expect(decoded?.record == original && decoded?.key == Self.key && decoded?.rest.isEmpty == true)
        }
        for lamport: UInt64 in [1 << 62, (1 << 62) - 1] {
            #expect(ProviderRecord.decode(ProviderRecord.encode(key: Self.key, record(lamport: lamport))[...]) != nil)
        }
        for lamport: UInt64 in [(1 << 62) + 1, .max - 1, .max] {
            #expect(ProviderRecord.decode(ProviderRecord.encode(key: Self.key, record(lamport: lamport))[...]) == nil)
        }
        let full = ProviderRecord.encode(key: Self.key, record(address: "abc"))
        #expect(full.count == ProviderRecord.fixedSize + 3)
        #expect(ProviderRecord.decode(full.dropLast()) == nil)
        #expect(ProviderRecord.decode(full[...].prefix(52)) == nil)
        #expect(ProviderRecord.decode(full[...].prefix(ProviderRecord.fixedSize - 64 + 3)) == nil, "a record without its signature")
    }

    @Test("a TTL of a day at the end of time saturates the expiry instead of trapping")
    func ttlSaturates() {
        let store = ProviderStore()
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), day = ProviderRecord.maximumTTL
        #expect(store.add(Self.key, ProviderRecord(signing: Self.key, address: "a", ttl: day, lamport: 0, by: a), now: .max - 1))
        #expect(store.providers(of: Self.key, now: .max - 1).count == 1)
        #expect(store.add(Self.key, ProviderRecord(signing: Self.key, address: "b", ttl: day, lamport: 1, by: b), now: 0))
        #expect(store.providers(of: Self.key, now: UInt64(day - 1) * 1_000_000_000).count == 2)
    }

    @Test("member lists: a status flag other than 0 or 1, or lengths past the bytes, are malformed; members 0 … max round-trip")
    func memberLists() {
        let status = NodeStatus(load: 1, capacityBytes: .max, freeBytes: 0, regionName: String(repeating: "z", count: NodeStatus.maximumRegionName))
        let list = [MemberID(0), 1, .max - 1, .max].map { MemberInfo(member: $0, address: "tcp://x:\($0 % 100)", status: $0 % 2 == 0 ? status : nil) }
        let bytes = MemberInfo.encodeList(list)
        #expect(MemberInfo.decodeList(bytes[...]) == list)
        #expect(MemberInfo.decodeList([][...]) == [])
        for cut in 1..<bytes.count where MemberInfo.decodeList(bytes.prefix(cut)) != nil {
            // Only a cut between two whole entries decodes.
            #expect(MemberInfo.decodeList(bytes.prefix(cut))?.count ?? 0 < list.count)
        }
        let one = MemberInfo.encodeList([MemberInfo(member: 1, address: "", status: nil)])
        #expect(MemberInfo.decodeList((one.dropLast() + [2])[...]) == nil)
        #expect(MemberInfo.decodeList(([1, 0, 0, 0, 0, 0, 0, 0, 255, 0])[...]) == nil)
    }

    @Test("offers: targets 0 … max round-trip; an address length that disagrees with the bytes is malformed")
    func offers() {
        for target in [MemberID(0), 1, .max - 1, .max] {
            let offer = MeshGossip.Offer(target: target, address: String(repeating: "a", count: Int(target % 256)))
            #expect(MeshGossip.Offer(decoding: offer.encoded) == offer)
        }
        let offer = MeshGossip.Offer(target: 1, address: "ab").encoded
        #expect(MeshGossip.Offer(decoding: offer + [0]) == nil)
        #expect(MeshGossip.Offer(decoding: Array(offer.dropLast())) == nil)
        #expect(MeshGossip.Offer(decoding: Array(offer.prefix(8))) == nil)
    }
}
