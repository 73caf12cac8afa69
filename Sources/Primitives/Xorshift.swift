// SPDX-License-Identifier: Apache-2.0

/// Marsaglia's xorshift64: the seeded, deterministic randomness of the I/O-free state machines and simulators (the
/// same seed replays the same run). Not for anything a peer could exploit by predicting it.
public struct Xorshift: Sendable {
    private var state: UInt64

    /// A generator from `seed` (0 is mapped to a non-zero state: xorshift never leaves 0).
    public init(seed: UInt64) { state = seed | 1 }

    public mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// A number in 0..<bound (bound > 0).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
