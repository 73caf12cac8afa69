// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of threads owned by the node, with a bounded queue in front of them.
///
/// The node's request handlers used to run on a concurrent `DispatchQueue`. On Linux those share libdispatch's
/// global pool, a few threads per core, so handlers that waited (a nested request to another member, a full send
/// queue) held threads every other handler needed: on a busy two-core machine a small HAVE waited behind them for
/// seconds. A `WorkerPool` is the node's own: its width does not depend on what else the process does, each lane
/// of work (small control answers, bulk chunk I/O, background syncs) gets its own pool so one cannot starve
/// another, and its queue is bounded — ``submit(_:)`` answers `false` when it is full, so a flood of requests
/// is refused (the peer gets "busy") instead of growing memory without limit.
///
/// Jobs must not wait for other peers: requests whose answers they need are made with the completion-based
/// ``PeerManager/request(_:payload:on:timeout:completion:)``.
///
/// A ``Execution-swift.enum/queued`` pool starts no threads: jobs wait until someone calls ``runQueued(limit:)``
/// — a test harness that steps nodes on one thread, so handlers run in an order it decides (NIO's
/// `EmbeddedEventLoop`).
public final class WorkerPool: Sendable {
    /// Who runs the pool's jobs.
    public enum Execution: Sendable, Equatable {
        /// The pool's own threads (``threads`` of them).
        case threads
        /// Whoever calls ``runQueued(limit:)``, on its thread; no threads are started.
        case queued
    }

    public let name: String
    public let threads: Int
    public let queueLimit: Int
    public let execution: Execution
    private let queue = Mutex<Queue>(([], 0, false))
    private let available = DispatchSemaphore(value: 0)
    private let busyCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)

    public init(name: String, threads: Int, queueLimit: Int, execution: Execution = .threads) {
        precondition(threads > 0 && queueLimit > 0)
        self.name = name
        self.threads = threads
        self.queueLimit = queueLimit
        self.execution = execution
        guard execution == .threads else { return }
        for index in 0..<threads { startThread(name: "inos.\(name).\(index)") { [self] in work() } }
    }

    /// Queues `job`; false (and the job dropped) when the queue already holds ``queueLimit`` jobs or the pool stopped.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let accepted = queue.withLock { state -> Bool in
            guard !state.stopped, state.jobs.count - state.head < queueLimit else { return false }
            state.jobs.append(job)
            return true
        }
        if !accepted {
            refusedCount.add(1, ordering: .relaxed)
        } else if execution == .threads {
            available.signal()
        }
        return accepted
    }

    /// Runs up to `limit` queued jobs on the calling thread, oldest first (jobs they submit run too, within the
    /// limit); returns how many ran. For a ``Execution-swift.enum/queued`` pool; a threaded pool's threads may
    /// take jobs at the same time.
    @discardableResult
    public func runQueued(limit: Int = .max) -> Int {
        var ran = 0
        while ran < limit, let job = take() {
            busyCount.add(1, ordering: .relaxed)
            job()
            busyCount.subtract(1, ordering: .relaxed)
            ran += 1
        }
        return ran
    }

    private typealias Queue = (jobs: [@Sendable () -> Void], head: Int, stopped: Bool)

    /// The oldest queued job, removed from the queue; nil when none waits.
    private func take() -> (@Sendable () -> Void)? {
        queue.withLock { state in state.head < state.jobs.count ? Self.take(&state) : nil }
    }

    /// Removes and returns the oldest job (there is one).
    private static func take(_ state: inout Queue) -> @Sendable () -> Void {
        let job = state.jobs[state.head]
        // The slot lets go of the job at once: what it captured (a received arena block) is freed when the job
        // ends, not when the queue next compacts.
        state.jobs[state.head] = {}
        state.head += 1
        // Compact now and then, so the array does not grow with every job ever queued.
        if state.head >= 64 && state.head * 2 >= state.jobs.count {
            state.jobs.removeFirst(state.head)
            state.head = 0
        }
        return job
    }

    /// Jobs waiting (not yet running).
    public var queued: Int { queue.withLock { $0.jobs.count - $0.head } }
    /// Jobs running now.
    public var running: Int { busyCount.load(ordering: .relaxed) }
    /// Jobs refused because the queue was full, since start.
    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// Lets the threads finish what is queued and end.
    public func stop() {
        queue.withLock { $0.stopped = true }
        for _ in 0..<threads { available.signal() }
    }

    private func work() {
        while true {
            available.wait()
            let next = queue.withLock { state -> (@Sendable () -> Void)?? in
                guard state.head < state.jobs.count else { return state.stopped ? .some(nil) : nil }
                return .some(Self.take(&state))
            }
            switch next {
            case .none: continue  // a wake-up for a job another thread took
            case .some(.none): return  // stopped and drained
            case .some(.some(let job)):
                busyCount.add(1, ordering: .relaxed)
                job()
                busyCount.subtract(1, ordering: .relaxed)
            }
        }
    }
}

/// Starts a named thread of the node's own (not one of libdispatch's shared pool). The name is also the
/// kernel's name of the thread (`/proc/<pid>/task/<tid>/comm`, what `top -H`, `perf` and
/// `Benchmarks/idle/idle.sh` show), cut to the 15 bytes Linux keeps; otherwise the thread would carry the name
/// of the thread that started it (a Swift concurrency pool thread, "com.apple.root.default-qos").
package func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread {
        setKernelThreadName(name)
        body()
    }
    thread.name = name
    thread.start()
}

/// Names the calling thread for the kernel, cut to the 15 bytes Linux keeps.
func setKernelThreadName(_ name: String) {
    #if canImport(Glibc)
    // /proc/thread-self/comm is the calling thread's name (what pthread_setname_np writes; Swift's Glibc
    // module does not export that GNU function, and prctl is variadic).
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
    #endif
}
