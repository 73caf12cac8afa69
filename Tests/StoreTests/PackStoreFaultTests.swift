// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosStoreKit
import InosSystem
import PluginABI
import Testing
@testable import InosPackStore

/// The pack store under a lost or damaged index, and under failing reads, writes and syncs injected through the
/// syscall layer's fault hook.
@Suite("Pack store: lost index and disk faults")
struct PackStoreFaultTests {
    let scratch = ScratchFolder("faults")
    var root: String { scratch.path + "/store" }

    func open(packLimit: UInt64 = 1 << 20) throws -> PackStore {
        try PackStore(root: root, capacity: 1 << 40, packLimit: packLimit, lanes: 1)
    }

    /// Puts `count` chunks of `size` bytes and closes the store.
    func fill(_ count: Int, size: Int) throws {
        let store = try open()
        for i in 0..<count { try store.put(key(i), chunkBytes(size, seed: UInt8(i))) }
    }

    func expectAll(_ store: PackStore, _ count: Int, size: Int) {
        for i in 0..<count { #expect((try? store.read(key(i)).get()) == chunkBytes(size, seed: UInt8(i)), "chunk \(i)") }
    }

    @Test("a deleted index.log loses nothing: the index is rebuilt from the packs, no pack is deleted")
    func lostIndex() throws {
        try fill(9, size: 300_000)
        let packs = scratch.packs(root)
        #expect(packs.count == 3)
        try FileManager.default.removeItem(atPath: root + "/index.log")
        let store = try open()
        #expect(store.recovery.rebuilt)
        #expect(store.recovery.recoveredRecords == 9)
        #expect(store.recovery.deletedPacks == 0)
        #expect(scratch.packs(root) == packs)
        expectAll(store, 9, size: 300_000)
        #expect(scratch.size(root + "/index.log") == 9 * PackFormat.entrySize)  // rewritten
    }

    @Test("an emptied index.log loses nothing either, and the next start finds nothing to do")
    func emptiedIndex() throws {
        try fill(5, size: 200_000)
        #expect(truncate(root + "/index.log", 0) == 0)
        do {
            let store = try open()
            #expect(store.recovery.recoveredRecords == 5)
            expectAll(store, 5, size: 200_000)
        }
        let again = try open()
        #expect(again.recovery == PackStore.Recovery())
        expectAll(again, 5, size: 200_000)
    }

    @Test("damage inside the log (not a torn tail) rebuilds from the packs: the damaged entry's chunk is found again")
    func damagedInside() throws {
        try fill(4, size: 1000)
        var log = try Array(Data(contentsOf: URL(fileURLWithPath: root + "/index.log")))
        log[PackFormat.entrySize + 30] ^= 0x01  // the second entry
        try Data(log).write(to: URL(fileURLWithPath: root + "/index.log"))
        let store = try open()
        #expect(store.recovery.rebuilt)
        #expect(store.recovery.damagedEntries == 1)
        #expect(store.recovery.recoveredRecords == 1)
        expectAll(store, 4, size: 1000)
    }

    @Test("removed chunks stay removed when the log is intact; a record torn mid-pack hides no whole record after it")
    func removalsAndTornRecords() throws {
        do {
            let store = try open()
            for i in 0..<4 { try store.put(key(i), chunkBytes(5000, seed: UInt8(i))) }
            try store.remove(key(3))  // the last record: the tail scan must not bring it back
        }
        // Simulate a crash's leftovers past the last indexed record: a torn record, then a whole unindexed one.
        let pack = root + "/packs/" + scratch.packs(root)[0]
        let whole = try Array(Data(contentsOf: URL(fileURLWithPath: pack)))
        let record = 16 + 3 + 5000
        var grown = whole
        grown += Array(whole[0..<(record / 2)])  // half of record 0: torn
        grown += Array(whole[record..<(2 * record)])  // record 1 again: a whole record the log never saw
        try Data(grown).write(to: URL(fileURLWithPath: pack))
        let store = try open()
        #expect(store.read(key(3)).failure?.code.rawValue == INOS_ERR_NOT_FOUND)
        #expect(store.recovery.recoveredRecords == 0)  // the copy of record 1 is a duplicate
        #expect(scratch.size(pack) == 3 * record)  // cut back after the last needed record (key 3 is removed)
        for i in 0..<3 { #expect((try? store.read(key(i)).get()) == chunkBytes(5000, seed: UInt8(i))) }
    }

    @Test("a transient read error (EIO) is reported as INOS_ERR_IO and does not drop the chunk")
    func transientReadError() throws {
        #expect(SystemFaults.isAvailable)
        try fill(2, size: 4000)
        let store = try open()
        let failure = SystemFaults.withFaults([SystemFault([.read], errno: EIO, path: ".pack", times: 1)]) { _ in
            store.read(key(0)).failure
        }
        #expect(failure?.code.rawValue == INOS_ERR_IO)
        #expect(failure?.detail == UInt64(EIO))
        #expect(store.statistics().quarantined == 0)
        #expect(store.keys.contains(key(0)))
        #expect((try? store.read(key(0)).get()) == chunkBytes(4000, seed: 0))  // the next read works
    }

    @Test("a full disk (ENOSPC) is INOS_ERR_FULL, and the failed write's reservation is released")
    func noSpace() throws {
        let store = try open()
        try store.put(key(0), chunkBytes(10_000, seed: 0))
        let before = store.statistics()
        let pack = root + "/packs/" + scratch.packs(root)[0]
        let failure = SystemFaults.withFaults([SystemFault([.write], errno: ENOSPC, path: ".pack")]) { _ -> StoreError? in
            do throws(StoreError) { try store.put(key(1), chunkBytes(10_000, seed: 1)) } catch { return error }
            return nil
        }
        #expect(failure?.code.rawValue == INOS_ERR_FULL)
        #expect(failure?.detail == UInt64(ENOSPC))
        #expect(store.statistics() == before)
        #expect(scratch.size(pack) == 16 + 3 + 10_000)
        try store.put(key(1), chunkBytes(10_000, seed: 1))  // space again: the put works
        #expect((try? store.read(key(1)).get()) == chunkBytes(10_000, seed: 1))
        #expect(store.statistics().used == 2 * UInt64(16 + 3 + 10_000))
    }

    @Test("ENOSPC on the index log is INOS_ERR_FULL too; the chunk is not visible, and the store recovers")
    func noSpaceOnTheLog() throws {
        let store = try open()
        try store.put(key(0), chunkBytes(1000, seed: 0))
        let failure = SystemFaults.withFaults([SystemFault([.write], errno: ENOSPC, path: "index.log", times: 1)]) { _ -> StoreError? in
            do throws(StoreError) { try store.put(key(1), chunkBytes(1000, seed: 1)) } catch { return error }
            return nil
        }
        #expect(failure?.code.rawValue == INOS_ERR_FULL)
        #expect(store.read(key(1)).failure?.code.rawValue == INOS_ERR_NOT_FOUND)
        try store.put(key(2), chunkBytes(1000, seed: 2))
        for i in [0, 2] { #expect((try? store.read(key(i)).get()) == chunkBytes(1000, seed: UInt8(i))) }
    }

    @Test("a failed pack fdatasync fails the put and seals the pack: later chunks go to a new pack; all survive a restart")
    func failedPackSync() throws {
        do {
            let store = try open()
            try store.put(key(0), chunkBytes(2000, seed: 0))
            let failure = SystemFaults.withFaults([SystemFault([.sync], errno: EIO, path: ".pack", times: 1)]) { faults -> StoreError? in
                defer { #expect(faults.injected == 1) }
                do throws(StoreError) { try store.put(key(1), chunkBytes(2000, seed: 1)) } catch { return error }
                return nil
            }
            #expect(failure?.code.rawValue == INOS_ERR_IO)
            #expect(store.read(key(1)).failure?.code.rawValue == INOS_ERR_NOT_FOUND)
            try store.put(key(2), chunkBytes(2000, seed: 2))
            #expect(scratch.packs(root).count == 2)  // key 2 was not appended to the pack whose sync failed
        }
        let store = try open()
        for i in [0, 2] { #expect((try? store.read(key(i)).get()) == chunkBytes(2000, seed: UInt8(i))) }
    }

    @Test("a failed index fdatasync: the log is rewritten before the next append, and every acknowledged chunk survives")
    func failedLogSync() throws {
        do {
            let store = try open()
            try store.put(key(0), chunkBytes(700, seed: 0))
            _ = SystemFaults.withFaults([SystemFault([.sync], errno: EIO, path: "index.log", times: 1)]) { _ -> StoreError? in
                do throws(StoreError) { try store.put(key(1), chunkBytes(700, seed: 1)) } catch { return error }
                return nil
            }
            let events = SystemFaults.withFaults(recording: true) { faults in
                try? store.put(key(2), chunkBytes(700, seed: 2))
                return faults.events
            }
            #expect(events.contains { if case .renamed(_, let to) = $0 { to.hasSuffix("/index.log") } else { false } })
        }
        let store = try open()
        for i in [0, 2] { #expect((try? store.read(key(i)).get()) == chunkBytes(700, seed: UInt8(i))) }
    }

    @Test("creating index.log and a pack makes their names durable: the folder is synced before any entry counts")
    func namesAreDurable() throws {
        let events = try SystemFaults.withFaults(recording: true) { faults in
            let store = try open()
            try store.put(key(0), chunkBytes(100, seed: 0))
            return faults.events
        }
        var directories: [Int32: String] = [:]
        var order: [String] = []
        for event in events {
            switch event {
            case .opened(let fd, let path, let created, _, let directory):
                if directory { directories[fd] = path }
                if created && !directory { order.append("create " + path) }
            case .synced(let fd): if let path = directories[fd] { order.append("sync " + path) }
            case .wrote(let fd, _, _): order.append("write \(fd)")
            default: break
            }
        }
        let createLog = try #require(order.firstIndex(of: "create \(root)/index.log"))
        #expect(order[createLog...].contains("sync \(root)"))
        let createPack = try #require(order.firstIndex { $0.hasPrefix("create \(root)/packs/") })
        let syncPacks = try #require(order.firstIndex(of: "sync \(root)/packs"))
        #expect(createPack < syncPacks)
    }
}
