// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport

/// A node's data path over the real plugins: LZ4, ISA-L erasure and the file store.
final class DataPathFixture {
    let folder: String
    let host: HostRuntime
    let store: ContentStore

    init(erasure: Bool = true, arenaMiB: Int = 48) throws {
        folder = PluginFixtures.directory.appendingPathComponent("data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var plugins = [
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec),
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosFileStore")), kind: .store, config: ["path": folder + "/store"]),
        ]
        if erasure { plugins.append(PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosErasure")), kind: .erasureCodec)) }
        host = try HostRuntime(
            manifest: Manifest(arena: ArenaConfiguration(totalSize: arenaMiB << 20), plugins: plugins), logger: quietLogger)
        try host.start()
        store = try ContentStore(host: host)
    }

    deinit { host.shutdown() }

    /// Writes `count` bytes: text-like and random halves, so some chunks compress and some do not.
    func file(_ count: Int, seed: UInt64) throws -> String {
        var generator = SeededRandom(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        let words = Array("mesh node chunk replica gossip arena ring plugin\n".utf8)
        for i in 0..<count {
            bytes[i] = (i / (256 << 10)) % 2 == 0 ? words[Int(generator.next() % UInt64(words.count))] : UInt8(truncatingIfNeeded: generator.next())
        }
        let path = folder + "/in-\(seed)-\(count)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func chunkFile(_ id: ContentID) -> String {
        let hex = id.bytes.map { String(format: "%02x", $0) }.joined()
        return "\(folder)/store/chunks/\(hex.prefix(2))/\(hex)"
    }

    func same(_ a: String, _ b: String) throws -> Bool {
        try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b))
    }
}
