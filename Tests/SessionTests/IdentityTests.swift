// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Identity
import Testing

@Suite("Node identity")
struct IdentityTests {
    let folder = PluginFixtures.directory.appendingPathComponent("identity-\(UUID().uuidString)").path

    @Test("created once with mode 0600, loaded to the same node ID after; the text form round-trips")
    func createAndReload() throws {
        let first = try NodeIdentity.loadOrCreate(in: folder)
        let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/identity.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try NodeIdentity.loadOrCreate(in: folder)
        #expect(again.id == first.id)
        #expect(again.publicKey == first.publicKey)
        #expect(NodeID(first.id.description) == first.id)
        #expect(first.id.description.hasPrefix("n") && first.id.description.count == 53)
        #expect(NodeID("x" + first.id.description.dropFirst()) == nil)
        #expect(NodeID("n123") == nil)
        #expect(NodeIdentity.ephemeral().id != first.id)
    }

    @Test("a key readable by others, a truncated key and a damaged key are refused with a clear error")
    func badFiles() throws {
        _ = try NodeIdentity.loadOrCreate(in: folder)
        let path = folder + "/identity.key"
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        let open = #expect(throws: IdentityError.self) { try NodeIdentity.load(path) }
        #expect(open?.code == .insecure)
        #expect(open?.message.contains("chmod 600") == true)
        chmod(path, 0o600)
        try good.prefix(20).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect((#expect(throws: IdentityError.self) { try NodeIdentity.load(path) })?.code == .malformed)
        var damaged = good
        damaged[12] ^= 1
        try damaged.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let broken = #expect(throws: IdentityError.self) { try NodeIdentity.load(path) }
        #expect(broken?.message.contains("checksum") == true)
    }

    @Test("signatures verify for their key and message only")
    func signatures() {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let message = Array("chunk record".utf8)
        let signature = a.sign(message)
        #expect(NodeIdentity.verify(signature, of: message, by: a.publicKey))
        #expect(!NodeIdentity.verify(signature, of: message, by: b.publicKey))
        #expect(!NodeIdentity.verify(signature, of: message + [0], by: a.publicKey))
        #expect(!NodeIdentity.verify(Array(signature.dropLast()), of: message, by: a.publicKey))
    }
}
