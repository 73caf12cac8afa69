// SPDX-License-Identifier: Apache-2.0
import Dispatch

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
