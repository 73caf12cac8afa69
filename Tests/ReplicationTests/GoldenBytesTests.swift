// SPDX-License-Identifier: Apache-2.0
import Mesh
import Replication
import Testing

/// The placement key every node computes for a member, pinned: nodes that computed it differently would place
/// the same piece on different holders.
@Suite("Golden bytes: placement keys")
struct PlacementKeyGoldenTests {
    @Test("a member's placement key is its ID big-endian, then 24 zero bytes")
    func placementKey() {
        #expect(MemberInfo.placementKey(0x0102_0304_0506_0708) == [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08] + [UInt8](repeating: 0, count: 24))
        #expect(MemberInfo.placementKey(0xFF) == [UInt8](repeating: 0, count: 7) + [0xFF] + [UInt8](repeating: 0, count: 24))
    }
}
