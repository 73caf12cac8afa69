// SPDX-License-Identifier: Apache-2.0

/// Lamport time: every mesh event and record carries one; causally later events carry larger ones.
/// `tick()` before a local event or a send, `witness(_:)` on receipt (max + 1), so if a → b then L(a) < L(b).
///
/// Never traps, and never passes ``maximum`` (2^62, the largest time the wire carries: `WireLimits.maximumLamport`),
/// where time stops moving and order among events stamped then is lost. Decoders refuse remote times above it, and a
/// peer that sends exactly 2^62 moves this clock to 2^62, not past: a clock that passed it would stamp every message
/// this node sends with a time its peers refuse as malformed — one frame would have cut the node off (found by the
/// SWIM fuzz target). Docs/wire.md, "Values from peers".
public struct LamportClock: Sendable, Equatable {
    /// The largest time a clock reaches: what the wire carries.
    public static let maximum: UInt64 = 1 << 62

    public private(set) var time: UInt64

    /// Starts at `time`, or at ``maximum`` if above it.
    public init(_ time: UInt64 = 0) { self.time = min(time, Self.maximum) }

    /// A local event or a send: the new time.
    @discardableResult
    public mutating func tick() -> UInt64 {
        time = min(time.saturatingAdd(1), Self.maximum)
        return time
    }

    /// A local event whose time must also be at least `floor` (a wall clock, so a restarted process moves
    /// forward): max(time + 1, floor).
    @discardableResult
    public mutating func tick(atLeast floor: UInt64) -> UInt64 {
        time = min(max(time.saturatingAdd(1), floor), Self.maximum)
        return time
    }

    /// A received timestamp: time becomes max(local, remote) + 1.
    @discardableResult
    public mutating func witness(_ remote: UInt64) -> UInt64 {
        time = min(max(time, remote).saturatingAdd(1), Self.maximum)
        return time
    }
}
