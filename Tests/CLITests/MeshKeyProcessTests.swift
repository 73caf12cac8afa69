// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// Admission with real processes: `inos key generate`, and `inos node` processes that hold or lack the mesh key.
@Suite("Mesh key processes")
struct MeshKeyProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    static func folder(_ name: String) throws -> String {
        let root = PluginFixtures.directory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// A new key file at `path`; its key ID.
    static func generate(_ path: String) throws -> String {
        let run = try CLITests.run(["key", "generate", "--out", path])
        #expect(run.status == 0, "\(run.output)")
        return try CLITests.run(["key", "id", path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("inos key generate writes a 0600 file with a comment header and 64 hex digits, and refuses to overwrite it without --force")
    func generate() throws {
        let root = try Self.folder("keygen")
        let path = root + "/mesh.key"
        let first = try CLITests.run(["key", "generate", "--out", path])
        #expect(first.status == 0, "\(first.output)")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].hasPrefix("# inos mesh key") && lines[1].hasPrefix("# key id "), "\(text)")
        #expect(lines.last?.count == 64 && lines.last?.allSatisfy(\.isHexDigit) == true, "\(text)")
        let id = try CLITests.run(["key", "id", path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 16 && lines[1] == "# key id \(id)" && first.output.contains("wrote mesh key \(id) to \(path)"), "\(first.output)")

        let again = try CLITests.run(["key", "generate", "--out", path])
        #expect(again.status != 0 && again.output.contains("already exists"), "\(again.output)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
        #expect(try CLITests.run(["key", "generate", "--out", path, "--force"]).status == 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8) != text)
        // Without --out the key goes to standard output; two runs never repeat a key.
        let printed = try CLITests.run(["key", "generate"]).output, second = try CLITests.run(["key", "generate"]).output
        #expect(printed.hasPrefix("# inos mesh key") && printed != second, "\(printed)")
        chmod(path, 0o644)
        let loose = try CLITests.run(["key", "id", path])
        #expect(loose.status != 0 && loose.output.contains("readable by others"), "\(loose.output)")
    }

    @Test("two nodes with the same key form a mesh; a node with another key, one with none, and a dial pinned to another node ID are refused and never members")
    func admission() throws {
        let root = try Self.folder("meshkey")
        let key = root + "/mesh.key", otherKey = root + "/other.key"
        let keyID = try Self.generate(key)
        _ = try Self.generate(otherKey)
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5"]
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--mesh-key", key] + common)
        defer { _ = a.stop() }
        let seed = try a.address()
        #expect(a.output.text.contains("mesh key id \(keyID) in use"), "\(a.output.text)")
        #expect(!a.output.text.contains(try String(contentsOfFile: key, encoding: .utf8).split(separator: "\n").last!))
        let aID = try CLITests.run(["id", "--data-dir", root + "/a"]).output.trimmingCharacters(in: .whitespacesAndNewlines)

        // B holds the key and pins A's node ID in its bootstrap address.
        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--mesh-key", key, "--bootstrap", "\(seed)#\(aID)"] + common)
        defer { _ = b.stop() }
        #expect(b.output.waitFor("secure session with node \(aID)"), "\(b.output.text)")
        #expect(a.output.waitFor("members 1 alive"), "\(a.output.text)")

        // C holds another key, D none: A refuses both in the handshake.
        let c = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/c", "--mesh-key", otherKey, "--bootstrap", seed] + common)
        defer { _ = c.stop() }
        let d = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/d", "--bootstrap", seed] + common)
        defer { _ = d.stop() }
        #expect(d.output.waitFor("open mesh: any node may join"), "\(d.output.text)")
        #expect(a.output.waitFor("its proof matches none of this node's 1 key(s)"), "\(a.output.text)")
        #expect(a.output.waitFor("it offered the open-mesh handshake, without a key"), "\(a.output.text)")
        // E holds the key but expects B's ID at A's address: it refuses A.
        let bID = try CLITests.run(["id", "--data-dir", root + "/b"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let e = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/e", "--mesh-key", key, "--bootstrap", "\(seed)#\(bID)"] + common)
        defer { _ = e.stop() }
        #expect(e.output.waitFor("expected node \(bID), but the peer proved to be \(aID)"), "\(e.output.text)")

        // Membership never grew past B: wait two status rounds after the refusals.
        let statuses = a.count("status: ")
        let deadline = Date().addingTimeInterval(5)
        while a.count("status: ") < statuses + 2 && Date() < deadline { usleep(50_000) }
        #expect(a.output.text.contains("members 1 alive") && !a.output.text.contains("members 2 alive"), "\(a.output.text)")
        for outsider in [c, d] { #expect(!outsider.output.text.contains("secure session with node"), "\(outsider.output.text)") }
        #expect(!e.output.text.contains("secure session with node"), "\(e.output.text)")
    }
}
