// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosStoreKit
import InosSystem
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
}
