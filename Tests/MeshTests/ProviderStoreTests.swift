// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

@testable import Mesh

@Suite("Provider records")
struct ProviderStoreTests {
    @Test("records expire after their TTL; a republish refreshes them; a key holds a bounded number of providers")
    func expiry() {
        let store = ProviderStore()
        let key = [UInt8](repeating: 7, count: 32), second: UInt64 = 1_000_000_000
        store.add(key, ProviderRecord(member: 1, address: "tcp://127.0.0.1:1", ttl: 10), now: 0)
        store.add(key, ProviderRecord(member: 2, address: "tcp://127.0.0.1:2", ttl: 30), now: 0)
        #expect(store.providers(of: key, now: 5 * second).map(\.member) == [1, 2])
        #expect(store.providers(of: key, now: 11 * second).map(\.member) == [2])
        store.add(key, ProviderRecord(member: 1, address: "tcp://127.0.0.1:1", ttl: 10), now: 11 * second)  // republished
        #expect(store.providers(of: key, now: 15 * second).map(\.member) == [1, 2])
        #expect(store.expire(now: 40 * second) == 2)
        #expect(store.count == 0)
        for member in 0..<100 { store.add(key, ProviderRecord(member: UInt64(member), address: "x", ttl: 60), now: 0) }
        #expect(store.providers(of: key, now: 0).count == ProviderStore.maximumPerKey)
        #expect(store.providers(of: [UInt8](repeating: 8, count: 32), now: 0).isEmpty)
    }
}

/// Provider records, member lists and offers arrive from peers (docs/wire.md, "Values from peers").
@Suite("Mesh payloads at their bounds")
struct MeshPayloadBoundsTests {
    static let key = [UInt8](repeating: 3, count: 32)

    @Test("provider records: TTLs, members 0, 1, max − 1, max and Lamport up to 2^62 decode; larger Lamport times are malformed")
    func providerRecords() {
        for value in [UInt32(0), 1, .max - 1, .max] {
            let record = ProviderRecord(member: UInt64(value) << 32 | UInt64(value), address: "tcp://h:1", ttl: value, lamport: UInt64(value))
            let decoded = ProviderRecord.decode(ProviderRecord.encode(key: Self.key, record)[...])
            #expect(decoded?.record == record && decoded?.key == Self.key && decoded?.rest.isEmpty == true)
        }
        for lamport: UInt64 in [1 << 62, (1 << 62) - 1] {
            #expect(ProviderRecord.decode(ProviderRecord.encode(key: Self.key, ProviderRecord(member: 1, address: "", ttl: 1, lamport: lamport))[...]) != nil)
        }
        for lamport: UInt64 in [(1 << 62) + 1, .max - 1, .max] {
            #expect(ProviderRecord.decode(ProviderRecord.encode(key: Self.key, ProviderRecord(member: 1, address: "", ttl: 1, lamport: lamport))[...]) == nil)
        }
        let full = ProviderRecord.encode(key: Self.key, ProviderRecord(member: 1, address: "abc", ttl: 1))
        #expect(ProviderRecord.decode(full.dropLast()) == nil)
        #expect(ProviderRecord.decode(full[...].prefix(52)) == nil)
    }

    @Test("a TTL of UInt32.max at the end of time saturates the expiry instead of trapping")
    func ttlSaturates() {
        let store = ProviderStore()
        #expect(store.add(Self.key, ProviderRecord(member: 1, address: "a", ttl: .max), now: .max - 1))
        #expect(store.providers(of: Self.key, now: .max - 1).count == 1)
        #expect(store.add(Self.key, ProviderRecord(member: 2, address: "b", ttl: .max, lamport: 1), now: 0))
        #expect(store.providers(of: Self.key, now: UInt64(UInt32.max - 1) * 1_000_000_000).count == 2)
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
