// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// A value behind a `Mutex`, as a class: what a task group's child tasks share (a `Mutex` itself cannot be
/// captured by `sending` closures).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R: Sendable, E: Error>(_ body: (inout sending Value) throws(E) -> sending R) throws(E) -> R {
        try mutex.withLock(body)
    }
}
