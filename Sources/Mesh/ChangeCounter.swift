// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// A counter a task can wait on: ``wait(beyond:)`` suspends until the value passes the one the caller last saw,
/// so a service acts when something changed instead of polling for it. Only moves forward. Thread-safe; a
/// waiting task that is cancelled resumes at once with `CancellationError`.
public final class ChangeCounter: Sendable {
    private let state = Mutex(State())

    private struct State {
        var value: UInt64 = 0
        var nextTicket: UInt64 = 0
        var waiting: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    }

    public init() {}

    public var value: UInt64 { state.withLock { $0.value } }

    /// Counts one change and wakes every waiter.
    public func increment() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.value &+= 1
            defer { s.waiting.removeAll() }
            return Array(s.waiting.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once the value is above `seen` (at once if it is already).
    public func wait(beyond seen: UInt64) async throws {
        let ticket = state.withLock { s -> UInt64 in
            s.nextTicket &+= 1
            return s.nextTicket
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Bool = state.withLock { s in
                    if s.value > seen || Task.isCancelled { return true }
                    s.waiting[ticket] = continuation
                    return false
                }
                guard now else { return }
                if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: ticket) }?.resume(throwing: CancellationError())
        }
    }
}
