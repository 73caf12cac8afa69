// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// Where requests are served off the reactor, one pool per ``Lane`` so that no lane starves another, and where
/// the peer layer dials (bootstrap dials, redials after a backoff, dials to members).
///
/// With ``WorkerPool/Execution-swift.enum/queued`` nothing here has a thread: lane jobs and dials wait until
/// ``runQueued(limit:)`` runs them on the caller's thread, and a dial "after n seconds" waits for n seconds of
/// the node's ``MeshClock`` — so a harness that steps nodes and advances a manual clock decides when and in
/// which order everything runs.
public final class Lanes: Sendable {
    public let execution: WorkerPool.Execution
    public let control: WorkerPool
    public let bulk: WorkerPool
    public let compute: WorkerPool
    public let background: WorkerPool
    /// Bytes of received arena blocks each lane's queued and running handlers hold (frames read in place).
    let blockBudgets: [Lane: BlockBudget] = [.control: BlockBudget(), .bulk: BlockBudget(), .compute: BlockBudget(), .background: BlockBudget()]
    /// Where dials run: a concurrent dispatch queue, or (queued) the harness's steps, on the node's clock.
    public let dialer: Dialer
    /// Queued: what a blocking wait runs instead of blocking (``whileBlocked(_:)``).
    private let blockedStep = Mutex<(@Sendable () -> Void)?>(nil)
    private let clock: any MeshClock

    init(execution: WorkerPool.Execution = .threads, clock: any MeshClock = SystemClock()) {
        self.execution = execution
        control = WorkerPool(name: "control", threads: 4, queueLimit: 1024, execution: execution)
        bulk = WorkerPool(name: "bulk", threads: 8, queueLimit: 512, execution: execution)
        compute = WorkerPool(name: "compute", threads: 4, queueLimit: 64, execution: execution)
        background = WorkerPool(name: "background", threads: 1, queueLimit: 64, execution: execution)
        dialer = Dialer(execution: execution, clock: clock)
        self.clock = clock
    }

    /// Queued execution: installs what a blocking wait calls, over and over, instead of blocking — the
    /// harness's step of the whole mesh (which advances the clock when nothing else is left to do). Jobs that
    /// still use the blocking request form (anti-entropy's walk) run on the one thread that steps every node;
    /// blocking it would wait for answers only that thread can deliver.
    package func whileBlocked(_ step: @escaping @Sendable () -> Void) { blockedStep.withLock { $0 = step } }

    /// Waits for `semaphore` at most `seconds`; whether it was signalled. Threaded (or queued without a step
    /// installed): a plain wait on the machine's clock. Queued with a step: runs the step until the semaphore
    /// is signalled or `seconds` passed on the node's clock.
    func wait(_ semaphore: DispatchSemaphore, seconds: Double) -> Bool {
        guard execution == .queued, let step = blockedStep.withLock({ $0 }) else {
            return semaphore.wait(timeout: .now() + seconds) == .success
        }
        let deadline = clock.now() &+ UInt64(max(0, seconds) * 1e9)
        while semaphore.wait(timeout: .now()) == .timedOut {
            guard clock.now() < deadline else { return false }
            step()
        }
        return true
    }

    /// The pool of `lane`; nil for the reactor, which runs handlers inline.
    func pool(_ lane: Lane) -> WorkerPool? {
        switch lane {
        case .reactor: nil
        case .control: control
        case .bulk: bulk
        case .compute: compute
        case .background: background
        }
    }

    var pools: [WorkerPool] { [control, bulk, compute, background] }

    /// Queued execution: runs the dials that are due on the clock, then queued lane jobs lane by lane, until
    /// nothing is left or `limit` jobs ran; returns how many ran. (Nothing for threaded lanes' dials.)
    @discardableResult
    public func runQueued(limit: Int = .max) -> Int {
        var ran = dialer.runDue(limit: limit)
        var progress = true
        while progress && ran < limit {
            progress = false
            for pool in pools {
                let count = pool.runQueued(limit: limit - ran)
                ran += count
                progress = progress || count > 0
            }
        }
        return ran
    }

    func stop() {
        for pool in pools { pool.stop() }
        dialer.stop()
    }
}

/// Runs the peer layer's dials. Threaded: on a concurrent dispatch queue (a dial blocks until the transport
/// connects). Queued: in ``runDue(limit:)``, on the caller's thread, once the node's clock reaches the dial's
/// time. Same call shape as the dispatch queue it replaces (`async`, `asyncAfter(deadline:)`).
public final class Dialer: Sendable {
    private struct Waiting {
        var due: UInt64
        var order: UInt64
        var job: @Sendable () -> Void
    }

    private let queue: DispatchQueue?
    private let clock: any MeshClock
    private let waiting = Mutex<(jobs: [Waiting], next: UInt64, stopped: Bool)>(([], 0, false))

    init(execution: WorkerPool.Execution, clock: any MeshClock) {
        queue = execution == .threads ? DispatchQueue(label: "inos.mesh.dialer", attributes: .concurrent) : nil
        self.clock = clock
    }

    /// Runs `work` as soon as possible (threaded) or at the next ``runDue(limit:)`` (queued).
    public func async(execute work: @escaping @Sendable () -> Void) {
        if let queue { return queue.async(execute: work) }
        enqueue(due: clock.now(), work)
    }

    /// Runs `work` at `deadline`. Queued, the deadline's distance from now (in whole milliseconds) is counted on
    /// the node's clock instead of the machine's.
    public func asyncAfter(deadline: DispatchTime, execute work: @escaping @Sendable () -> Void) {
        if let queue { return queue.asyncAfter(deadline: deadline, execute: work) }
        let now = DispatchTime.now().uptimeNanoseconds
        let delay = deadline.uptimeNanoseconds > now ? deadline.uptimeNanoseconds - now : 0
        enqueue(due: clock.now() &+ (delay + 500_000) / 1_000_000 * 1_000_000, work)
    }

    private func enqueue(due: UInt64, _ work: @escaping @Sendable () -> Void) {
        waiting.withLock { state in
            guard !state.stopped else { return }
            state.jobs.append(Waiting(due: due, order: state.next, job: work))
            state.next += 1
        }
    }

    /// Dials waiting (queued execution).
    public var queued: Int { waiting.withLock { $0.jobs.count } }

    /// Queued execution: runs the waiting dials whose time has come, earliest first (ties in the order they
    /// were asked for), at most `limit`; returns how many ran.
    @discardableResult
    public func runDue(limit: Int = .max) -> Int {
        var ran = 0
        while ran < limit {
            let now = clock.now()
            let job = waiting.withLock { state -> (@Sendable () -> Void)? in
                let due = state.jobs.indices.filter { state.jobs[$0].due <= now }
                guard let first = due.min(by: { (state.jobs[$0].due, state.jobs[$0].order) < (state.jobs[$1].due, state.jobs[$1].order) })
                else { return nil }
                return state.jobs.remove(at: first).job
            }
            guard let job else { break }
            job()
            ran += 1
        }
        return ran
    }

    /// Forgets waiting dials (queued); a threaded dialer's jobs check the peer layer's `stopped` themselves.
    func stop() { waiting.withLock { $0 = ([], $0.next, true) } }
}
