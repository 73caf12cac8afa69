// SPDX-License-Identifier: Apache-2.0

extension GossipNode {
    /// A node with the simulator's stand-in credentials (``MemberCredentials/simulated(member:)``), for tests.
    package convenience init(simulated id: MemberID, fanout: Int = 8, maxHops: UInt8 = 12, seenCapacity: Int = 65_536, seed: UInt64) {
        self.init(id: id, credentials: .simulated(member: id), fanout: fanout, maxHops: maxHops, seenCapacity: seenCapacity, seed: seed)
    }
}
