// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

/// Byte layouts that peers (or stored trees) must agree on, pinned as literal bytes and values: a change to how
/// they are written fails here, not on a mixed-version mesh.
@Suite("Golden bytes: keys, ledger entries and Merkle digests")
struct GoldenBytesTests {
    static let counting = (0..<32).map { UInt8($0) }
    static let payer = (0..<32).map { UInt8(0xA0 + $0 % 16) }

    @Test("Key256 from 32 bytes is big-endian, four words")
    func key256() {
        let key = Key256(bytes: Self.counting)!
        #expect(key == Key256(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F, 0x1011_1213_1415_1617, 0x1819_1A1B_1C1D_1E1F))
        #expect(Key256(bytes: Array(Self.counting.prefix(31))) == nil)
    }

    static let entry = LedgerEntry(
        payer: payer, payee: counting, lamport: 0x0102_0304_0506_0708, amount: 0x1122, resource: counting, bytes: 0x3344,
        payerKey: counting)

    @Test("a ledger entry's key is the payer then its Lamport time big-endian; its tree key the payer's 24 bytes and the time")
    func ledgerKeys() {
        #expect(Self.entry.key == Self.payer + [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
        #expect(Ledger.treeKey(Self.entry) == Key256(0xA0A1_A2A3_A4A5_A6A7, 0xA8A9_AAAB_ACAD_AEAF, 0xA0A1_A2A3_A4A5_A6A7, 0x0102_0304_0506_0708))
    }

    @Test("a ledger entry's signed bytes: domain, IDs, then Lamport, amount and bytes little-endian")
    func ledgerSignedBytes() {
        let fixed: [UInt8] = [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x22, 0x11, 0, 0, 0, 0, 0, 0, 0x44, 0x33, 0, 0, 0, 0, 0, 0]
        #expect(Self.entry.signedBytes == Array("inos-ledger-v1".utf8) + Self.payer + Self.counting + fixed + Self.counting + Self.counting)
    }

    /// A tree whose items sit in different leaves and share one, so the item digest input (key words
    /// big-endian, then the value) and the inner digest input (16 child hashes big-endian) both count.
    static func tree(depth: Int) -> MerkleReplica {
        var tree = MerkleReplica(depth: depth, digest: fnv1a64)
        tree.set(Key256(bytes: counting)!, [1, 2, 3])
        tree.set(Key256(0xF000_0000_0000_0001, 2, 3, 4), [])
        tree.set(Key256(0xF000_0000_0000_0002, 0, 0, 0), Array("value".utf8))
        tree.set(Key256(0x1234_5678_9ABC_DEF0, 0, 0, 0xFFFF_FFFF_FFFF_FFFF), [0xFF])
        return tree
    }

    @Test("Merkle roots and children over fnv1a64 (what peers compare in MERKLE replies)")
    func merkleDigests() {
        var shallow = Self.tree(depth: 2)
        #expect(shallow.root() == 18_162_401_422_829_715_603)
        #expect(shallow.children(level: 0, node: 0)[0xF] == 1_905_481_241_804_005_928)
        // Leaf 0xF0 holds two items: fnv1a64(f000000000000001 ‖ 2 ‖ 3 ‖ 4, big-endian) + fnv1a64(f000000000000002 ‖
        // 0 ‖ 0 ‖ 0 ‖ "value"), computed apart from this code.
        #expect(shallow.children(level: 1, node: 0xF)[0] == 4_036_679_467_447_061_965)
        var deep = Self.tree(depth: 4)
        #expect(deep.root() == 4_348_475_804_626_202_893)
        #expect(deep.children(level: 1, node: 1).reduce(0, ^) == 10_893_982_362_616_725_287)
    }
}
