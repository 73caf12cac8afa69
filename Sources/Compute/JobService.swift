// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import PluginABI
import Primitives
import PluginKit
import Synchronization

/// Runs compute jobs through the arena and the rings: the job's inputs are copied into arena blocks once,
/// its spec (function, parameters, input slots) goes to the job worker as a record, the worker calls the
/// job-runner plugin with the input slots in place, and the result comes back as a record naming the
/// arena block the runner filled (see ``JobRecord``).
///
/// Two ways to run the plugin:
/// - **in process** (the default): a worker thread of this process takes JOB records off the inbox and
///   answers JOB_RESULT records on the outbox. Fastest; a job that crashes takes the process with it, and
///   one that hangs cannot be stopped.
/// - **isolated** (`isolated: true`, or `isolation = "process"` in the plugin's manifest entry): the plugin
///   runs in a child process (`inos-job-worker`) that maps the same arena, on a channel of its own. A job
///   that crashes fails with the signal named and one that overruns its time-out has the child killed;
///   either way the child is restarted for the next job (see ``IsolatedRunner``).
public final class JobService: Sendable {
    public static let jobRecord: Int32 = JobRecord.job
    public static let resultRecord: Int32 = JobRecord.result

    /// Why a job failed: the runner's status and message, or what happened to its process.
    public struct Failure: CodedError {
        /// The runner's answer (``PluginStatus/timeout`` when it did not answer in time, ``PluginStatus/internal``
        /// when its process died).
        public var status: PluginStatus
        public var message: String
        /// The signal that ended an isolated runner's process during the job (`SIGSEGV`, `SIGABRT`, …);
        /// `nil` otherwise.
        public var signal: Int32? = nil
        public var location: ErrorLocation?

        public init(
            status: PluginStatus, message: String, signal: Int32? = nil,
            function: String = #function, file: String = #fileID, line: Int = #line
        ) {
            self.status = status
            self.message = message
            self.signal = signal
            self.location = ErrorLocation(function: function, file: file, line: line)
        }

        public var code: PluginStatus { status }
        public var description: String { message }
    }

    /// Settings of isolated runners.
    public struct IsolationOptions: Sendable {
        /// The `inos-job-worker` executable. `nil`: `$INOS_JOB_WORKER`, else next to this program, else
        /// next to the plugin's file (where `swift build` puts both).
        public var workerPath: String?
        /// Bytes of the payload heap lent to the runner's process for the blocks its plugin allocates
        /// (results, scratch), rounded up to a power of two. `nil`: a quarter of the heap's largest block,
        /// between 1 MiB and 64 MiB. A result must fit in it.
        public var leaseBytes: Int?
        /// How long the runner's process may take to start and initialise its plugin, in seconds.
        public var startTimeout: Double

        public init(workerPath: String? = nil, leaseBytes: Int? = nil, startTimeout: Double = 10) {
            self.workerPath = workerPath
            self.leaseBytes = leaseBytes
            self.startTimeout = startTimeout
        }
    }

    let host: HostRuntime
    let slot: PluginSlot
    /// The runner's process supervisor when isolated; `nil` in process.
    let isolated: IsolatedRunner?
    private let nextJob = Atomic<UInt64>(1)
    private let running = Atomic<Bool>(true)
    private let results = Mutex<[UInt64: Result<[UInt8], Failure>]>([:])
    /// The callers waiting for their job's result, by job: the worker signals one when it published that result.
    private let waiting = Mutex<[UInt64: DispatchSemaphore]>([:])
    private let finished = DispatchSemaphore(value: 0)
    /// Jobs run on the caller's thread (see ``init(host:slot:isolated:inline:options:)``).
    private let inline: Bool

    /// Serves jobs with the plugin in `slot` (a job-runner plugin's slot).
    /// - Parameter isolated: run the plugin in a child process; `nil` follows the slot's manifest entry
    ///   (`isolation = "process"`). In process, a worker thread starts here; isolated, the child starts with
    ///   the first job.
    /// - Parameter inline: in process, run each job on the calling thread, with no worker and no ring hop — for
    ///   an in-process harness that steps many nodes on one thread (the job still runs from its arena blocks
    ///   through the plugin's `run`, as the worker would run it). Ignored when isolated.
    public init(host: HostRuntime, slot: PluginSlot, isolated: Bool? = nil, inline: Bool = false, options: IsolationOptions = IsolationOptions()) {
        self.host = host
        self.slot = slot
        let isolate = isolated ?? (slot.active?.spec.isolation == .process)
        self.isolated = isolate ? IsolatedRunner(host: host, slot: slot, options: options) : nil
        self.inline = !isolate && inline
        if !isolate && !inline { Thread { [self] in worker() }.start() } else { finished.signal() }
    }

    /// Whether jobs run in a child process.
    public var isIsolated: Bool { isolated != nil }

    /// Stops serving. In process it waits for the job in flight; isolated it waits for the running job
    /// (bounded by its time-out), then stops the runner's process and returns what it was lent to the heap.
    public func stop() {
        if let isolated {
            isolated.stop()
            return
        }
        running.store(false, ordering: .releasing)
        host.arena.switchboard.signal(UInt32(INOS_SIGNAL_INBOX))
        finished.wait()
        finished.signal()  // a second stop returns too
    }

    /// Runs `function` over `inputs` with `parameters` and returns its output.
    ///
    /// `timeout` (seconds) bounds the whole call. Isolated, a job still running at its deadline has its
    /// runner's process killed; in process it runs on, since a thread cannot be stopped safely.
    public func run(function: String, parameters: String, inputs: [[UInt8]], timeout: Double = 600) throws(Failure) -> [UInt8] {
        if let isolated {
            return try isolated.run(function: function, parameters: parameters, inputs: inputs, timeout: timeout)
        }
        let staged = try StagedJob(arena: host.arena, function: function, parameters: parameters, inputs: inputs)
        if inline {
            let spec = UnsafeRawBufferPointer(start: host.arena.base + staged.specOffset, count: staged.specLength)
            return try result(of: JobExecution.execute(spec, on: slot)).get()
        }
        let id = nextJob.wrappingAdd(1, ordering: .relaxed).oldValue
        let ready = DispatchSemaphore(value: 0)
        waiting.withLock { $0[id] = ready }
        defer { waiting.withLock { $0[id] = nil } }
        let request = JobRequest(id: id, specOffset: UInt64(staged.specOffset), specLength: UInt64(staged.specLength))
        let pushed = request.withPayload { host.inbox.push(type: JobRecord.job, $0) }
        guard pushed == .ok else { throw Failure(status: pushed, message: "the inbox is full") }
        host.arena.switchboard.signal(UInt32(INOS_SIGNAL_INBOX))
        // Sleeps until the worker published this job's result (no polling), then takes every result on the outbox.
        let deadline = DispatchTime.now() + timeout
        while true {
            if let result = results.withLock({ $0.removeValue(forKey: id) }) { return try result.get() }
            guard ready.wait(timeout: deadline) == .success else {
                collectResults()
                if let result = results.withLock({ $0.removeValue(forKey: id) }) { return try result.get() }
                throw Failure(status: .timeout, message: "job \(id) did not finish within \(timeout) s")
            }
            collectResults()
        }
    }

    /// A finished job's result: copied out of the arena block its runner filled, which is then freed.
    private func result(of outcome: JobOutcome) -> Result<[UInt8], Failure> {
        guard outcome.status == .ok else { return .failure(Failure(status: outcome.status, message: outcome.message)) }
        defer { _ = host.arena.heap.free(Int(outcome.offset)) }
        return .success(Array(UnsafeRawBufferPointer(start: host.arena.base + Int(outcome.offset), count: Int(outcome.length))))
    }

    /// Takes JOB_RESULT records off the outbox: copies each result out of its arena block and frees it.
    private func collectResults() {
        _ = host.outbox.drain(limit: 64) { type, payload in
            guard type == JobRecord.result, let outcome = JobOutcome(decoding: payload) else { return }
            let result = result(of: outcome)
            results.withLock { $0[outcome.id] = result }
        }
    }

    /// The job worker: takes JOB records off the inbox and runs them on the slot's plugin.
    private func worker() {
        var idleSince: UInt64 = 0
        while running.load(ordering: .acquiring) {
            let count = host.inbox.drain(limit: 16) { type, payload in
                guard type == JobRecord.job, let request = JobRequest(decoding: payload) else { return }
                let spec = UnsafeRawBufferPointer(start: host.arena.base + Int(request.specOffset), count: Int(request.specLength))
                var outcome = JobExecution.execute(spec, on: slot)
                outcome.id = request.id
                let record = outcome.encoded
                while record.withUnsafeBytes({ host.outbox.push(type: JobRecord.result, $0) }) .isBackpressure {
                    // The outbox is full of results nobody took yet: wake every waiting caller to drain it.
                    for ready in waiting.withLock({ Array($0.values) }) { ready.signal() }
                    usleep(100)
                }
                host.arena.switchboard.signal(UInt32(INOS_SIGNAL_OUTBOX))
                waiting.withLock { $0[request.id] }?.signal()
            }
            if count > 0 {
                idleSince = DispatchTime.now().uptimeNanoseconds
            } else if DispatchTime.now().uptimeNanoseconds - idleSince < 200_000 {
                sched_yield()  // jobs come in bursts: stay awake for 200 µs before sleeping on the switchboard
            } else {
                _ = host.arena.switchboard.wait(timeoutNanoseconds: 10_000_000)
            }
        }
        finished.signal()
    }
}
