// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Host

@Suite("Manifest parsing")
struct ManifestParsingTests {
    @Test("a complete manifest parses, with paths resolved against its folder")
    func complete() throws {
        let manifest = try Manifest.parse("""
            [node]
            name = "n1"
            plugin_paths = ["plugins", "/opt/inos"]
            [arena]
            size_mib = 64
            inbox_kib = 256
            outbox_kib = 1024
            high_watermark = 0.8
            low_watermark = 0.2
            [[plugins]]
            name = "InosLZ4"
            kind = "compression"
            id = "inos.compression.lz4"
            slot = "codec"
            [plugins.config]
            level = 4
            checksum = true
            ratio = 0.5
            text = "x"
            [[plugins]]
            path = "lib/libT.so"
            required = false
            enabled = false
            """, relativeTo: "/etc/inos")
        #expect(manifest.nodeName == "n1")
        #expect(manifest.pluginPaths == ["/etc/inos/plugins", "/opt/inos"])
        #expect(manifest.arena == ArenaConfiguration(totalSize: 64 << 20, inboxCapacity: 256 << 10, outboxCapacity: 1 << 20, highWatermark: 0.8, lowWatermark: 0.2))
        #expect(manifest.plugins.count == 2)
        let first = manifest.plugins[0]
        #expect(first.location == .name("InosLZ4"))
        #expect(first.kind == .compressionCodec)
        #expect(first.id == "inos.compression.lz4")
        #expect(first.explicitSlot == "codec")
        #expect(first.config == ["level": "4", "checksum": "true", "ratio": "0.5", "text": "x"])
        #expect(manifest.plugins[1].location == .path("/etc/inos/lib/libT.so"))
        #expect(!manifest.plugins[1].required && !manifest.plugins[1].enabled)
    }

    @Test("an empty manifest is the default")
    func empty() throws {
        #expect(try Manifest.parse("") == Manifest())
    }

    @Test("every problem is reported at once, in words a user can act on")
    func problems() {
        let error = #expect(throws: ManifestError.self) {
            try Manifest.parse("""
                colour = "blue"
                [arena]
                size_mb = 48
                inbox_kib = 1000
                high_watermark = "high"
                [[plugins]]
                kind = "compressor"
                [[plugins]]
                name = "A"
                path = "/b.so"
                [[plugins]]
                name = "dir/lib"
                required = "yes"
                """, file: "node.toml")
        }
        let problems = error?.problems ?? []
        let expected = [
            "unknown key \"colour\" in the top level",
            "unknown key \"size_mb\" in [arena] (known: high_watermark, inbox_kib, low_watermark, outbox_kib, size_mib)",
            "[arena].high_watermark must be a number",
            "inbox ring capacity 1024000 must be a power of two",
            "plugins[0] needs name = \"Library\" or path =",
            "plugins[1] has both name and path",
            "plugins[2].name must be a library name without '/'",
        ]
        for text in expected {
            #expect(problems.contains { $0.contains(text) }, "missing: \(text) in \(problems)")
        }
        #expect(error?.description.hasPrefix("manifest node.toml is invalid:") == true)
    }

    @Test("syntax errors name the line; wrong shapes are explained")
    func syntax() {
        let syntax = #expect(throws: ManifestError.self) { try Manifest.parse("[node]\nname = \"x\"\nname = = 3\n") }
        #expect(syntax?.problems.first?.contains("line 3") == true, "\(String(describing: syntax))")
        let table = #expect(throws: ManifestError.self) { try Manifest.parse("[plugins]\nname = \"x\"\n") }
        #expect(table?.problems.first?.contains("write each as [[plugins]]") == true)
        let range = #expect(throws: ManifestError.self) { try Manifest.parse("[arena]\nsize_mib = 0\n") }
        #expect(range?.problems.first?.contains("out of range") == true)
        let kind = #expect(throws: ManifestError.self) { try Manifest.parse("[[plugins]]\nname = \"x\"\nkind = \"gpu\"\n") }
        #expect(kind?.problems.first?.contains("one of: transport, erasure, compression, allocator, job_runner, store") == true)
    }

    @Test("a missing file is a clear error")
    func missingFile() {
        let error = #expect(throws: ManifestError.self) { try Manifest.load(path: "/nonexistent/inos.toml") }
        #expect(error?.problems.first?.contains("cannot read the file") == true)
    }
}
