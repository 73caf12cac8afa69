// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Synchronization
import Testing

/// Hot swap under load: requests flow inbox → workers → plugin → outbox while a control thread keeps
/// swapping the plugin for new builds (distinct files). Every request must be answered exactly once, by a
/// live plugin, and the answers must come from more than one plugin generation.
@Suite("Hot swap")
struct HotSwapTests {
    static let requestType: Int32 = 7
    static let resultType: Int32 = 8

    @Test("no request is lost or duplicated across repeated swaps under load")
    func swapUnderLoad() throws {
        let requests = 20_000
        let swaps = 8
        let builds = try (0...swaps).map { try PluginFixtures.build(.working, fileName: "libswap_\($0).so") }
        let host = try HostRuntime(
            manifest: Manifest(
                nodeName: "swap", arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 256 << 10),
                plugins: [PluginSpec(location: .path(builds[0]), config: ["tag": "g0", "delay_us": "20"], explicitSlot: "codec")]),
            logger: quietLogger)
        try host.start()
        let slot = try #require(host.slot("codec"))

        let producerDone = Atomic<Bool>(false)
        let workersDone = Atomic<Int>(0)
        let failures = Mutex<[String]>([])

        // Producer: request ids into the inbox, retrying on backpressure.
        let producer = Thread {
            for id in 0..<requests {
                var value = UInt64(id)
                while withUnsafeBytes(of: &value, { host.inbox.push(type: Self.requestType, $0) }).rawValue == INOS_ERR_FULL {
                    sched_yield()
                }
            }
            producerDone.store(true, ordering: .releasing)
        }
        // Two workers: take a request, call the active plugin outside any ring lock, post the answer.
        func worker() -> Thread {
            Thread {
                var buffer = [UInt8](repeating: 0, count: 64)
                var type: Int32 = 0
                var length: UInt32 = 0
                while true {
                    let status = buffer.withUnsafeMutableBytes { host.inbox.pop(into: $0, type: &type, length: &length) }
                    if status.rawValue == INOS_ERR_NOT_FOUND {
                        if producerDone.load(ordering: .acquiring) && host.arena.inbox.usedBytes == 0 { break }
                        sched_yield()
                        continue
                    }
                    let request = Array(buffer[0..<Int(length)])
                    let answer = slot.withActive { plugin -> [UInt8]? in
                        let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
                        var output = [UInt8](repeating: 0, count: 64)
                        var written: UInt64 = 0
                        var error = inos_error()
                        let status = codec.compress(plugin.instance, request, UInt64(request.count), &output, 64, &written, &error)
                        guard status == INOS_OK else {
                            failures.withLock { $0.append("plugin \(plugin.id) returned \(status)") }
                            return nil
                        }
                        return Array(output[0..<Int(written)])
                    }
                    guard let answer = answer ?? nil else { continue }
                    while answer.withUnsafeBytes({ host.outbox.push(type: Self.resultType, $0) }).rawValue == INOS_ERR_FULL {
                        sched_yield()
                    }
                }
                workersDone.wrappingAdd(1, ordering: .releasing)
            }
        }
        let workers = [worker(), worker()]

        producer.start()
        workers.forEach { $0.start() }
        // Swap while the load runs; each swap waits for in-flight calls on the old build.
        for generation in 1...swaps {
            usleep(30_000)
            try host.swap(
                slot: "codec",
                to: PluginSpec(location: .path(builds[generation]), config: ["tag": "g\(generation)", "delay_us": "20"]))
        }

        // Collect answers until both workers finished and the outbox is empty.
        var seen = [Int](repeating: 0, count: requests)
        var generations: Set<String> = []
        while workersDone.load(ordering: .acquiring) < 2 || host.arena.outbox.usedBytes > 0 {
            let drained = host.outbox.drain { type, bytes in
                #expect(type == Self.resultType)
                let id = Int(bytes.loadUnaligned(as: UInt64.self))
                let tagLength = Int(bytes[bytes.count - 1])
                generations.insert(String(decoding: bytes[8..<8 + tagLength], as: UTF8.self))
                seen[id] += 1
            }
            if drained == 0 { usleep(100) }
        }

        #expect(failures.withLock { $0 } == [])
        #expect(seen.allSatisfy { $0 == 1 }, "lost: \(seen.filter { $0 == 0 }.count), duplicated: \(seen.filter { $0 > 1 }.count)")
        #expect(generations.count >= 3, "answers came from \(generations.sorted())")
        #expect(slot.generation == swaps + 1)
        // Every replaced build was drained and retired; the images stay mapped (never dlclose'd).
        let history = host.pluginHistory
        #expect(history.count == swaps + 1)
        #expect(history.dropLast().allSatisfy { $0.state == .retired && $0.callsInFlight == 0 })
        #expect(history.last?.state == .active)
        host.shutdown()
        #expect(host.pluginHistory.allSatisfy { $0.state == .retired })
    }

    @Test("reloading a manifest swaps changed slots, keeps unchanged ones, removes dropped ones")
    func manifestReload() throws {
        let a = try PluginFixtures.build(.working, id: "test.a", fileName: "libreload_a.so")
        let b = try PluginFixtures.build(.working, id: "test.b", fileName: "libreload_b.so")
        let c = try PluginFixtures.build(.working, id: "test.c", fileName: "libreload_c.so")
        let small = ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10)
        let host = try HostRuntime(
            manifest: Manifest(arena: small, plugins: [
                PluginSpec(location: .path(a), config: ["tag": "a1"], explicitSlot: "x"),
                PluginSpec(location: .path(b), config: ["tag": "b1"], explicitSlot: "y"),
            ]), logger: quietLogger)
        try host.start()
        let keptY = host.slot("y")?.active

        let report = try host.reload(
            Manifest(arena: small, plugins: [
                PluginSpec(location: .path(a), config: ["tag": "a2"], explicitSlot: "x"),  // config changed → swap
                PluginSpec(location: .path(b), config: ["tag": "b1"], explicitSlot: "y"),  // unchanged → kept
                PluginSpec(location: .path(c), config: ["tag": "c1"], explicitSlot: "z"),  // new
            ]))
        #expect(report.swapped == ["x"])
        #expect(report.loaded.keys.sorted() == ["x", "z"])
        #expect(host.slot("y")?.active === keptY)
        #expect(try FixtureCodec(host.slot("x")!).roundTrip([1]) == "a2")

        let second = try host.reload(
            Manifest(arena: small, plugins: [PluginSpec(location: .path(c), config: ["tag": "c1"], explicitSlot: "z")]))
        #expect(second.removed.sorted() == ["x", "y"])
        #expect(host.slots.keys.sorted() == ["z"])
    }

    @Test("a swap to a broken build fails clearly and the old plugin keeps serving")
    func failedSwapKeepsOld() throws {
        let good = try PluginFixtures.build(.working)
        let broken = try PluginFixtures.build(.initFails)
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(good), config: ["tag": "old"], explicitSlot: "codec")]),
            logger: quietLogger)
        try host.start()
        let error = #expect(throws: PluginLoadError.self) {
            try host.swap(slot: "codec", to: PluginSpec(location: .path(broken)))
        }
        #expect(error?.code == .initFailed)
        #expect(try FixtureCodec(host.slot("codec")!).roundTrip([4, 2]) == "old")
        #expect(host.slot("codec")?.generation == 1)
    }
}
