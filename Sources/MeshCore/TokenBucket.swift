// SPDX-License-Identifier: Apache-2.0

/// A token bucket on a caller-supplied clock (no I/O, no sleeping): at most `rate` units per second on
/// average, in bursts of at most `burst`. Repair uses it for bytes pushed, so background copies never take the
/// bandwidth foreground reads need; tests drive it on virtual time.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    public private(set) var available: Double
    public private(set) var at: UInt64

    /// Starts full at `now` (nanoseconds).
    public init(rate: Double, burst: Double? = nil, now: UInt64) {
        precondition(rate > 0 && rate.isFinite)
        self.rate = rate
        self.burst = max(1, burst ?? rate)
        available = self.burst
        at = now
    }

    /// Takes `amount` units at `now` if the bucket holds them, and answers 0; otherwise takes nothing and answers
    /// the seconds to wait before asking again. A request larger than the burst is let through once the bucket
    /// is full (it goes into debt), so no size is refused forever.
    public mutating func take(_ amount: Double, now: UInt64) -> Double {
        if now > at {
            available = min(burst, available + Double(now - at) / 1e9 * rate)
            at = now
        }
        if available >= amount || available >= burst {
            available -= amount
            return 0
        }
        return (min(amount, burst) - available) / rate
    }
}
