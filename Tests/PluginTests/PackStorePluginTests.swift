// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

/// The pack chunk store plugin, loaded through the host: records appended to pack files, an index log.
@Suite("Pack chunk store plugin")
struct PackStorePluginTests {
    let folder: String

    init() {
        folder = PluginFixtures.directory.appendingPathComponent("pack-\(UUID().uuidString)").path
    }

    func open(capacityMiB: Int? = nil, packMiB: Int? = nil) throws -> (HostRuntime, Store) {
        var config = ["path": folder]
        if let capacityMiB { config["capacity_mib"] = String(capacityMiB) }
        if let packMiB { config["pack_mib"] = String(packMiB) }
        return try Store.open("InosPackStore", config: config)
    }

    static func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed } }

    /// Bytes a record takes in a pack: 16-byte header, key, payload.
    static func record(_ key: [UInt8], _ payload: Int) -> Int { 16 + key.count + payload }

    var packs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/packs")) ?? []).filter { $0.hasSuffix(".pack") }.sorted()
    }

    func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1 }

    @Test("put, get, idempotent put, remove, stats and list; everything survives a restart")
    func basics() throws {
        let a = Self.bytes(100_000, seed: 1), b = Self.bytes(10, seed: 2)
        do {
            let (host, store) = try open()
            #expect(store.put([1, 2, 3], a).status == INOS_OK)
            #expect(store.put([1, 2, 3], a).status == INOS_OK)  // idempotent: written once
            #expect(store.put([9], b).status == INOS_OK)
            #expect(store.get([1, 2, 3]).bytes == a)
            #expect(store.get([9]).bytes == b)
            #expect(store.stats().chunk_count == 2)
            #expect(store.stats().used_bytes == UInt64(Self.record([1, 2, 3], a.count) + Self.record([9], b.count)))
            #expect(Set(store.list()) == [[1, 2, 3], [9]])
            #expect(store.remove([9]).status == INOS_OK)
            #expect(store.get([9]).status == INOS_ERR_NOT_FOUND)
            #expect(store.remove([9]).status == INOS_ERR_NOT_FOUND)
            #expect(store.stats().chunk_count == 1)
            host.shutdown()
        }
        let (_, store) = try open()
        #expect(store.get([1, 2, 3]).bytes == a)
        #expect(store.get([9]).status == INOS_ERR_NOT_FOUND)  // the removal is in the log
        #expect(store.stats().chunk_count == 1)
        #expect(packs == ["00000001.pack"])
    }

    @Test("a record corrupted or cut short in its pack is reported corrupt and quarantined, the rest stays readable")
    func corruption() throws {
        let good = Self.bytes(5000, seed: 3)
        let pack = folder + "/packs/00000001.pack"
        do {
            let (host, store) = try open()
            for key: UInt8 in 1...3 { #expect(store.put([key], good).status == INOS_OK) }
            // Records are appended in put order: key 1 at 0, key 2 after it, key 3 last.
            var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: pack)))
            bytes[2000] ^= 0xFF
            bytes = Array(bytes.prefix(2 * Self.record([1], 5000) + 3000))  // key 3's record cut short
            try Data(bytes).write(to: URL(fileURLWithPath: pack))

            let flipped = store.get([1])
            #expect(flipped.status == INOS_ERR_CORRUPT)
            #expect(flipped.message.contains("CRC32C mismatch"))
            let cut = store.get([3])
            #expect(cut.status == INOS_ERR_CORRUPT)
            #expect(cut.message.contains("cut short"))
            #expect(store.get([2]).bytes == good)
            #expect(store.get([1]).status == INOS_ERR_NOT_FOUND)  // out of the index, not served again
            #expect(store.stats().quarantined_count == 2)
            #expect(store.stats().chunk_count == 1)
            let kept = try FileManager.default.contentsOfDirectory(atPath: folder + "/quarantine")
            #expect(kept.contains { $0.hasPrefix("01.1.0") })
            host.shutdown()
        }
        let (_, store) = try open()
        #expect(store.get([1]).status == INOS_ERR_NOT_FOUND)
        #expect(store.get([2]).bytes == good)
        #expect(store.stats().quarantined_count == 2)
    }

    @Test("a crash's leftovers — a whole record the log never saw and a torn index entry — are indexed and cleaned up at start")
    func crashLeftovers() throws {
        let a = Self.bytes(3000, seed: 5), b = Self.bytes(4000, seed: 6)
        do {
            let (host, store) = try open()
            #expect(store.put([7], a).status == INOS_OK)
            #expect(store.stage([8], b).status == INOS_OK)  // written, never committed
            host.shutdown()
        }
        let pack = folder + "/packs/00000001.pack"
        #expect(size(pack) == Self.record([7], 3000) + Self.record([8], 4000))
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/index.log"))
        try log.seekToEnd()
        try log.write(contentsOf: Data(repeating: 0xAB, count: 50))  // half an entry
        try log.close()
        do {
            let (host, store) = try open()
            // The staged record is whole (magic, key, CRC): the store finds it again rather than cut it off.
            #expect(size(pack) == Self.record([7], 3000) + Self.record([8], 4000))
            #expect(size(folder + "/index.log") == 2 * 96)  // the torn entry is gone, the found record indexed
            #expect(store.get([7]).bytes == a)
            #expect(store.get([8]).bytes == b)
            host.shutdown()
        }
        // A torn record past the last indexed one is cut off.
        let tail = try FileHandle(forWritingTo: URL(fileURLWithPath: pack))
        try tail.seekToEnd()
        try tail.write(contentsOf: Data(Array(try Data(contentsOf: URL(fileURLWithPath: pack))).prefix(1000)))
        try tail.close()
        let (_, store) = try open()
        #expect(size(pack) == Self.record([7], 3000) + Self.record([8], 4000))
        #expect(store.get([8]).bytes == b)
        #expect(store.put([9], Self.bytes(10, seed: 9)).status == INOS_OK)
        #expect(store.get([9]).bytes == Self.bytes(10, seed: 9))
    }

    @Test("a damaged index entry loses nothing: the index is rebuilt from the packs and the log rewritten")
    func damagedIndexEntry() throws {
        do {
            let (host, store) = try open()
            for key: UInt8 in 1...4 { #expect(store.put([key], Self.bytes(1000, seed: key)).status == INOS_OK) }
            host.shutdown()
        }
        var log = try Array(Data(contentsOf: URL(fileURLWithPath: folder + "/index.log")))
        #expect(log.count == 4 * 96)
        log[96 + 30] ^= 0x01  // entry of key 2
        try Data(log).write(to: URL(fileURLWithPath: folder + "/index.log"))
        let (_, store) = try open()
        for key: UInt8 in 1...4 { #expect(store.get([key]).bytes == Self.bytes(1000, seed: key)) }
        #expect(size(folder + "/index.log") == 4 * 96)
        #expect(store.stats().quarantined_count == 0)
    }

    @Test("a pack deleted by hand: its chunks are reported lost in quarantine/, the others stay readable")
    func missingPack() throws {
        do {
            let (host, store) = try open(packMiB: 1)
            for key: UInt8 in 1...6 { #expect(store.put([key], Self.bytes(300_000, seed: key)).status == INOS_OK) }
            host.shutdown()
        }
        #expect(packs.count == 2)  // 3 records of ~300 KB per 1 MiB pack
        try FileManager.default.removeItem(atPath: folder + "/packs/00000001.pack")
        let (_, store) = try open(packMiB: 1)
        for key: UInt8 in 1...3 { #expect(store.get([key]).status == INOS_ERR_NOT_FOUND) }
        for key: UInt8 in 4...6 { #expect(store.get([key]).bytes == Self.bytes(300_000, seed: key)) }
        #expect(store.stats().quarantined_count == 3)
        let notes = try FileManager.default.contentsOfDirectory(atPath: folder + "/quarantine")
        #expect(notes.filter { $0.hasSuffix(".missing") }.count == 3)
    }

    @Test("removing most of a sealed pack compacts it: live chunks move, the pack file goes, space is returned")
    func compaction() throws {
        let (host, store) = try open(packMiB: 1)
        for key: UInt8 in 1...9 { #expect(store.put([key], Self.bytes(300_000, seed: key)).status == INOS_OK) }
        #expect(packs == ["00000001.pack", "00000002.pack", "00000003.pack"])
        let before = store.stats().used_bytes
        #expect(store.remove([1]).status == INOS_OK)
        #expect(packs.count == 3)  // two thirds still live: kept
        #expect(store.remove([2]).status == INOS_OK)
        #expect(!packs.contains("00000001.pack"))  // one third live: key 3 moved to the newest pack
        #expect(store.get([3]).bytes == Self.bytes(300_000, seed: 3))
        #expect(store.stats().used_bytes == before - UInt64(2 * Self.record([1], 300_000)))
        #expect(store.stats().chunk_count == 7)
        host.shutdown()
        let (_, reopened) = try open(packMiB: 1)
        for key: UInt8 in 3...9 { #expect(reopened.get([key]).bytes == Self.bytes(300_000, seed: key)) }
        #expect(reopened.get([1]).status == INOS_ERR_NOT_FOUND)
        #expect(reopened.stats().chunk_count == 7)
    }

    @Test("staging from several threads at once: every chunk once, duplicates counted once, all readable")
    func concurrentStaging() throws {
        let (host, store) = try open(packMiB: 2)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for i in 0..<50 {
                let key = UInt8(i)  // every worker writes the same 50 keys: only one copy of each is kept
                let status = worker % 2 == 0
                    ? store.stage([key, 0xEE], Self.bytes(20_000 + i, seed: key)).status
                    : store.put([key, 0xEE], Self.bytes(20_000 + i, seed: key)).status
                #expect(status == INOS_OK)
            }
        }
        #expect(store.commit().status == INOS_OK)
        #expect(store.stats().chunk_count == 50)
        for i in 0..<50 { #expect(store.get([UInt8(i), 0xEE]).bytes == Self.bytes(20_000 + i, seed: UInt8(i))) }
        host.shutdown()
        let (_, reopened) = try open(packMiB: 2)
        #expect(reopened.stats().chunk_count == 50)
        #expect(reopened.get([49, 0xEE]).bytes == Self.bytes(20_049, seed: 49))
    }

    @Test("capacity is enforced with INOS_ERR_FULL; a small buffer gets the needed size; bad settings are clear errors")
    func limits() throws {
        let (_, store) = try open(capacityMiB: 1)
        #expect(store.put([1], Self.bytes(700_000, seed: 5)).status == INOS_OK)
        let full = store.put([2], Self.bytes(700_000, seed: 6))
        #expect(full.status == INOS_ERR_FULL)
        #expect(full.message.contains("store full"))
        let small = store.get([1], capacity: 10)
        #expect(small.status == INOS_ERR_BUFFER_TOO_SMALL)
        #expect(small.length == 700_000)
        #expect(store.put([], [1]).status == INOS_ERR_INVALID_ARGUMENT)

        let bad = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosPackStore")), kind: .store,
                                     config: ["path": folder + "-2", "pack_mib": "lots"])]),
            logger: quietLogger)
        let error = #expect(throws: PluginLoadError.self) { try bad.start() }
        #expect(error?.message.contains("pack_mib \"lots\" must be a positive integer") == true)
    }
}
