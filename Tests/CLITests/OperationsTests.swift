// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// The operator's side of the CLI: progress as data, `inos init` and `inos config show`, and the node's logs.
@Suite("Operations: progress, set-up, logs")
struct OperationsTests {
    static func folder(_ name: String) throws -> String {
        let path = PluginFixtures.directory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func file(_ path: String, bytes: Int, seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        try Data((0..<bytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: URL(fileURLWithPath: path))
    }

    /// The NDJSON progress objects in `output`.
    static func progress(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").filter { $0.hasPrefix("{\"") }.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    @Test("put, get and fetch with --progress json write NDJSON updates and one final object; none writes nothing")
    func progressAsData() throws {
        let root = try Self.folder("progress")
        let input = root + "/input.bin"
        try Self.file(input, bytes: 3 << 20 + 12_345, seed: 7)
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a", "--progress", "json", "--chunk-kib", "256"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let updates = try Self.progress(put.output)
        let last = try #require(updates.last)
        #expect(updates.allSatisfy { $0["op"] as? String == "put" })
        #expect(updates.filter { $0["done"] as? Bool == true }.count == 1)
        #expect(last["done"] as? Bool == true)
        #expect(last["bytes_total"] as? Int == 3 << 20 + 12_345)
        #expect(last["bytes_done"] as? Int == 3 << 20 + 12_345)
        #expect(last["rate_bytes_per_second"] is Double || last["rate_bytes_per_second"] is Int)
        // A local put knows no holders: left out, not faked.
        #expect(last["holders"] == nil && last["failed"] == nil)

        let get = try CLITests.run(["get", id, "-o", root + "/out.bin", "--data-dir", root + "/a", "--progress", "json"])
        #expect(get.status == 0, "\(get.output)")
        let got = try #require(try Self.progress(get.output).last)
        #expect(got["op"] as? String == "get" && got["done"] as? Bool == true && got["bytes_done"] as? Int == 3 << 20 + 12_345)

        let quiet = try CLITests.run(["get", id, "-o", root + "/out2.bin", "--data-dir", root + "/a", "--progress", "none"])
        #expect(quiet.status == 0)
        #expect(try Self.progress(quiet.output).isEmpty && !quiet.output.contains("\r"), "\(quiet.output)")
        // Not a terminal (a pipe here): no progress by default.
        let plain = try CLITests.run(["get", id, "-o", root + "/out3.bin", "--data-dir", root + "/a"])
        #expect(try Self.progress(plain.output).isEmpty && !plain.output.contains("get ["), "\(plain.output)")

        let node = try NodeProcessTests.NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0"])
        defer { _ = node.stop() }
        let fetch = try CLITests.run(["fetch", id, "--from", try node.address(), "--data-dir", root + "/b", "--progress", "json"])
        #expect(fetch.status == 0, "\(fetch.output)")
        let fetched = try Self.progress(fetch.output).filter { $0["op"] as? String == "fetch" }
        let final = try #require(fetched.last)
        #expect(final["done"] as? Bool == true)
        let total = try #require(final["pieces_total"] as? Int)
        #expect(total >= 13, "13 chunks of 256 KiB and their parity: \(final)")
        #expect(final["pieces_done"] as? Int == total && final["holders"] as? Int == 1)
    }

    @Test("a bad --progress value is a usage error naming the choices")
    func badProgressMode() throws {
        let result = try CLITests.run(["put", "/nonexistent", "--progress", "fancy"])
        #expect(result.status == 64)
        #expect(result.output.contains("text") && result.output.contains("json") && result.output.contains("none"), "\(result.output)")
    }

    @Test("inos init writes a commented manifest that plugins check accepts; it refuses to overwrite without --force")
    func initProfiles() throws {
        for profile in ["local", "server"] {
            let root = try Self.folder("init-\(profile)")
            let made = try CLITests.run(["init", "--profile", profile, "--data-dir", root])
            #expect(made.status == 0, "\(made.output)")
            let path = root + "/inos.toml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for section in ["[node]", "[mesh]", "[compute]", "[arena]", "[[plugins]]"] {
                #expect(text.contains(section), "\(profile): \(section) missing")
                // Each section is explained: a comment right before or after its header.
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                let at = try #require(lines.firstIndex { $0 == section })
                #expect(lines[at + 1].hasPrefix("#") || (at > 0 && lines[at - 1].hasPrefix("#")), "\(profile): \(section) has no comment")
            }
            let check = try CLITests.run(["plugins", "check", path])
            #expect(check.status == 0, "\(profile): \(check.output)")
            #expect(check.output.contains("✓ InosPackStore"), "\(check.output)")
            if profile == "server" {
                #expect(text.contains("listen = [\"tcp://0.0.0.0:7400\"]"))
                #expect(text.contains("key_file"), "the server profile says where the mesh key goes")
                #expect(check.output.contains("arena 256 MiB"), "\(check.output)")
            } else {
                #expect(text.contains("listen = []") && check.output.contains("arena 48 MiB"), "\(check.output)")
            }
            let again = try CLITests.run(["init", "--profile", profile, "--data-dir", root])
            #expect(again.status == 1)
            #expect(again.output.contains("exists: pass --force to overwrite it"), "\(again.output)")
            #expect(try CLITests.run(["init", "--profile", profile, "--data-dir", root, "--force"]).status == 0)
        }
    }

    @Test("config show names every setting's value and source: default, manifest, flag, environment")
    func configShow() throws {
        let root = try Self.folder("config")
        let embedded = try CLITests.run(["config", "show", "--json"], environment: ["INOS_DATA_DIR": root])
        #expect(embedded.status == 0, "\(embedded.output)")
        func settings(_ output: String) throws -> [String: (value: Any, source: String)] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let rows = try #require(object["settings"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: rows.compactMap { row in
                (row["key"] as? String).map { ($0, (row["value"] ?? "", row["source"] as? String ?? "")) }
            })
        }
        let before = try settings(embedded.output)
        #expect(before["data_dir"]?.source == "environment")
        #expect(before["data_dir"]?.value as? String == root)
        #expect(before["manifest"]?.source == "default")
        #expect(before["node.name"]?.source == "default" && before["node.name"]?.value as? String == "inos-local")
        #expect(before["arena.size_mib"]?.value as? String == "48")

        #expect(try CLITests.run(["init", "--profile", "server", "--data-dir", root]).status == 0)
        let manifest = try CLITests.manifest("[node]\nname = \"custom\"\n[arena]\nsize_mib = 64\n")
        let shown = try CLITests.run(["config", "show", "--json", "--manifest", manifest, "--data-dir", root])
        #expect(shown.status == 0, "\(shown.output)")
        let after = try settings(shown.output)
        #expect(after["manifest"]?.source == "flag" && after["data_dir"]?.source == "flag")
        #expect(after["node.name"]?.source == "manifest" && after["node.name"]?.value as? String == "custom")
        #expect(after["arena.size_mib"]?.source == "manifest" && after["arena.size_mib"]?.value as? String == "64")
        #expect(after["arena.inbox_kib"]?.source == "default")
        #expect(after["compute.allow"]?.source == "default")
        // Without --manifest the data directory's inos.toml (the server profile) applies.
        let discovered = try settings(try CLITests.run(["config", "show", "--json", "--data-dir", root]).output)
        #expect(discovered["manifest"]?.value as? String == root + "/inos.toml")
        #expect(discovered["node.listen"]?.value as? [String] == ["tcp://0.0.0.0:7400"] && discovered["node.listen"]?.source == "manifest")
        let text = try CLITests.run(["config", "show", "--data-dir", root])
        #expect(text.output.contains("KEY") && text.output.contains("arena.size_mib") && text.output.contains("manifest"), "\(text.output)")
    }

    @Test("inos node --log-format json writes one JSON object per line, labelled by subsystem; --log-level filters")
    func nodeLogs() throws {
        let root = try Self.folder("logs")
        let node = try NodeProcessTests.NodeProcess(
            manifest: nil, arguments: ["--data-dir", root, "--listen", "tcp://127.0.0.1:0", "--log-format", "json", "--log-level", "debug"])
        _ = try node.address()
        #expect(node.output.waitFor("\"message\":\"ready: "), "\(node.output.text)")
        #expect(node.stop() == 0)
        let lines = node.output.text.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count >= 5, "\(node.output.text)")
        var labels: Set<String> = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            for key in ["time", "level", "label", "message", "metadata", "source"] { #expect(object[key] != nil, "\(key) missing: \(line)") }
            if let label = object["label"] as? String { labels.insert(label) }
        }
        #expect(labels.isSuperset(of: ["inos.node", "inos.host"]), "\(labels)")
        #expect(node.output.text.contains("\"message\":\"node stopped\""), "\(node.output.text)")

        let quiet = try NodeProcessTests.NodeProcess(manifest: nil, arguments: ["--data-dir", root, "--run-for", "0.5", "--log-level", "error"])
        quiet.process.waitUntilExit()
        #expect(quiet.process.terminationStatus == 0)
        #expect(!quiet.output.text.contains(" info "), "\(quiet.output.text)")
        let bad = try CLITests.run(["node", "--log-level", "loud"])
        #expect(bad.status == 64, "\(bad.output)")
    }
}

/// Progress of the mesh operations, with the other multi-process suites (one after another).
extension MeshProcessTests {
@Suite("Progress across node processes")
struct MeshProgressTests {
    @Test("put --mesh, get --mesh and job submit report pieces and holders as NDJSON")
    func meshProgress() throws {
        let root = try OperationsTests.folder("mesh-progress")
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1"]
        let a = try NodeProcessTests.NodeProcess(manifest: try MeshProcessTests.JobDistributionTests.manifest(store: root + "/a/store"), arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop(SIGKILL) }
        let seed = try a.address()
        let b = try NodeProcessTests.NodeProcess(
            manifest: try MeshProcessTests.JobDistributionTests.manifest(store: root + "/b/store"), arguments: ["--data-dir", root + "/b", "--bootstrap", seed] + common)
        defer { _ = b.stop(SIGKILL) }
        for node in [a, b] { #expect(node.output.waitFor("members 1 alive, 0 suspect, 0 dead, status from 1,", seconds: 60), "\(node.output.text)") }
        let input = root + "/input.bin"
        try OperationsTests.file(input, bytes: 3_000_000, seed: 33)

        let put = try CLITests.run(["put", input, "--mesh", seed, "--data-dir", root + "/client", "--progress", "json"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let pushed = try #require(try OperationsTests.progress(put.output).last)
        #expect(pushed["op"] as? String == "put" && pushed["done"] as? Bool == true, "\(pushed)")
        let pieces = try #require(pushed["pieces_total"] as? Int)
        #expect(pieces > 0 && pushed["pieces_done"] as? Int == pieces, "\(pushed)")
        #expect(pushed["holders"] as? Int == 2, "\(pushed)")
        #expect((pushed["bytes_total"] as? Int ?? 0) >= 3_000_000 / 2, "\(pushed)")

        let get = try CLITests.run(["get", id, "--mesh", seed, "-o", root + "/copy.bin", "--data-dir", root + "/reader", "--progress", "json"])
        #expect(get.status == 0, "\(get.output)")
        let read = try #require(try OperationsTests.progress(get.output).last)
        #expect(read["op"] as? String == "get" && read["done"] as? Bool == true && (read["holders"] as? Int ?? 0) >= 1, "\(read)")
        #expect(read["pieces_done"] as? Int == read["pieces_total"] as? Int, "\(read)")

        let job = try CLITests.run([
            "job", "submit", "slow-length", "--parameters", "0", "--reduce", "sum", "--input", id, "--mesh", seed, "--data-dir", root + "/client",
            "--progress", "json",
        ])
        #expect(job.status == 0, "\(job.output)")
        let ran = try #require(try OperationsTests.progress(job.output).last)
        #expect(ran["op"] as? String == "job" && ran["done"] as? Bool == true, "\(ran)")
        #expect(ran["pieces_total"] as? Int == 3 && ran["pieces_done"] as? Int == 3 && ran["bytes_done"] as? Int == 3_000_000, "\(ran)")
    }
}
}
