// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// The `inos` command as a user runs it: a real process, its output and exit status.
@Suite("inos command line")
struct CLITests {
    struct Run {
        var status: Int32
        var output: String
    }

    static var inos: String { (PluginFixtures.productsDirectory as NSString).appendingPathComponent("inos") }

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: inos)
        process.arguments = arguments
        // Never the user's own ~/.inos: each run of the tests gets a data directory of its own.
        let dataDirectory = ["INOS_DATA_DIR": PluginFixtures.directory.appendingPathComponent("cli-data").path]
        process.environment = ProcessInfo.processInfo.environment.merging(dataDirectory) { $1 }.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static func manifest(_ text: String) throws -> String {
        let path = PluginFixtures.directory.appendingPathComponent("m-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("plugins check accepts a good manifest and names each plugin")
    func checkGood() throws {
        let path = try Self.manifest("""
            [node]
            name = "cli"
            [[plugins]]
            name = "InosLZ4"
            kind = "compression"
            [plugins.config]
            level = 3
            """)
        let result = try Self.run(["plugins", "check", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("✓ InosLZ4: inos.compression.lz4 1.0.0 (compression)"))
    }

    @Test("plugins check reports every manifest problem and fails")
    func checkInvalidManifest() throws {
        let path = try Self.manifest("""
            [arena]
            size_mb = 48
            inbox_kib = 1000
            [[plugins]]
            kind = "compressor"
            """)
        let result = try Self.run(["plugins", "check", path])
        #expect(result.status != 0)
        #expect(result.output.contains("unknown key \"size_mb\" in [arena]"))
        #expect(result.output.contains("inbox ring capacity 1024000 must be a power of two"))
        #expect(result.output.contains("needs name = \"Library\" or path ="))
    }

    @Test("a broken required plugin fails the check; a broken optional one only warns")
    func checkBrokenPlugins() throws {
        let broken = try PluginFixtures.build(.abiMajor)
        let required = try Self.run(["plugins", "check", try Self.manifest("[[plugins]]\npath = \"\(broken)\"\n")])
        #expect(required.status == 1)
        #expect(required.output.contains("(required): ABI version mismatch: built for plugin ABI 2."))
        let optional = try Self.run(["plugins", "check", try Self.manifest("[[plugins]]\npath = \"\(broken)\"\nrequired = false\n")])
        #expect(optional.status == 0, "\(optional.output)")
        #expect(optional.output.contains("(optional): ABI version mismatch"))
    }

    @Test("a manifest that does not exist or is not TOML is a clear error")
    func unreadableManifest() throws {
        let missing = try Self.run(["plugins", "check", "/nonexistent/node.toml"])
        #expect(missing.status != 0)
        #expect(missing.output.contains("cannot read the file"))
        let garbage = try Self.run(["plugins", "check", try Self.manifest("[[plugins\nname = ")])
        #expect(garbage.status != 0)
        #expect(garbage.output.contains("line 1"))
    }

    @Test("plugins list shows the package's plugins with id, kind and ABI")
    func list() throws {
        // A data directory of its own: with the suite's shared one, a node another test runs there answers instead
        // (its live slots, not the package's plugins) — seen once in CI.
        let alone = PluginFixtures.directory.appendingPathComponent("cli-list-\(UUID().uuidString.prefix(8))").path
        let result = try Self.run(["plugins", "list"], environment: ["INOS_DATA_DIR": alone])
        #expect(result.status == 0)
        #expect(result.output.contains("InosLZ4"))
        let lz4 = result.output.split(separator: "\n").first { $0.hasPrefix("InosLZ4 ") }.map { $0.split(separator: " ") } ?? []
        #expect(lz4.prefix(5) == ["InosLZ4", "inos.compression.lz4", "compression", "1.0.0", "1.3"])
        #expect(result.output.contains("inos.transport.memory"))
        #expect(result.output.contains("inos.store.pack"))
    }

    @Test("the quick-start demo verifies every chunk, swaps the codec mid-stream, rebuilds lost chunks, replicates across seven nodes and repairs")
    func demo() throws {
        let result = try Self.run(["demo", "--mebibytes", "12"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("12/12 chunks verified in"))
        #expect(result.output.contains("hot swap after"))
        #expect(result.output.contains("gen 2:"))
        #expect(result.output.contains("0 bytes leaked"))
        #expect(result.output.contains("verify: 2 damaged, 2 repairable, 0 lost"))
        #expect(result.output.contains("2 chunks rebuilt from parity and stored again; identical to the input: yes"))
        #expect(result.output.contains("verify after get: healthy"))
        // Part three: the mesh of node processes, replication and repair.
        #expect(result.output.contains("all 7 nodes know the other 6"), "\(result.output)")
        #expect(result.output.contains("put: strategy: chunked replication; 5 replica(s)"), "\(result.output)")
        #expect(result.output.contains("put: acknowledged after"))
        #expect(result.output.contains("identical to the input: yes"))
        #expect(result.output.contains("repair: ") && result.output.contains("fewest 5"), "\(result.output)")
    }

    @Test("node starts on embedded defaults and stops cleanly")
    func nodeRunsAndStops() throws {
        let result = try Self.run(["node", "--run-for", "0.5"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("plugin inos.compression.lz4 1.0.0 serving slot compression"))
        #expect(result.output.contains("node stopped"))
    }

    @Test("SIGHUP reloads the manifest and hot-swaps the changed plugin; SIGTERM stops the node")
    func nodeReloadsOnSIGHUP() throws {
        let fixture = try PluginFixtures.build(.working)
        let path = try Self.manifest("[[plugins]]\npath = \"\(fixture)\"\n[plugins.config]\ntag = \"one\"\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.inos)
        process.arguments = ["node", "--manifest", path]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["INOS_DATA_DIR": PluginFixtures.directory.appendingPathComponent("sighup-\(UUID().uuidString.prefix(8))").path]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = OutputCollector(pipe)
        try process.run()
        // No kind or slot in the manifest: the slot is named after the kind the plugin declares.
        #expect(output.waitFor("plugin test.fixture.codec 0.0.1 serving slot compression"), "\(output.text)")
        // The node takes SIGHUP as "reload" from its "running" line on (before it, SIGHUP is ignored).
        #expect(output.waitFor(" running: arena"), "\(output.text)")

        try "[[plugins]]\npath = \"\(fixture)\"\n[plugins.config]\ntag = \"two\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(output.waitFor("manifest reloaded: swapped [\"compression\"]"), "\(output.text)")
        #expect(output.text.contains("drained and retired"))

        try "[[plugins]]\npath = \"/nonexistent.so\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(output.waitFor("manifest reload refused, the node keeps its current plugins"), "\(output.text)")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(output.waitFor("node stopped"))
    }
}

/// Collects a child's output on a background thread so a test can wait for a line.
final class OutputCollector: @unchecked Sendable {  // `buffer` is only touched under `lock`
    private let lock = NSLock()
    private var buffer = ""

    init(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            // End of file: clear the handler, or the handle, its dispatch source and this closure keep each
            // other alive after the process is gone (LSan: every collector's pipe leaked).
            if data.isEmpty { handle.readabilityHandler = nil; return }
            guard let self else { return }
            self.lock.withLock { self.buffer += String(decoding: data, as: UTF8.self) }
        }
    }

    var text: String { lock.withLock { buffer } }

    /// Waits up to `seconds` for `needle` to appear in the output.
    func waitFor(_ needle: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            usleep(20_000)
        }
        return text.contains(needle)
    }
}
