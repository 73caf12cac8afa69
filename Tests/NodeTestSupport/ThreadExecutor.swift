// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization

/// A task executor with one thread of its own. ``MeshHarness/complete(realSeconds:_:)`` runs its task here: on the
/// cooperative pool the task could wait behind synchronous tests that hold every pool thread (two on a two-core
/// machine) for minutes, while the thread stepping the harness is the only one that can answer it.
final class ThreadExecutor: TaskExecutor, Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let available = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in
            while true {
                available.wait()
                guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        available.signal()
    }
}
