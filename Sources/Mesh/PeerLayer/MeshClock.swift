// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization

/// Where the peer layer and its services read the time and wait for it: monotonic nanoseconds (the unit of
/// every `now:` parameter of the mesh's state machines), the wall clock (for what is signed with a date: owner
/// tickets), and sleeping until a moment. Injected, so a test can run whole nodes — repair rounds, rate
/// limits, hedged reads included — on a clock it advances.
public protocol MeshClock: Sendable {
    /// Monotonic nanoseconds since an arbitrary start (never goes back).
    func now() -> UInt64
    /// Seconds since the Unix epoch: what dated, signed records (owner tickets) are checked against.
    func wallSeconds() -> Double
    /// Suspends until ``now()`` reaches `deadline` (at once if it has); throws `CancellationError` when the
    /// task is cancelled first.
    func sleep(until deadline: UInt64) async throws
}

extension MeshClock {
    /// Suspends for `seconds` on this clock.
    public func sleep(seconds: Double) async throws {
        try await sleep(until: now() &+ nanoseconds(seconds))
    }

    /// `seconds` in this clock's unit, clamped to 0…10^9 s (negative and NaN are 0): never traps.
    public func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, min(seconds, 1e9)) * 1e9) }

    /// Seconds on the monotonic clock (for rates and half-lives, which need no epoch).
    public func seconds() -> Double { Double(now()) / 1e9 }
}

/// The machine's clocks: `CLOCK_MONOTONIC` through Dispatch, the system's wall clock, and `Task.sleep`.
public struct SystemClock: MeshClock {
    public init() {}
    public func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    public func wallSeconds() -> Double { Date().timeIntervalSince1970 }
    public func sleep(until deadline: UInt64) async throws {
        let now = now()
        if deadline > now { try await Task.sleep(nanoseconds: deadline - now) } else { try Task.checkCancellation() }
    }
}

/// A clock that moves only when told (``advance(by:)``): a test harness runs nodes on one and steps through
/// minutes of keepalives, SWIM timeouts, repair rounds and record expiry in milliseconds of real time. Its
/// wall clock is the real one at creation plus the virtual time since. A ``sleep(until:)`` resumes when an
/// advance reaches its deadline. Any thread may read or advance it.
public final class ManualClock: MeshClock {
    private let nanoseconds: Atomic<UInt64>
    private let origin: UInt64
    private let wallOrigin: Double
    private let sleepers = Mutex(Sleepers())

    private struct Sleepers {
        var next: UInt64 = 0
        var waiting: [UInt64: (deadline: UInt64, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }

    /// Starts at `start` nanoseconds — not 0 by default, since some state machines take 0 for "never".
    public init(start: UInt64 = 1_000_000_000_000) {
        nanoseconds = Atomic(start)
        origin = start
        wallOrigin = Date().timeIntervalSince1970
    }

    public func now() -> UInt64 { nanoseconds.load(ordering: .acquiring) }

    public func wallSeconds() -> Double { wallOrigin + Double(now() &- origin) / 1e9 }

    /// Tasks sleeping on this clock.
    public var sleeping: Int { sleepers.withLock { $0.waiting.count } }

    public func sleep(until deadline: UInt64) async throws {
        let ticket = sleepers.withLock { s -> UInt64 in
            s.next += 1
            return s.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = sleepers.withLock { s in
                    if deadline <= now() { return true }
                    if Task.isCancelled { return true }
                    s.waiting[ticket] = (deadline, continuation)
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let cancelled = sleepers.withLock { $0.waiting.removeValue(forKey: ticket) }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward by `delta` nanoseconds and wakes the sleepers whose deadline it reached;
    /// returns the new time.
    @discardableResult
    public func advance(by delta: UInt64) -> UInt64 {
        let now = nanoseconds.wrappingAdd(delta, ordering: .acquiringAndReleasing).newValue
        let due = sleepers.withLock { s -> [CheckedContinuation<Void, any Error>] in
            let keys = s.waiting.filter { $0.value.deadline <= now }.map(\.key)
            return keys.compactMap { s.waiting.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
        return now
    }

    /// Moves the clock forward by `seconds`; returns the new time.
    @discardableResult
    public func advance(seconds: Double) -> UInt64 { advance(by: UInt64(max(0, seconds) * 1e9)) }
}
