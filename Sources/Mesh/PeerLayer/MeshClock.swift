// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// Where the peer layer and its services read the time: monotonic nanoseconds, the unit of every `now:`
/// parameter of the mesh's state machines. Injected, so a test can run a node on a clock it advances.
public protocol MeshClock: Sendable {
    /// Monotonic nanoseconds since an arbitrary start (never goes back).
    func now() -> UInt64
}

/// The machine's monotonic clock (`CLOCK_MONOTONIC` through Dispatch).
public struct SystemClock: MeshClock {
    public init() {}
    public func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// A clock that moves only when told (``advance(by:)``): a test harness runs nodes on one and steps through
/// minutes of keepalives, SWIM timeouts and record expiry in milliseconds of real time. Any thread may read it.
public final class ManualClock: MeshClock {
    private let nanoseconds: Atomic<UInt64>

    /// Starts at `start` nanoseconds — not 0 by default, since some state machines take 0 for "never".
    public init(start: UInt64 = 1_000_000_000_000) { nanoseconds = Atomic(start) }

    public func now() -> UInt64 { nanoseconds.load(ordering: .acquiring) }

    /// Moves the clock forward by `delta` nanoseconds; returns the new time.
    @discardableResult
    public func advance(by delta: UInt64) -> UInt64 { nanoseconds.wrappingAdd(delta, ordering: .acquiringAndReleasing).newValue }

    /// Moves the clock forward by `seconds`; returns the new time.
    @discardableResult
    public func advance(seconds: Double) -> UInt64 { advance(by: UInt64(max(0, seconds) * 1e9)) }
}
