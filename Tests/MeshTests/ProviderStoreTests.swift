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
        store.add(key, Self.record(first, key, ttl: 10), now: 11 * second)  // republished
        #expect(store.providers(of: key, now: 15 * second).map(\.member) == members)
        #expect(store.expire(now: 40 * second) == 2)
        #expect(store.count == 0)
        for _ in 0..<100 { store.add(key, Self.record(.ephemeral(), key), now: 0) }
        #expect(store.providers(of: key, now: 0).count == ProviderStore.maximumPerKey)
        #expect(store.providers(of: Self.key(8), now: 0).isEmpty)
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
        let status = NodeStatus(load: 1, capacityBytes: .max, freeBytes: 0, region: .max)
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
