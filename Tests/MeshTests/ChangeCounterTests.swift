// SPDX-License-Identifier: Apache-2.0
import Mesh
import Testing

@Suite("ChangeCounter")
struct ChangeCounterTests {
    @Test("a waiter resumes on the next increment, at once when the value already passed what it saw, and with CancellationError when cancelled")
    func waits() async throws {
        let counter = ChangeCounter()
        #expect(counter.value == 0)
        // What the waiter reads when it resumes: 0 if it returned before the increment.
        let waiter = Task { try await counter.wait(beyond: 0); return counter.value }
        try await Task.sleep(nanoseconds: 20_000_000)
        counter.increment()
        #expect(try await waiter.value == 1)
        try await counter.wait(beyond: 0)  // already past: returns at once

        let cancelled = Task { try await counter.wait(beyond: 1) }
        try await Task.sleep(nanoseconds: 20_000_000)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(counter.value == 1)
    }

    @Test("many waiters on one value are all woken by one increment")
    func wakesAll() async throws {
        let counter = ChangeCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { try await counter.wait(beyond: 0) } }
            try await Task.sleep(nanoseconds: 20_000_000)
            counter.increment()
            try await group.waitForAll()
        }
    }
}
