// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport
import Testing

@Suite("Crash safety")
struct CrashTests {
    @Test("killing inos put mid-way leaves no half chunk visible, and a rerun completes the resource",
          arguments: ["InosFileStore", "InosPackStore"])
    func killDuringPut(store: String) throws {
        let node = try DataPathFixture(erasure: false)
        let input = try node.file(300 << 20, seed: 77)
        let inos = (PluginFixtures.productsDirectory as NSString).appendingPathComponent("inos")
        let storeDir = node.folder + "/crash"
        let manifest = node.folder + "/crash.toml"
        try """
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosLZ4"))"
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin(store))"
            [plugins.config]
            path = "\(storeDir)"
            """.write(toFile: manifest, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: inos)
        process.arguments = ["put", input, "--manifest", manifest, "--parity", "none"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill it once some chunks are on disk, but before it can finish.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && committedChunks(storeDir) < 20 { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)

        // Reopen the store with this process' host: every visible chunk must be whole and match its ID.
        let reopened = try HostRuntime(
            manifest: Manifest(arena: ArenaConfiguration(), plugins: [
                PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec),
                PluginSpec(location: .path(try PluginFixtures.builtPlugin(store)), kind: .store, config: ["path": storeDir]),
            ]), logger: quietLogger)
        try reopened.start()
        defer { reopened.shutdown() }
        let data = try ContentStore(host: reopened)
        let scrub = try data.scrub()
        #expect(scrub.checked >= 20)
        #expect(scrub.checked < 300)  // the put was really interrupted (no manifest yet)
        #expect(scrub.damaged.isEmpty)
        if store == "InosFileStore" {
            #expect(try FileManager.default.contentsOfDirectory(atPath: storeDir + "/tmp").isEmpty)
        }

        var options = ContentStore.Options()
        options.erasure = nil
        let report = try data.put(file: input, options: options)
        try data.get(report.id, to: node.folder + "/after-crash")
        #expect(try node.same(input, node.folder + "/after-crash"))
    }

    /// Chunks made durable and visible so far: files in place (file store) or index entries (pack store).
    func committedChunks(_ store: String) -> Int {
        let base = store + "/chunks"
        let prefixes = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        let files = prefixes.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + $0)) ?? [] }
        let log = (try? FileManager.default.attributesOfItem(atPath: store + "/index.log"))?[.size] as? Int ?? 0
        return files.count + log / 96
    }
}
