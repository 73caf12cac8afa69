// SPDX-License-Identifier: Apache-2.0

/// Lamport time: every mesh event and record carries one; causally later events carry larger ones.
/// `tick()` before a local event or a send, `witness(_:)` on receipt (max + 1), so if a → b then L(a) < L(b).
///
/// Never traps: both saturate at `UInt64.max` (where time stops moving, and order among events stamped then is
/// lost). Decoders refuse remote times above `WireLimits.maximumLamport` (2^62), so a peer cannot push a
/// clock there; saturation is the second line of defence (docs/wire.md, "Values from peers").
public struct LamportClock: Sendable, Equatable {
    public private(set) var time: UInt64

    public init(_ time: UInt64 = 0) { self.time = time }

    /// A local event or a send: the new time.
    @discardableResult
    public mutating func tick() -> UInt64 {
        time = time.saturatingAdd(1)
        return time
    }

    /// A local event whose time must also be at least `floor` (a wall clock, so a restarted process moves
    /// forward): max(time + 1, floor).
    @discardableResult
    public mutating func tick(atLeast floor: UInt64) -> UInt64 {
        time = max(time.saturatingAdd(1), floor)
        return time
    }

    /// A received timestamp: time becomes max(local, remote) + 1.
    @discardableResult
    public mutating func witness(_ remote: UInt64) -> UInt64 {
        time = max(time, remote).saturatingAdd(1)
        return time
    }
}
