// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Host

@Suite("Manifest")
struct ManifestTests {
    /// The problems `text` is refused with (empty, with an issue recorded, if it parses).
    static func problems(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        do {
            _ = try Manifest.parse(text, file: "node.toml", relativeTo: "/etc/inos")
            Issue.record("parsed, but should have been refused", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    static let complete = """
        [node]
        name = "n1"
        plugin_paths = ["plugins", "/opt/inos", "lib/x"]

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
        required = true
        enabled = true
        [plugins.config]
        level = 4
        checksum = true
        fast = false
        ratio = 0.5
        text = "x y"
        negative = -3

        [[plugins]]
        path = "lib/libT.so"
        required = false
        enabled = false

        [[plugins]]
        path = "/abs/libU.so"
        kind = "store"
        """

    @Test("a complete manifest parses, with relative paths resolved against its folder")
    func complete() throws {
        let manifest = try Manifest.parse(Self.complete, file: "node.toml", relativeTo: "/etc/inos")
        #expect(manifest.nodeName == "n1")
        #expect(manifest.pluginPaths == ["/etc/inos/plugins", "/opt/inos", "/etc/inos/lib/x"])
        #expect(
            manifest.arena
                == ArenaConfiguration(
                    totalSize: 64 << 20, inboxCapacity: 256 << 10, outboxCapacity: 1 << 20, highWatermark: 0.8,
                    lowWatermark: 0.2))
        #expect(manifest.plugins.count == 3)

        let lz4 = manifest.plugins[0]
        #expect(lz4.location == .name("InosLZ4"))
        #expect(lz4.displayName == "InosLZ4")
        #expect(lz4.kind == .compressionCodec)
        #expect(lz4.id == "inos.compression.lz4")
        #expect(lz4.explicitSlot == "codec")
        #expect(lz4.required && lz4.enabled)
        #expect(
            lz4.config == [
                "level": "4", "checksum": "true", "fast": "false", "ratio": "0.5", "text": "x y", "negative": "-3",
            ])

        let local = manifest.plugins[1]
        #expect(local.location == .path("/etc/inos/lib/libT.so"))
        #expect(!local.required && !local.enabled)
        #expect(local.kind == nil && local.id == nil && local.explicitSlot == nil && local.config.isEmpty)

        #expect(manifest.plugins[2].location == .path("/abs/libU.so"))
        #expect(manifest.plugins[2].kind == .store)
        #expect(manifest.plugins[2].required && manifest.plugins[2].enabled, "required and enabled by default")
    }

    @Test("an empty manifest is the default; a partial one keeps the other defaults")
    func defaults() throws {
        #expect(try Manifest.parse("") == Manifest())
        #expect(try Manifest.parse("# nothing but a comment\n") == Manifest())
        let partial = try Manifest.parse("[node]\nname = \"edge\"\n[arena]\nhigh_watermark = 1\n")
        #expect(partial.nodeName == "edge")
        #expect(partial.pluginPaths.isEmpty && partial.plugins.isEmpty)
        #expect(partial.arena == ArenaConfiguration(highWatermark: 1.0), "an integer watermark is a number too")
    }

    @Test("every plugin kind is spelled as the manifest documents", arguments: PluginKind.allCases)
    func kinds(kind: PluginKind) throws {
        let manifest = try Manifest.parse("[[plugins]]\nname = \"P\"\nkind = \"\(kind)\"\n")
        #expect(manifest.plugins.first?.kind == kind)
        #expect(PluginKind(manifestName: kind.description) == kind)
    }

    @Test("Manifest.load reads a file and resolves paths against the file's folder")
    func loadFromFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("inos-manifest-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("node.toml").path
        try Self.complete.write(toFile: file, atomically: true, encoding: .utf8)
        let manifest = try Manifest.load(path: file)
        #expect(manifest.pluginPaths.first == folder.path + "/plugins")
        #expect(manifest.plugins[1].location == .path(folder.path + "/lib/libT.so"))

        try "[arena]\nsize_mb = 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ManifestError.self) { try Manifest.load(path: file) }
        #expect(error?.file == file, "errors name the file")
    }

    @Test("a missing file is a clear error naming the file")
    func missingFile() {
        let path = "/nonexistent/inos-\(UUID())/node.toml"
        let error = #expect(throws: ManifestError.self) { try Manifest.load(path: path) }
        #expect(error?.file == path)
        #expect(error?.problems.count == 1)
        #expect(error?.problems.first?.hasPrefix("cannot read the file") == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("manifest \(path) is invalid:\n  - cannot read the file") == true)
    }

    @Test("a TOML syntax error names its line", arguments: [
        ("[node]\nname = \"x\"\nname = = 3\n", 3),
        ("[node]\nname = \"unterminated\n", 2),
        ("[arena\nsize_mib = 4\n", 1),
        ("[node]\nname = \"a\"\n\n\nname = \"b\"\n", 5),  // a duplicate key is a syntax error in TOML
    ])
    func syntaxError(text: String, line: Int) {
        let problems = Self.problems(text)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("line \(line)") == true, "\(problems)")
    }

    @Test("an unknown key, such as a typo, is reported with the keys that are known", arguments: [
        ("[arena]\nsize_mb = 48\n",
         "unknown key \"size_mb\" in [arena] (known: high_watermark, inbox_kib, low_watermark, outbox_kib, size_mib)"),
        ("[node]\nnmae = \"x\"\n", "unknown key \"nmae\" in [node] (known: bootstrap, listen, name, plugin_paths)"),
        ("colour = \"blue\"\n", "unknown key \"colour\" in the top level (known: arena, cache, compute, credits, mesh, node, plugins)"),
        ("[compute]\nallow = \"everyone\"\n", "[compute].allow \"everyone\" must be \"none\", \"members\" or \"owners\""),
        ("[compute]\npolicy = \"none\"\n", "unknown key \"policy\" in [compute] (known: allow)"),
        ("[[plugins]]\nname = \"A\"\nrequird = true\n",
         "unknown key \"requird\" in plugins[0] (known: config, enabled, id, isolation, kind, name, path, required, slot, wraps)"),
    ])
    func unknownKey(text: String, problem: String) {
        #expect(Self.problems(text) == [problem])
    }

    @Test("a value of the wrong type is reported with the type wanted", arguments: [
        ("[arena]\nsize_mib = \"48\"\n", "[arena].size_mib must be an integer"),
        ("[arena]\nsize_mib = 4.5\n", "[arena].size_mib must be an integer"),
        ("[arena]\nhigh_watermark = \"high\"\n", "[arena].high_watermark must be a number"),
        ("[node]\nname = 5\n", "[node].name must be a string"),
        ("[node]\nplugin_paths = 5\n", "[node].plugin_paths must be an array of strings"),
        ("[node]\nplugin_paths = [\"a\", 1]\n", "[node].plugin_paths[1] must be a string"),
        ("node = \"x\"\n", "node in the top level must be a table"),
        ("arena = 3\n", "arena in the top level must be a table"),
        ("[[plugins]]\nname = \"A\"\nrequired = \"yes\"\n", "plugins[0].required must be true or false"),
        ("[[plugins]]\nname = \"A\"\nenabled = 1\n", "plugins[0].enabled must be true or false"),
        ("[[plugins]]\nname = \"A\"\nkind = 3\n", "plugins[0].kind must be a string"),
        ("[[plugins]]\nname = \"A\"\nid = true\n", "plugins[0].id must be a string"),
        ("[[plugins]]\nname = \"A\"\nconfig = 3\n", "config in plugins[0] must be a table"),
        ("[[plugins]]\nname = \"A\"\n[plugins.config]\nlist = [1]\n",
         "plugins[0].config.list must be a string, number or boolean"),
        ("plugins = [1]\n", "plugins[0] must be a table"),
    ])
    func wrongType(text: String, problem: String) {
        #expect(Self.problems(text) == [problem])
    }

    @Test("a plugin needs exactly one of name and path, and a name is not a path", arguments: [
        ("[[plugins]]\nname = \"A\"\npath = \"/b.so\"\n", "plugins[0] has both name and path: give one"),
        ("[[plugins]]\nkind = \"store\"\n", "plugins[0] needs name = \"Library\" or path = \"/path/to/libX.so\""),
        ("[[plugins]]\nname = \"dir/lib\"\n", "plugins[0].name must be a library name without '/'; use path = for a file"),
        ("[[plugins]]\nname = \"\"\n", "plugins[0].name must be a library name without '/'; use path = for a file"),
        ("[[plugins]]\nname = \"A\"\n[[plugins]]\n", "plugins[1] needs name = \"Library\" or path = \"/path/to/libX.so\""),
    ])
    func nameOrPath(text: String, problem: String) {
        #expect(Self.problems(text) == [problem])
    }

    @Test("an unknown kind lists the kinds there are")
    func unknownKind() {
        #expect(
            Self.problems("[[plugins]]\nname = \"x\"\nkind = \"gpu\"\n") == [
                "plugins[0].kind \"gpu\" is not a plugin kind (one of: transport, erasure, compression, allocator, job_runner, store)"
            ])
    }

    @Test("plugins written as one table instead of [[plugins]] are explained")
    func pluginsAsTable() {
        #expect(
            Self.problems("[plugins]\nname = \"x\"\n") == ["plugins must be an array of tables: write each as [[plugins]]"])
    }

    @Test("arena numbers out of range, or that make no arena, are refused", arguments: [
        ("[arena]\nsize_mib = 0\n", "[arena].size_mib = 0 is out of range 1...65536"),
        ("[arena]\nsize_mib = -48\n", "[arena].size_mib = -48 is out of range 1...65536"),
        ("[arena]\nsize_mib = 65537\n", "[arena].size_mib = 65537 is out of range 1...65536"),
        ("[arena]\ninbox_kib = 0\n", "[arena].inbox_kib = 0 is out of range 1...1048576"),
        ("[arena]\noutbox_kib = 1048577\n", "[arena].outbox_kib = 1048577 is out of range 1...1048576"),
        ("[arena]\ninbox_kib = 3\n", "[arena]: inbox ring capacity 3072 must be a power of two of at least 1024 bytes"),
        ("[arena]\nsize_mib = 1\n", "[arena]: arena size 1048576 is too small for its rings"),
        ("[arena]\nhigh_watermark = 0.2\nlow_watermark = 0.8\n",
         "[arena]: watermarks must satisfy 0 < low < high <= 1 (low 0.8, high 0.2)"),
        ("[arena]\nhigh_watermark = 1.5\n", "[arena]: watermarks must satisfy 0 < low < high <= 1 (low 0.25, high 1.5)"),
    ])
    func arenaRanges(text: String, problem: String) {
        #expect(Self.problems(text) == [problem])
    }

    @Test("a table header without a key is a clear error, not toml++'s assertion (found by fuzzing)")
    func unnamedTableHeader() {
        #expect(Self.problems("[.a]\n") == ["line 1: a table header must start with a key, as in [name] or [[name]]"])
        #expect(Self.problems("[node]\nname = \"n\"\n  [[ +x]]\n") == ["line 3: a table header must start with a key, as in [name] or [[name]]"])
        #expect(Self.problems("[\n") == ["line 1: a table header names no table"])
        // A combining mark after "[" makes one Character of both, and "\r\n" is one Character: the scan reads
        // scalars, so neither hides a header (both found by fuzzing).
        #expect(Self.problems("[\u{65C}\u{DF}]\n") == ["line 1: a table header must start with a key, as in [name] or [[name]]"])
        #expect(Self.problems("a = 1\r\n[.x]\r\n") == ["line 2: a table header must start with a key, as in [name] or [[name]]"])
        #expect((try? Manifest.parse("[node]\r\nname = \"n\"\r\n"))?.nodeName == "n")
        // A byte-order mark before the first header hid it from the scan (found by fuzzing); one before a good header is fine.
        #expect(Self.problems("\u{FEFF}[\u{FFFD}x]\n") == ["line 1: a table header must start with a key, as in [name] or [[name]]"])
        #expect((try? Manifest.parse("\u{FEFF}[node]\nname = \"n\"\n"))?.nodeName == "n")
        // Headers with a key, quoted or spaced, still parse.
        #expect((try? Manifest.parse("[[plugins]]\nname = \"J\"\nkind = \"compression\"\n  [ \"node\" ]\nname = \"x\"\n"))?.plugins.count == 1)
    }

    @Test("`}` where an array expects a value is a clear error, not toml++'s assertion (found by fuzzing); strings, comments and inline tables are not mistaken for it")
    func braceInArray() {
        let problem = "an array holds a value where it has `}` (as in [1, 2])"
        #expect(Self.problems("[node]\nplugin_paths = [}\"plugins\"]\n") == ["line 2: \(problem)"])
        #expect(Self.problems("a = [1, }]\n") == ["line 1: \(problem)"])
        #expect(Self.problems("a = [\n  # a comment\n  }\n]\n") == ["line 3: \(problem)"])
        #expect(Self.problems("a = {b = [}]}\n") == ["line 1: \(problem)"])
        #expect(Self.problems("a = [[1], [}]]\n") == ["line 1: \(problem)"])
        // Not a hazard: braces inside strings and comments, inline tables, empty arrays and trailing commas.
        for text in ["a = [\"}\", '}', \"\"\"\n}\"\"\"]\n", "a = [1, 2, ] # }\n", "a = []\n", "a = {b = [1], c = {}}\n", "[t]\nx = \"[}\"\n"] {
            #expect(Manifest.braceAsArrayValue(text) == nil, "\(text)")
        }
    }

    @Test("a Unicode line break (U+0085, U+2028, U+2029) where an array expects a value is a clear error, not toml++'s assertion (found by fuzzing); one inside a string or after a value is not")
    func unicodeBreakInArray() {
        let problem = "an array holds a value where it has a Unicode line break (U+0085, U+2028 or U+2029); use a plain newline"
        #expect(Self.problems("s=[\u{85}") == ["line 1: \(problem)"])
        #expect(Self.problems("[\"\"]\nl=[\"\",\u{85}") == ["line 2: \(problem)"])
        #expect(Self.problems("s=[1,\u{2029}") == ["line 1: \(problem)"])
        #expect(Self.problems("s=[ #c\n\u{2028}]") == ["line 2: \(problem)"])
        for text in ["a = [\"\u{85}\", '\u{2028}']\n", "a = [1] # \u{2029}\n", "a = [\"x\" ]\n"] {
            #expect(Manifest.braceAsArrayValue(text) == nil, "\(text)")
        }
    }

    @Test("a job runner entry may ask for isolation in a process; other values and other kinds are refused")
    func isolation() throws {
        let manifest = try Manifest.parse("""
            [[plugins]]
            name = "Jobs"
            kind = "job_runner"
            isolation = "process"
            [[plugins]]
            name = "Other"
            kind = "job_runner"
            isolation = "none"
            [[plugins]]
            name = "Third"
            """)
        #expect(manifest.plugins.map(\.isolation) == [.process, .none, .none])
        #expect(Self.problems("[[plugins]]\nname = \"J\"\nkind = \"job_runner\"\nisolation = \"thread\"\n") == [
            "plugins[0].isolation \"thread\" is not an isolation mode (\"none\" or \"process\")"
        ])
        #expect(Self.problems("[[plugins]]\nname = \"L\"\nkind = \"compression\"\nisolation = \"process\"\n") == [
            "plugins[0].isolation is for job_runner plugins; this entry is kind \"compression\""
        ])
        #expect(Self.problems("[[plugins]]\nname = \"J\"\nisolation = true\n") == ["plugins[0].isolation must be a string"])
    }

    @Test("every problem of a manifest is reported in one go, in order")
    func allProblemsAtOnce() {
        let text = """
            colour = "blue"
            [node]
            name = 7
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
            [[plugins]]
            name = "B"
            kind = "gpu"
            required = "yes"
            requird = true
            """
        let expected = [
            "unknown key \"colour\" in the top level (known: arena, cache, compute, credits, mesh, node, plugins)",
            "[node].name must be a string",
            "unknown key \"size_mb\" in [arena] (known: high_watermark, inbox_kib, low_watermark, outbox_kib, size_mib)",
            "[arena].high_watermark must be a number",
            "[arena]: inbox ring capacity 1024000 must be a power of two of at least 1024 bytes",
            "plugins[0] needs name = \"Library\" or path = \"/path/to/libX.so\"",
            "plugins[1] has both name and path: give one",
            "plugins[2].name must be a library name without '/'; use path = for a file",
            "unknown key \"requird\" in plugins[3] (known: config, enabled, id, isolation, kind, name, path, required, slot, wraps)",
            "plugins[3].kind \"gpu\" is not a plugin kind (one of: transport, erasure, compression, allocator, job_runner, store)",
            "plugins[3].required must be true or false",
        ]
        let error = #expect(throws: ManifestError.self) { try Manifest.parse(text, file: "node.toml") }
        #expect(error?.problems.count == expected.count)
        #expect(error?.problems == expected)
        #expect(error?.file == "node.toml")
        #expect(error?.description == "manifest node.toml is invalid:\n" + expected.map { "  - " + $0 }.joined(separator: "\n"))
    }
}

@Suite("Manifest [mesh]")
struct MeshManifestTests {
    /// A fresh folder for key files.
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mesh-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes a key file of `text` with `mode`.
    static func keyFile(_ folder: String, _ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    static let keyA = MeshKeyFile.encode(Array(repeating: 0xa1, count: 32), id: "aaaaaaaaaaaaaaaa")
    static let keyB = MeshKeyFile.encode(Array(0..<32), id: "bbbbbbbbbbbbbbbb")
    static let nodeID = "n" + String(repeating: "a", count: 52)

    static func problems(_ text: String, in folder: String) -> [String] {
        do {
            _ = try Manifest.parse(text, file: "node.toml", relativeTo: folder)
            Issue.record("parsed, but should have been refused")
            return []
        } catch {
            return error.problems
        }
    }

    @Test("key_file is read relative to the manifest's folder, and the allowlist is kept")
    func keyFileAndAllow() throws {
        let folder = try Self.folder()
        _ = try Self.keyFile(folder, "mesh.key", Self.keyA)
        let manifest = try Manifest.parse("[mesh]\nkey_file = \"mesh.key\"\nallow = [\"\(Self.nodeID)\"]\n", relativeTo: folder)
        #expect(manifest.mesh.keyFiles == [folder + "/mesh.key"])
        #expect(manifest.mesh.keys == [MeshSecret(Array(repeating: 0xa1, count: 32))])
        #expect(manifest.mesh.allow == [Self.nodeID])
        #expect(!"\(manifest.mesh)".contains("a1a1"), "a printed manifest must not show the key")
        #expect(try Manifest.parse("").mesh == MeshSettings())  // no [mesh]: an open mesh
    }

    @Test("key_files lists keys in order: the first is proven, all are accepted")
    func keyFiles() throws {
        let folder = try Self.folder()
        _ = try Self.keyFile(folder, "new.key", Self.keyB)
        _ = try Self.keyFile(folder, "old.key", Self.keyA)
        let manifest = try Manifest.parse("[mesh]\nkey_files = [\"new.key\", \"old.key\"]\n", relativeTo: folder)
        #expect(manifest.mesh.keys.map(\.bytes) == [Array(0..<32), Array(repeating: 0xa1, count: 32)])
        #expect(manifest.mesh.allow == nil)
    }

    @Test("a missing, too permissive, malformed or duplicated key file is refused with its reason")
    func badKeyFiles() throws {
        let folder = try Self.folder()
        _ = try Self.keyFile(folder, "open.key", Self.keyA, mode: 0o644)
        _ = try Self.keyFile(folder, "short.key", "# comment\nabcdef\n")
        _ = try Self.keyFile(folder, "nothex.key", String(repeating: "zz", count: 32) + "\n")
        _ = try Self.keyFile(folder, "empty.key", "# only a comment\n")
        _ = try Self.keyFile(folder, "two.key", Self.keyA + Self.keyB)
        _ = try Self.keyFile(folder, "a.key", Self.keyA)
        _ = try Self.keyFile(folder, "a-again.key", Self.keyA)
        let cases: [(String, String)] = [
            ("missing.key", "mesh key file \(folder)/missing.key does not exist"),
            ("open.key", "mesh key file \(folder)/open.key is readable by others (mode 644): run chmod 600 \(folder)/open.key"),
            ("short.key", "has a key line of 6 characters (expected 64 hex digits)"),
            ("nothex.key", "has a key line that is not hex"),
            ("empty.key", "holds no key"),
            ("two.key", "holds 2 lines besides comments"),
        ]
        for (file, message) in cases {
            let problems = Self.problems("[mesh]\nkey_file = \"\(file)\"\n", in: folder)
            #expect(problems.count == 1 && problems[0].hasPrefix("[mesh].key_file: ") && problems[0].contains(message), "\(file): \(problems)")
        }
        #expect(Self.problems("[mesh]\nkey_files = [\"a.key\", \"a-again.key\"]\n", in: folder) == [
            "[mesh].key_files[1]: \(folder)/a-again.key holds the same key as an earlier file"
        ])
    }

    @Test("[mesh] refuses unknown keys, both key_file and key_files, empty lists and allowlist entries that are not node IDs")
    func badSettings() throws {
        let folder = try Self.folder()
        _ = try Self.keyFile(folder, "a.key", Self.keyA)
        #expect(Self.problems("[mesh]\nkeyfile = \"a.key\"\n", in: folder) == ["unknown key \"keyfile\" in [mesh] (known: allow, key_file, key_files, max_members)"])
        #expect(Self.problems("[mesh]\nkey_file = \"a.key\"\nkey_files = [\"a.key\"]\n", in: folder).contains {
            $0.hasPrefix("[mesh] has both key_file and key_files: give one")
        })
        #expect(Self.problems("[mesh]\nkey_files = []\n", in: folder) == ["[mesh].key_files is empty: list at least one key file"])
        #expect(Self.problems("[mesh]\nallow = []\n", in: folder).first?.hasPrefix("[mesh].allow is empty") == true)
        #expect(Self.problems("[mesh]\nallow = [\"\(Self.nodeID)\", \"node-2\"]\n", in: folder) == [
            "[mesh].allow[1] \"node-2\" is not a node ID (n and 52 base32 characters, as `inos id` prints it)"
        ])
        #expect(Self.problems("[mesh]\nkey_file = 7\n", in: folder) == ["[mesh].key_file must be a string"])
        #expect(Self.problems("mesh = 1\n", in: folder) == ["mesh in the top level must be a table"])
    }

    @Test("[credits] issuers are node IDs and [cache] size_mib a size in range; anything else, and unknown keys, are reported")
    func creditIssuers() throws {
        let manifest = try Manifest.parse("[credits]\nissuers = [\"\(Self.nodeID)\"]\n")
        #expect(manifest.creditIssuers == [Self.nodeID])
        #expect(try Manifest.parse("").creditIssuers.isEmpty, "no [credits]: no economy")
        #expect(ManifestTests.problems("[credits]\nissuers = [\"treasury\"]\n") == [
            "[credits].issuers[0] \"treasury\" is not a node ID (n and 52 base32 characters, as `inos id` prints it)"
        ])
        #expect(ManifestTests.problems("[credits]\nissuer = []\n") == ["unknown key \"issuer\" in [credits] (known: grace_seconds, issuers, period_seconds)"])
        // The accounting period and grace: defaults (nil) unless set; a period under a minute is refused.
        let billed = try Manifest.parse("[credits]\nperiod_seconds = 3600\ngrace_seconds = 0\n")
        #expect(billed.creditPeriodSeconds == 3600 && billed.creditGraceSeconds == 0)
        #expect(try Manifest.parse("").creditPeriodSeconds == nil)
        #expect(ManifestTests.problems("[credits]\nperiod_seconds = 5\n") == ["[credits].period_seconds = 5 is out of range 60...31622400"])
        #expect(ManifestTests.problems("[credits]\ngrace_seconds = -1\n") == ["[credits].grace_seconds = -1 is out of range 0...31622400"])
        // [cache] size_mib: the edge cache's bound (default 256 MiB, 0 keeps nothing fetched).
        #expect(try Manifest.parse("").cacheBytes == 256 << 20)
        #expect(try Manifest.parse("[cache]\nsize_mib = 0\n").cacheBytes == 0)
        #expect(try Manifest.parse("[cache]\nsize_mib = 1024\n").cacheBytes == 1 << 30)
        #expect(ManifestTests.problems("[cache]\nsize_mib = -1\n").first?.hasPrefix("[cache].size_mib = -1 is out of range") == true)
    }

    @Test("a key file's text round-trips and carries a comment header with the key ID")
    func keyFileText() throws {
        let key = (0..<32).map { UInt8($0 * 7 & 0xff) }
        let text = MeshKeyFile.encode(key, id: "0123456789abcdef")
        #expect(text.hasPrefix("# inos mesh key"))
        #expect(text.contains("# key id 0123456789abcdef\n"))
        #expect(try MeshKeyFile.decode(text) == key)
        #expect(try MeshKeyFile.decode(text.uppercased()) == key)  // upper-case hex
    }
}
