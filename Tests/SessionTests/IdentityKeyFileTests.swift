// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

@testable import Identity

/// The identity key file's bytes, pinned: a node must keep loading the key files it wrote before.
@Suite("Golden bytes: the identity key file")
struct IdentityKeyFileTests {
    let folder = PluginFixtures.directory.appendingPathComponent("identity-golden-\(UUID().uuidString)").path
    static let seed = (0..<32).map { UInt8($0) }
    /// "INOSKEY1" ‖ seed ‖ the first 4 bytes of SHA-256(seed) as a little-endian u32 (SHA-256 of 00…1f starts 630dcd29).
    static let file = Array("INOSKEY1".utf8) + seed + [0x63, 0x0D, 0xCD, 0x29]

    @Test("a seed's key file is magic, seed and checksum; those bytes load back to the same key, one flipped checksum bit does not")
    func keyFile() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/identity.key"
        let identity = NodeIdentity(seed: Self.seed)
        try identity.write(to: path)
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == Self.file)
        #expect(NodeIdentity.checksum(Self.seed) == 0x29CD_0D63)

        let written = folder + "/written.key"
        #expect(FileManager.default.createFile(atPath: written, contents: Data(Self.file), attributes: [.posixPermissions: 0o600]))
        #expect(try NodeIdentity.load(written).publicKey == identity.publicKey)
        var damaged = Self.file
        damaged[43] ^= 0x80
        #expect(FileManager.default.createFile(atPath: written, contents: Data(damaged), attributes: [.posixPermissions: 0o600]))
        #expect(throws: IdentityError.self) { try NodeIdentity.load(written) }
    }
}
