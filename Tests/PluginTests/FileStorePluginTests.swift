// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

/// The file chunk store plugin, loaded through the host.
@Suite("File chunk store plugin")
struct FileStorePluginTests {
    let folder: String

    init() {
        folder = PluginFixtures.directory.appendingPathComponent("store-\(UUID().uuidString)").path
    }

    func open(capacityMiB: Int? = nil) throws -> (HostRuntime, Store) {
        var config = ["path": folder]
        if let capacityMiB { config["capacity_mib"] = String(capacityMiB) }
        return try Store.open("InosFileStore", config: config)
    }

    static func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed } }

    @Test("put, get, idempotent put, remove, stats and list")
    func basics() throws {
        let (_, store) = try open()
        let a = Self.bytes(100_000, seed: 1), b = Self.bytes(10, seed: 2)
        #expect(store.put([1, 2, 3], a).status == INOS_OK)
        #expect(store.put([1, 2, 3], a).status == INOS_OK)  // idempotent
        #expect(store.put([9], b).status == INOS_OK)
        #expect(store.get([1, 2, 3]).bytes == a)
        #expect(store.get([9]).bytes == b)
        #expect(store.stats().chunk_count == 2)
        #expect(store.stats().used_bytes == UInt64(100_000 + 10 + 2 * 16))
        #expect(Set(store.list()) == [[1, 2, 3], [9]])
        #expect(store.remove([9]).status == INOS_OK)
        #expect(store.get([9]).status == INOS_ERR_NOT_FOUND)
        #expect(store.remove([9]).status == INOS_ERR_NOT_FOUND)
        #expect(store.stats().chunk_count == 1)
    }

    @Test("a chunk corrupted or truncated on disk is reported corrupt and quarantined, the rest stays readable")
    func corruption() throws {
        let (_, store) = try open()
        let good = Self.bytes(5000, seed: 3)
        for key: UInt8 in 1...3 { #expect(store.put([key], good).status == INOS_OK) }
        let flip = "\(folder)/chunks/01/01", cut = "\(folder)/chunks/02/02"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: flip)))
        bytes[2000] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: flip))
        try Data(bytes.prefix(3000)).write(to: URL(fileURLWithPath: cut))

        let flipped = store.get([1])
        #expect(flipped.status == INOS_ERR_CORRUPT)
        #expect(flipped.message.contains("CRC32C mismatch"))
        #expect(store.get([2]).status == INOS_ERR_CORRUPT)
        #expect(store.get([3]).bytes == good)
        #expect(FileManager.default.fileExists(atPath: "\(folder)/quarantine/01"))
        #expect(store.get([1]).status == INOS_ERR_NOT_FOUND)  // moved aside, not served again
        #expect(store.stats().quarantined_count == 2)
        #expect(store.stats().chunk_count == 1)
    }

    @Test("leftover temp files from a crash are removed at start; counts survive a restart")
    func restart() throws {
        do {
            let (host, store) = try open()
            #expect(store.put([7], Self.bytes(1000, seed: 4)).status == INOS_OK)
            host.shutdown()
        }
        try Data("half a chunk".utf8).write(to: URL(fileURLWithPath: "\(folder)/tmp/07.999.1"))
        let (_, store) = try open()
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(folder)/tmp").isEmpty)
        #expect(store.stats().chunk_count == 1)
        #expect(store.get([7]).bytes == Self.bytes(1000, seed: 4))
    }

    @Test("capacity is enforced with INOS_ERR_FULL; a small buffer gets the needed size")
    func limits() throws {
        let (_, store) = try open(capacityMiB: 1)
        #expect(store.put([1], Self.bytes(700_000, seed: 5)).status == INOS_OK)
        let full = store.put([2], Self.bytes(700_000, seed: 6))
        #expect(full.status == INOS_ERR_FULL)
        #expect(full.message.contains("store full"))
        let small = store.get([1], capacity: 10)
        #expect(small.status == INOS_ERR_BUFFER_TOO_SMALL)
        #expect(small.length == 700_000)
    }

    @Test("group commit: staged chunks are invisible until commit, duplicates count once, uncommitted ones vanish")
    func groupCommit() throws {
        do {
            let (host, store) = try open()
            let a = Self.bytes(3000, seed: 1), b = Self.bytes(4000, seed: 2)
            #expect(store.stage([1], a).status == INOS_OK)
            #expect(store.stage([2], b).status == INOS_OK)
            #expect(store.stage([2], b).status == INOS_OK)  // the same chunk twice in one batch
            #expect(store.get([1]).status == INOS_ERR_NOT_FOUND)  // not visible before commit
            #expect(store.commit().status == INOS_OK)
            #expect(store.get([1]).bytes == a)
            #expect(store.get([2]).bytes == b)
            #expect(store.stats().chunk_count == 2)
            #expect(store.stats().used_bytes == UInt64(3000 + 4000 + 2 * 16))
            #expect(store.commit().status == INOS_OK)  // an empty commit is fine
            #expect(store.stage([3], Self.bytes(10, seed: 3)).status == INOS_OK)  // never committed
            host.shutdown()
        }
        let (_, store) = try open()
        #expect(store.get([3]).status == INOS_ERR_NOT_FOUND)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(folder)/tmp").isEmpty)
        #expect(store.stats().chunk_count == 2)
    }

    @Test("bad keys and a missing path are clear errors")
    func badInput() throws {
        let (_, store) = try open()
        #expect(store.put([], [1]).status == INOS_ERR_INVALID_ARGUMENT)
        #expect(store.put([UInt8](repeating: 1, count: 65), [1]).status == INOS_ERR_INVALID_ARGUMENT)
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosFileStore")))]),
            logger: quietLogger)
        let error = #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(error?.message.contains("config path is required") == true)
    }
}

/// Calls the store's ABI table.
struct Store {
    let slot: PluginSlot

    /// Starts a host with one store plugin and returns it with its slot.
    static func open(_ plugin: String, config: [String: String]) throws -> (HostRuntime, Store) {
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin(plugin)), kind: .store, config: config)]),
            logger: quietLogger)
        try host.start()
        return (host, Store(slot: try #require(host.slot("store"))))
    }

    struct Outcome {
        var status: inos_status
        var bytes: [UInt8] = []
        var length: UInt64 = 0
        var message = ""
    }

    func call(_ body: (inos_store_v1, UnsafeMutableRawPointer?, inout inos_error) -> Outcome) -> Outcome {
        slot.withActive { plugin in
            var error = inos_error()
            var outcome = body(plugin.extensionTable(as: inos_store_v1.self).pointee, plugin.instance, &error)
            outcome.message = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return outcome
        }!
    }

    func put(_ key: [UInt8], _ data: [UInt8]) -> Outcome {
        call { table, instance, error in Outcome(status: table.put(instance, key, UInt32(key.count), data, UInt64(data.count), &error)) }
    }

    func get(_ key: [UInt8], capacity: Int = 1 << 20) -> Outcome {
        call { table, instance, error in
            var buffer = [UInt8](repeating: 0, count: capacity)
            var length: UInt64 = 0
            let status = table.get(instance, key, UInt32(key.count), &buffer, UInt64(capacity), &length, &error)
            return Outcome(status: status, bytes: status == INOS_OK ? Array(buffer.prefix(Int(length))) : [], length: length)
        }
    }

    func stage(_ key: [UInt8], _ data: [UInt8]) -> Outcome {
        call { table, instance, error in Outcome(status: table.stage(instance, key, UInt32(key.count), data, UInt64(data.count), &error)) }
    }

    func commit() -> Outcome {
        call { table, instance, error in Outcome(status: table.commit(instance, &error)) }
    }

    func remove(_ key: [UInt8]) -> Outcome {
        call { table, instance, error in Outcome(status: table.remove(instance, key, UInt32(key.count), &error)) }
    }

    func stats() -> inos_store_stats {
        var stats = inos_store_stats()
        _ = call { table, instance, error in Outcome(status: table.stats(instance, &stats, &error)) }
        return stats
    }

    func list() -> [[UInt8]] {
        final class Box { var keys: [[UInt8]] = [] }
        let box = Box()
        _ = call { table, instance, error in
            Outcome(status: table.list(instance, { context, key, length, _ in
                Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue().keys.append(Array(UnsafeBufferPointer(start: key, count: Int(length))))
                return 0
            }, Unmanaged.passUnretained(box).toOpaque(), &error))
        }
        return box.keys
    }
}
