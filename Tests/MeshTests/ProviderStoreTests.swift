// SPDX-License-Identifier: Apache-2.0
import Mesh
import Testing

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
