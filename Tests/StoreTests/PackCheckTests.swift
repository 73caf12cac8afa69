// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosStoreKit
import InosSystem
import Primitives
import Testing
@testable import InosPackStore

/// `inos store fsck`'s check and repair, on a store's folder.
@Suite("Pack store: offline check and repair")
struct PackCheckTests {
    let scratch = ScratchFolder("fsck")
    var root: String { scratch.path + "/store" }

    func fill(_ count: Int) throws {
        let store = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        for i in 0..<count { try store.put(key(i), chunkBytes(250_000, seed: UInt8(i))) }
    }

    @Test("a clean store checks clean; a lost log is reported, rebuilt by repair, and the store then starts with nothing to do")
    func lostLogRepaired() throws {
        try fill(6)
        #expect(try PackCheck.run(root: root, repair: false).clean)
        try FileManager.default.removeItem(atPath: root + "/index.log")
        let found = try PackCheck.run(root: root, repair: false)
        #expect(!found.clean && !found.repaired)
        #expect(found.unindexedRecords == 6)
        #expect(!sysExists(root + "/index.log"))  // a check alone changes nothing
        let repaired = try PackCheck.run(root: root, repair: true)
        #expect(repaired.repaired && repaired.chunks == 6)
        #expect(try PackCheck.run(root: root, repair: false).clean)
        let store = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        #expect(store.recovery == PackStore.Recovery())
        for i in 0..<6 { #expect((try? store.read(key(i)).get()) == chunkBytes(250_000, seed: UInt8(i))) }
    }

    @Test("a flipped payload byte is reported as a broken entry and damaged bytes; repair drops only that chunk")
    func corruptRecord() throws {
        try fill(3)
        let pack = root + "/packs/" + scratch.packs(root)[0]
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: pack)))
        bytes[16 + 3 + 1000] ^= 0xFF  // inside the first record's payload
        try Data(bytes).write(to: URL(fileURLWithPath: pack))
        let report = try PackCheck.run(root: root, repair: true)
        #expect(report.brokenEntries == [key(0).hex])
        #expect(report.damagedBytes == UInt64(16 + 3 + 250_000))
        #expect(report.chunks == 2)
        let store = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        #expect(store.read(key(0)).failure != nil)
        for i in 1..<3 { #expect((try? store.read(key(i)).get()) == chunkBytes(250_000, seed: UInt8(i))) }
    }

    @Test("fsck refuses while the store is open, reads and changes nothing, and runs once the store is closed")
    func refusedWhileOpen() throws {
        try fill(2)
        try FileManager.default.removeItem(atPath: root + "/index.log")
        var store: PackStore? = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        let log = try Data(contentsOf: URL(fileURLWithPath: root + "/index.log"))  // the open store rebuilt it
        for repair in [false, true] {
            #expect {
                _ = try PackCheck.run(root: root, repair: repair)
            } throws: { error in
                guard let error = error as? InosError, error.code == StoreFolderLock.inUse else { return false }
                return error.message.contains("is in use: it is open, by pid \(getpid()) (")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/index.log")) == log)
        _ = store
        store = nil
        #expect(try PackCheck.run(root: root, repair: false).clean)
    }

    @Test("a store does not open while fsck holds its folder; two openers share it, as a node and a client may")
    func openRefusedDuringCheck() throws {
        try fill(1)
        do {
            let check = try StoreFolderLock(root: root, exclusive: true)
            #expect {
                _ = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
            } throws: { error in
                (error as? StoreError)?.message.contains("is being checked or repaired (inos store fsck)") == true
            }
            _ = consume check
        }
        let first = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        let second = try PackStore(root: root, capacity: 1 << 40, packLimit: 1 << 20, lanes: 1)
        #expect((try? first.read(key(0)).get()) == (try? second.read(key(0)).get()))
    }
}
