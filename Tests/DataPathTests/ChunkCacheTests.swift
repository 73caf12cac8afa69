// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Synchronization
import Testing

@Suite("Edge cache")
struct ChunkCacheTests {
    @Test("segmented LRU: a scripted sequence gives exact evictions; a key read twice survives a one-pass scan that evicts itself")
    func scriptedSequence() {
        // 10 units of capacity; evicting stops at 9 (the low water mark); protected holds at most 8.
        var lru = SegmentedLRU<String>(capacity: 10)
        var evicted = lru.insert("a", bytes: 3) + lru.insert("b", bytes: 3)
        #expect(evicted.isEmpty)
        let touchedA = lru.touch("a")
        #expect(touchedA, "a is read again: protected")
        #expect(lru.isProtected("a") && !lru.isProtected("b"))
        let touchedUnknown = lru.touch("zz")
        #expect(!touchedUnknown, "not tracked")
        evicted = lru.insert("c", bytes: 3)
        #expect(evicted.isEmpty)
        #expect(lru.bytes == 9 && lru.count == 3)
        // A scan: d, e, f read once each. Probation's least recent goes first — b, then c, then the scan itself.
        let scan = ["d", "e", "f"].map { key in lru.insert(key, bytes: 3).map(\.key) }
        #expect(scan == [["b"], ["c"], ["d"]], "\(scan)")
        #expect(lru.contains("a") && lru.isProtected("a"), "the key read twice outlived the scan")
        #expect(lru.bytes == 9)
        // Inserting a tracked key is a read: no eviction, e moves to protected.
        evicted = lru.insert("e", bytes: 3)
        #expect(evicted.isEmpty && lru.isProtected("e"))
        // Protected past its share (8 of 10): its least recent (a) goes back to probation's front.
        let touchedF = lru.touch("f")
        #expect(touchedF)
        #expect(!lru.isProtected("a") && lru.isProtected("e") && lru.isProtected("f"))
        // A key larger than the whole cache is not taken, and moves nothing else.
        let flood = lru.insert("huge", bytes: 11)
        #expect(flood.map(\.key) == ["huge"], "\(flood.map(\.key))")
        #expect(lru.bytes == 9 && lru.count == 3 && !lru.contains("huge"))
        // The next insert pushes out probation's least recent: a, demoted above.
        evicted = lru.insert("h", bytes: 3)
        #expect(evicted.map(\.key) == ["a"] && lru.bytes == 9 && lru.isProtected("e") && lru.isProtected("f"))
        lru.remove("h")
        lru.remove("nothing")
        lru.remove("e")
        #expect(lru.count == 1 && lru.bytes == 3 && !lru.contains("e"))
        evicted = lru.insert("g", bytes: 2)
        #expect(evicted.isEmpty && lru.count == 2 && lru.bytes == 5)
    }

    @Test("the cache counts hits, misses and evictions exactly, removes evicted objects from the store, and never one a pinned resource needs")
    func evictsOnlyUnneeded() throws {
        let node = try DataPathFixture(erasure: false)
        let pins = try PinSet(folder: node.folder + "/pins")
        var options = ContentStore.Options()
        options.erasure = nil
        // Three unpinned one-chunk resources stand for chunks a gateway fetched; one pinned resource is held.
        let fetched = try (1...3).map { seed in try node.store.put(file: try node.file(100_000, seed: UInt64(seed)), options: options) }
        let held = try node.store.putPinned(file: try node.file(100_000, seed: 9), pins: pins, options: options)
        func size(_ id: ContentID) throws -> UInt64 { UInt64(try #require(try node.store.storedObject(id)).count) }
        let unit = try size(fetched[0].id)
        // Room for about two and a half objects.
        let cache = ChunkCache(capacity: unit * 5 / 2, store: node.store, pins: pins)
        #expect(cache.fetched(fetched[0].id, bytes: try size(fetched[0].id), nanoseconds: 4_000).isEmpty)
        cache.served(fetched[0].id, nanoseconds: 1_000)
        #expect(cache.fetched(fetched[1].id, bytes: try size(fetched[1].id), nanoseconds: 4_000).isEmpty)
        // The held resource's object, read through the gateway, counts as a miss and is tracked — but eviction keeps it.
        let heldRemoved = cache.fetched(held.id, bytes: try size(held.id), nanoseconds: 3_000)
        #expect(heldRemoved == [fetched[1].id], "probation's least recent unneeded object goes; got \(heldRemoved)")
        #expect(!node.store.contains(fetched[1].id))
        let next = cache.fetched(fetched[2].id, bytes: try size(fetched[2].id), nanoseconds: 4_000)
        #expect(next.isEmpty, "the least recent was the held object: forgotten by the cache, kept in the store")
        #expect(node.store.contains(held.id))
        #expect(try node.store.verify(held.id).isHealthy)
        #expect(node.store.contains(fetched[0].id) && node.store.contains(fetched[2].id))
        let stats = cache.statistics
        #expect(stats.hits == 1 && stats.misses == 4 && stats.evictions == 2, "\(stats)")
        let kept = try size(fetched[0].id) + size(fetched[2].id)
        #expect(stats.entries == 2 && stats.bytes == kept, "\(stats)")
        #expect(stats.hitRate == 0.2)
        #expect(abs(stats.averageLatencySeconds - 16e-6 / 5) < 1e-12)

        // At start, a new cache adopts what earlier reads left (unpinned) up to its bound.
        let restarted = ChunkCache(capacity: unit * 5 / 2, store: node.store, pins: pins)
        let (adopted, left) = try restarted.adopt()
        #expect(adopted == 2 && left == 0, "adopted \(adopted), left \(left)")
    }

    @Test("roots are announced when cached and withdrawn when evicted (also when a pin keeps their bytes); reads are counted by where they came from")
    func rootsAndSources() throws {
        let node = try DataPathFixture(erasure: false)
        let pins = try PinSet(folder: node.folder + "/pins")
        var options = ContentStore.Options()
        options.erasure = nil
        let objects = try (1...3).map { seed in try node.store.put(file: try node.file(100_000, seed: UInt64(seed)), options: options) }
        func size(_ id: ContentID) throws -> UInt64 { UInt64(try #require(try node.store.storedObject(id)).count) }
        let unit = try size(objects[0].id)
        // Room for two and a half objects.
        let cache = ChunkCache(capacity: unit * 5 / 2, store: node.store, pins: pins)
        let changes = Mutex<[ChunkCache.Change]>([])
        cache.observe { change in changes.withLock { $0.append(change) } }
        // A root fetched from a near holder, a chunk (not a root) from a far one, a local hit on the chunk.
        cache.fetched(objects[0].id, bytes: try size(objects[0].id), contentBytes: 100_000, nanoseconds: 1, root: true, near: true)
        cache.fetched(objects[1].id, bytes: try size(objects[1].id), contentBytes: 100_000, nanoseconds: 1, root: false, near: false)
        cache.served(objects[1].id, contentBytes: 100_000, nanoseconds: 1)
        #expect(changes.withLock { $0 } == [.cached(objects[0].id)])
        #expect(cache.roots == [objects[0].id])
        // The same root again is a read, not a second announcement.
        cache.fetched(objects[0].id, bytes: try size(objects[0].id), contentBytes: 0, nanoseconds: 1, root: true, near: true)
        #expect(changes.withLock { $0 }.count == 1)
        // Pinned meanwhile (a put): when the bound pushes it out, the store keeps its bytes but the cache no
        // longer answers for it.
        try pins.pin(objects[0].id)
        cache.served(objects[0].id, nanoseconds: 1)  // both now protected (2 of 2.5 units)
        cache.fetched(objects[2].id, bytes: try size(objects[2].id), contentBytes: 100_000, nanoseconds: 1, root: true, near: false)
        cache.served(objects[2].id, nanoseconds: 1)  // protected overflows: its least recent (object 1) is demoted
        let more = try node.store.put(file: try node.file(150_000, seed: 77), options: options)
        cache.fetched(more.id, bytes: try size(more.id), contentBytes: 0, nanoseconds: 1)
        let seen = changes.withLock { $0 }
        #expect(seen.contains(.cached(objects[2].id)), "\(seen)")
        if seen.contains(.evicted(objects[0].id)) {
            #expect(node.store.contains(objects[0].id), "a pinned resource's bytes stay")
            #expect(!cache.roots.contains(objects[0].id))
        }
        #expect(Set(cache.roots) == Set(seen.compactMap { if case .cached(let id) = $0, !seen.contains(.evicted(id)) { id } else { nil } }))
        let stats = cache.statistics
        #expect(stats.localBytes == 100_000 && stats.regionBytes == 100_000 && stats.remoteBytes == 200_000, "\(stats)")
        // Evicting a root tells the observer, whatever kept it.
        let small = ChunkCache(capacity: unit * 3 / 2, store: node.store, pins: pins)
        let told = Mutex<[ChunkCache.Change]>([])
        small.observe { change in told.withLock { $0.append(change) } }
        small.fetched(objects[0].id, bytes: unit, nanoseconds: 1, root: true)
        small.fetched(objects[2].id, bytes: unit, nanoseconds: 1, root: true)
        #expect(told.withLock { $0 } == [.cached(objects[0].id), .cached(objects[2].id), .evicted(objects[0].id)])
        #expect(small.roots == [objects[2].id] && node.store.contains(objects[0].id))
        // A root larger than the whole cache is never announced.
        let tiny = ChunkCache(capacity: unit / 2, store: node.store, pins: pins)
        let none = Mutex(0)
        tiny.observe { _ in none.withLock { $0 += 1 } }
        tiny.fetched(objects[1].id, bytes: unit, nanoseconds: 1, root: true)
        #expect(none.withLock { $0 } == 0 && tiny.roots.isEmpty)
    }
}
