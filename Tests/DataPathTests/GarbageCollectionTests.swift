// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Testing

@Suite("Pins and garbage collection")
struct GarbageCollectionTests {
    @Test("gc removes exactly what no pinned resource needs")
    func collect() throws {
        let node = try DataPathFixture(erasure: false)
        let pins = try PinSet(folder: node.folder + "/pins")
        var options = ContentStore.Options()
        options.erasure = nil
        let kept = try node.store.putPinned(file: try node.file(3 << 20, seed: 1), pins: pins, options: options)
        let dropped = try node.store.putPinned(file: try node.file(2 << 20, seed: 2), pins: pins, options: options)
        let small = try node.store.putPinned(file: try node.file(1000, seed: 3), pins: pins, options: options)
        #expect(pins.pinned.count == 3)

        #expect(try node.store.collectGarbage(pins: pins).removed == 0)
        #expect(pins.unpin(dropped.id))
        #expect(!pins.unpin(dropped.id))
        let report = try node.store.collectGarbage(pins: pins)
        #expect(report.removed == 3)  // its manifest and two chunks
        #expect(report.bytesFreed > 0)
        #expect(try node.store.verify(kept.id).isHealthy)
        #expect(try node.store.verify(small.id).isHealthy)
        #expect(throws: DataPathError.self) { try node.store.verify(dropped.id) }
    }

    @Test("a pin of a resource that is not stored keeps nothing and breaks nothing")
    func danglingPin() throws {
        let node = try DataPathFixture(erasure: false)
        let pins = try PinSet(folder: node.folder + "/pins")
        try pins.pin(try ContentID("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"))
        var options = ContentStore.Options()
        options.erasure = nil
        _ = try node.store.put(file: try node.file(2 << 20, seed: 4), options: options)  // stored, not pinned
        #expect(try node.store.collectGarbage(pins: pins).removed == 3)
    }
}
