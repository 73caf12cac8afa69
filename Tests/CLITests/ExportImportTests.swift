// SPDX-License-Identifier: Apache-2.0
import Crypto
import Foundation
import HostTestSupport
import Testing

/// `inos export --car` and `inos import` as a user runs them: the CAR of a stored resource is byte for byte the
/// one the independent vectors name (Tests/Fixtures/unixfs), and importing it gives the resource back.
@Suite("IPFS export and import")
struct ExportImportTests {
    struct Vector: Decodable {
        var name: String
        var size: Int?
        var seed: Int?
        var root: String
        var car_sha256: String?
    }

    struct Vectors: Decodable { var vectors: [Vector] }

    static func vector(_ name: String) throws -> Vector {
        let path = SystemdTests.root.appendingPathComponent("Tests/Fixtures/unixfs/vectors.json")
        return try #require(try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: path)).vectors.first { $0.name == name })
    }

    static func hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    @Test("a 3.5 MiB resource exports to the vector's CAR and root CID; imported elsewhere it reads back the same; through a running node too")
    func roundTrip() throws {
        let vector = try Self.vector("three-and-a-half-MiB")
        let root = try OperatorProcessTests.folder("car")
        let input = root + "/input.bin"
        let bytes = (0..<vector.size!).map { i in UInt8(truncatingIfNeeded: ((i * 31 + vector.seed!) * 7 + (i >> 10))) }
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))

        let cid = try CLITests.run(["export", id, "--cid", "--data-dir", root + "/a"])
        #expect(cid.output.trimmingCharacters(in: .whitespacesAndNewlines) == vector.root, "\(cid.output)")
        let export = try CLITests.run(["export", id, "--car", root + "/a.car", "--data-dir", root + "/a"])
        #expect(export.status == 0 && export.output.contains(vector.root), "\(export.output)")
        #expect(Self.hex(try Data(contentsOf: URL(fileURLWithPath: root + "/a.car"))) == vector.car_sha256)

        let imported = try CLITests.run(["import", root + "/a.car", "--data-dir", root + "/b"])
        #expect(imported.status == 0 && imported.output.contains("lays out to the same root"), "\(imported.output)")
        let newID = try #require(imported.output.split(separator: "\n").last.map(String.init))
        #expect(try CLITests.run(["get", newID, "-o", root + "/b.out", "--data-dir", root + "/b"]).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/b.out"))

        // A damaged archive is refused, naming the block.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: root + "/a.car"))
        damaged[damaged.count / 2] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: root + "/bad.car"))
        let refused = try CLITests.run(["import", root + "/bad.car", "--data-dir", root + "/c"])
        #expect(refused.status != 0 && refused.output.contains("does not hash to its CID"), "\(refused.output)")

        // With a node on the data directory, export and import go through it.
        let node = try OperatorProcessTests.node(root + "/a")
        defer { _ = node.stop() }
        let viaNode = try CLITests.run(["export", id, "--car", root + "/n.car", "--data-dir", root + "/a"])
        #expect(viaNode.status == 0 && viaNode.output.contains("(by the running node)"), "\(viaNode.output)")
        #expect(Self.hex(try Data(contentsOf: URL(fileURLWithPath: root + "/n.car"))) == vector.car_sha256)
        let listed = try CLITests.run(["status", "--resources", "--data-dir", root + "/a"])
        #expect(listed.status == 0 && listed.output.contains(id) && listed.output.contains(vector.root), "\(listed.output)")
        let viaNodeImport = try CLITests.run(["import", root + "/a.car", "--data-dir", root + "/a"])
        #expect(viaNodeImport.status == 0 && viaNodeImport.output.split(separator: "\n").last.map(String.init) == id, "\(viaNodeImport.output)")
    }
}
