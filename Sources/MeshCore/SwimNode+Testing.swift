// SPDX-License-Identifier: Apache-2.0

extension SwimNode {
    /// A node with the simulator's stand-in credentials (``MemberCredentials/simulated(member:)``), for tests.
    package convenience init(simulated id: MemberID, configuration: SwimConfiguration = .init(), seed: UInt64, now: UInt64, address: String = "",
                                    incarnation: UInt32 = 0) {
        self.init(id: id, configuration: configuration, credentials: .simulated(member: id), seed: seed, now: now, address: address,
                  incarnation: incarnation)
    }

    /// The incarnation this node holds for `member`.
    package func incarnationForTesting(of member: MemberID) -> UInt32? { members[member]?.incarnation }
}
