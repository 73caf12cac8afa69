// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Testing

@testable import Mesh

/// Byte layouts peers must agree on in the mesh layer, pinned as literal bytes and values.
@Suite("Golden bytes: member IDs and provider records")
struct MeshGoldenBytesTests {
    static let counting = (0..<32).map { UInt8($0) }

    @Test("a member ID is a node ID's first 8 bytes, big-endian")
    func memberID() {
        #expect(Membership.member(NodeID(bytes: Self.counting)!) == 0x0001_0203_0405_0607)
        #expect(Membership.member(NodeID(bytes: [0xFF] + [UInt8](repeating: 0, count: 31))!) == 0xFF00_0000_0000_0000)
    }

    @Test("a provider record's Merkle key is the resource key's first 24 bytes big-endian, then the member")
    func providerItemKey() {
        #expect(ProviderStore.itemKey(Self.counting, 0xDEAD_BEEF) == Key256(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F, 0x1011_1213_1415_1617, 0xDEAD_BEEF))
    }

    static let record = ProviderRecord(member: 0x0102_0304_0506_0708, address: "tcp://a:1", ttl: 0x0A0B_0C0D, lamport: 0x1112_1314_1516_1718)

    @Test("a provider record's signed bytes: domain, key, member, address, TTL, Lamport — integers little-endian")
    func providerSignedBytes() {
        let expected = Array("inos-provider-v1".utf8) + Self.counting + [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
            + [9] + Array("tcp://a:1".utf8) + [0x0D, 0x0C, 0x0B, 0x0A] + [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11]
        #expect(Self.record.signedBytes(key: Self.counting) == expected)
    }

    @Test("a provider record on the wire: key, member, TTL, Lamport, address, and zeros for a missing key and signature")
    func providerEncoding() {
        let expected = Self.counting + [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01] + [0x0D, 0x0C, 0x0B, 0x0A]
            + [0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11] + [9] + Array("tcp://a:1".utf8) + [UInt8](repeating: 0, count: 96)
        let encoded = ProviderRecord.encode(key: Self.counting, Self.record)
        #expect(encoded == expected)
        let decoded = ProviderRecord.decode(encoded[...])
        #expect(decoded?.key == Self.counting && decoded?.rest.isEmpty == true)
        #expect(decoded?.record.lamport == Self.record.lamport && decoded?.record.address == Self.record.address)
    }
}
