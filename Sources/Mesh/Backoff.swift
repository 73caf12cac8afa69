// SPDX-License-Identifier: Apache-2.0

/// Reconnect delays: exponential from `base` to `cap`, each with ±`jitter` (a fraction) so that many nodes
/// losing the same peer do not redial in lockstep. Deterministic for a seed.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double
    public var jitter: Double
    private var state: UInt64

    public init(base: Double = 0.5, cap: Double = 30, jitter: Double = 0.2, seed: UInt64 = 0x5DEE_CE66_D1CE_4E5B) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
        state = seed | 1
    }

    /// The delay before reconnect attempt `attempt` (0 for the first retry), in seconds.
    public mutating func delay(attempt: Int) -> Double {
        let plain = min(cap, base * Double(1 << min(attempt, 30)))
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let unit = Double(state >> 11) / Double(1 << 53)  // 0 ..< 1
        return max(0, plain * (1 + jitter * (2 * unit - 1)))
    }
}
