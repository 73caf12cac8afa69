// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import Synchronization

@testable import Host

/// A small arena (4 MiB by default) so tests stay light on memory.
func makeArena(
    totalSize: Int = 4 << 20, inbox: Int = 4096, outbox: Int = 4096, high: Double = 0.75, low: Double = 0.25
) throws -> Arena {
    try Arena(
        configuration: ArenaConfiguration(
            totalSize: totalSize, inboxCapacity: inbox, outboxCapacity: outbox, highWatermark: high,
            lowWatermark: low))
}

/// A thread the test can join. Foundation's `Thread` has no join, so completion is a semaphore.
final class JoinableThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let finished = Atomic<Bool>(false)

    init(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            body()
            self.finished.store(true, ordering: .releasing)
            self.done.signal()
        }
        thread.start()
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// Waits for the thread to finish.
    func join() { done.wait() }

    /// Waits at most `seconds` for the thread. A watchdog that turns a hang (a lost wake-up) into a test
    /// failure; it never judges speed, so choose it far above any plausible run time.
    func join(watchdogSeconds seconds: Double) -> Bool {
        done.wait(timeout: .now() + seconds) == .success
    }
}

/// A value one thread writes and another reads after a join.
final class Box<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    func update<R>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
}

/// Maps the arena's memfd a second time, as another process would, and unmaps it after `body`.
func withSecondMapping<R>(of arena: Arena, _ body: (UnsafeMutableRawPointer) throws -> R) throws -> R {
    let second = try sysMapShared(fd: arena.fileDescriptor, size: arena.size)
    defer { sysUnmap(second, size: arena.size) }
    return try body(second)
}
