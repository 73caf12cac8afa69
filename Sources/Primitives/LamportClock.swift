// SPDX-License-Identifier: Apache-2.0

/// Lamport time: every mesh event and record carries one; causally later events carry larger ones.
/// `tick()` before a local event or a send, `witness(_:)` on receipt (max + 1), so if a → b then L(a) < L(b).
///
/// Never traps, and never passes ``maximum`` (2^62, the largest time the wire carries: `WireLimits.maximumLamport`),
/// where time stops moving and order among events stamped then is lost. Decoders refuse remote times above it, and a
/// peer that sends exactly 2^62 moves this clock to 2^62, not past: a clock that passed it would stamp every message
/// this node sends with a time its peers refuse as malformed — one frame would have cut the node off (found by the
/// SWIM fuzz target). Docs/wire.md, "Values from peers".
///
/// A peer can still send any time up to 2^62, and witnessing it would move this clock there — and every clock
/// that hears from this node after, mesh-wide, until all of them are stuck at the maximum. So a clock has a
/// ``ceiling``: a remote time above it is not witnessed (the message itself is still handled; only its time
/// does not move the clock) and is counted in ``refused``. A node's clock (``NodeLamport``) keeps its ceiling at
/// its wall clock in microseconds plus ``wallAllowance``: honest times start at a wall clock and grow far slower
/// than one per microsecond, so only a peer's lie (or a machine whose clock is a day off) goes above it.
public struct LamportClock: Sendable, Equatable {
    /// The largest time a clock reaches: what the wire carries.
    public static let maximum: UInt64 = 1 << 62
    /// How far past its own wall clock (µs) a node's clock witnesses remote times: one day.
    public static let wallAllowance: UInt64 = 86_400 * 1_000_000

    public private(set) var time: UInt64
    /// The largest remote time ``witness(_:)`` takes; ``maximum`` unless set.
    public var ceiling: UInt64 = Self.maximum
    /// Remote times above ``ceiling`` that were not witnessed.
    public private(set) var refused: UInt64 = 0

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

    /// A received timestamp: time becomes max(local, remote) + 1 — or, for a remote time above ``ceiling``,
    /// local + 1, and the refusal is counted.
    @discardableResult
    public mutating func witness(_ remote: UInt64) -> UInt64 {
        guard remote <= ceiling else {
            refused &+= 1
            return tick()
        }
        time = min(max(time, remote).saturatingAdd(1), Self.maximum)
        return time
    }

    /// Takes another clock's time where it is later, and its ceiling and refusal count: how a state machine's
    /// clock is loaded from the node's before a call (``NodeLamport/stamping(_:clock:_:)``).
    public mutating func load(_ node: LamportClock) {
        time = max(time, node.time)
        ceiling = node.ceiling
        refused = node.refused
    }
}
