// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// A node's one Lamport clock, shared by the services that stamp what the node originates — membership,
/// gossip, provider records, ledger entries — so their times are on one scale and every receipt moves them
/// all (design node-library §5.5). One per node, never per process: two nodes in one process (a test harness)
/// each have their own.
///
/// Its lock is a leaf: nothing else is locked while it is held, except the lock of a state machine that
/// loads the clock for one call (``withClock(_:)``), which is always taken first.
public final class NodeLamport: Sendable {
    private let clock: Mutex<LamportClock>
    /// The clock's ceiling now (``LamportClock/ceiling``), read each time the clock is used.
    private let ceiling: @Sendable () -> UInt64

    /// Starting at `time`; a node starts at the wall clock in microseconds, so a restarted node does not stamp
    /// below what it stamped before, and gives a `ceiling` that follows that wall clock
    /// (`NodeLamport.startingAtWallClock()`). Without one, remote times up to ``LamportClock/maximum`` are witnessed.
    public init(_ time: UInt64 = 0, ceiling: @escaping @Sendable () -> UInt64 = { LamportClock.maximum }) {
        clock = Mutex(LamportClock(time))
        self.ceiling = ceiling
    }

    public var time: UInt64 { clock.withLock { $0.time } }
    /// Remote times above the ceiling that were not witnessed (a peer's lie, or clocks set a day apart).
    public var refused: UInt64 { clock.withLock { $0.refused } }

    /// A local event or a send: the new time.
    @discardableResult
    public func tick() -> UInt64 { withClock { $0.tick() } }

    /// A local event that must also be at least `floor`: max(time + 1, floor).
    @discardableResult
    public func tick(atLeast floor: UInt64) -> UInt64 { withClock { $0.tick(atLeast: floor) } }

    /// A received timestamp: max(local, remote) + 1.
    @discardableResult
    public func witness(_ remote: UInt64) -> UInt64 { withClock { $0.witness(remote) } }

    /// Runs `body` on the clock under its lock: how a state machine with a clock of its own (SWIM, gossip)
    /// loads the node's time before a call and stores its own back after.
    public func withClock<R: Sendable, E: Error>(_ body: (inout LamportClock) throws(E) -> R) throws(E) -> R {
        let ceiling = ceiling()
        return try clock.withLock { (clock: inout LamportClock) throws(E) -> R in
            clock.ceiling = ceiling
            return try body(&clock)
        }
    }

    /// Runs `body` on `machine` (SWIM, gossip) stamping with the node's time: the machine's own clock at `clock`
    /// is first raised to the node's, and the node's is set to the machine's after. The node clock's lock is
    /// taken inside whatever lock guards `machine` (it is a leaf).
    public func stamping<Machine, R: Sendable>(_ machine: inout Machine, clock: WritableKeyPath<Machine, LamportClock>,
                                               _ body: (inout Machine) -> R) -> R {
        withClock { shared in
            machine[keyPath: clock].load(shared)
            defer { shared = machine[keyPath: clock] }
            return body(&machine)
        }
    }
}
