// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import PluginABI
import PluginKit
import Synchronization

/// Runs a slot's job runner in a child process (`inos-job-worker`) and supervises it.
///
/// - **One job at a time** goes to the runner's process, so a crash or a time-out is the running job's
///   alone; callers queue on a gate, and the time they wait counts against their time-out.
/// - **Crash**: while it waits for the result, the caller polls the process (`waitpid`, `WNOHANG`) at
///   least every 5 ms. A process that died fails the job with the signal (or exit status) named; what it
///   was lent goes back to the heap and the next job starts a new process.
/// - **Time-out**: at the job's deadline the process is killed with `SIGKILL` and reaped, the job fails
///   with `INOS_ERR_TIMEOUT`, and the next job starts a new process.
/// - **Hot swap**: a job that finds another plugin in the slot than its process serves stops that process
///   (STOP, then `SIGKILL` after 2 s) and starts one for the new plugin.
final class IsolatedRunner: Sendable {
    private let host: HostRuntime
    private let slot: PluginSlot
    private let options: JobService.IsolationOptions
    /// Held by the caller whose job is in the runner's process; it alone touches ``process``.
    private let gate = DispatchSemaphore(value: 1)
    private let process = Mutex<RunnerProcess?>(nil)
    private let stopped = Atomic<Bool>(false)
    private let nextJob = Atomic<UInt64>(1)
    private let counters = Mutex<Counters>(Counters())

    struct Counters {
        var starts = 0
        var crashes = 0
        var timeouts = 0
        var pid: Int32?
    }

    init(host: HostRuntime, slot: PluginSlot, options: JobService.IsolationOptions) {
        self.host = host
        self.slot = slot
        self.options = options
    }

    var statistics: Counters { counters.withLock { $0 } }

    func run(function: String, parameters: String, inputs: [[UInt8]], timeout: Double) throws(JobService.Failure) -> [UInt8] {
        let timeout = timeout.isNaN ? 0 : max(0, timeout)
        let deadline = sysMonotonicNanoseconds() &+ UInt64(min(timeout, 1e9) * 1e9)
        guard !stopped.load(ordering: .acquiring) else {
            throw JobService.Failure(status: .closed, message: "the job service is stopped")
        }
        guard gate.wait(timeout: .now() + min(timeout, 1e9)) == .success else {
            throw JobService.Failure(
                status: .timeout,
                message: "job \"\(function)\" did not start within \(timeout) s: its job runner process was busy with earlier jobs")
        }
        defer { gate.signal() }
        guard !stopped.load(ordering: .acquiring) else {
            throw JobService.Failure(status: .closed, message: "the job service is stopped")
        }
        let runner = try currentProcess(deadline: deadline)
        // Staged after the process is up; destroyed — blocks freed — only once the process is done with them.
        let staged = try StagedJob(arena: host.arena, function: function, parameters: parameters, inputs: inputs)
        let id = nextJob.wrappingAdd(1, ordering: .relaxed).oldValue
        try runner.submit(JobRequest(id: id, specOffset: UInt64(staged.specOffset), specLength: UInt64(staged.specLength)))
        let submitted = sysMonotonicNanoseconds()
        while true {
            if let outcome = runner.takeOutcome(id) {
                guard outcome.status == .ok else {
                    throw JobService.Failure(status: outcome.status, message: outcome.message)
                }
                return try runner.takeResult(outcome)
            }
            if let end = runner.poll() {
                retire(runner)
                counters.withLock { $0.crashes += 1 }
                host.logger.warning("job runner process \(runner.pid) ended during job \"\(function)\": \(describe(end))")
                var failure = JobService.Failure(
                    status: .internal,
                    message: "job \"\(function)\" crashed its job runner process (pid \(runner.pid)), \(describe(end)); the node is unaffected and a new runner process starts for the next job")
                if case .signaled(let signal) = end { failure.signal = signal }
                throw failure
            }
            let now = sysMonotonicNanoseconds()
            if now >= deadline {
                runner.terminate()
                retire(runner)
                counters.withLock { $0.timeouts += 1 }
                host.logger.warning("job \"\(function)\" overran its \(timeout) s: job runner process \(runner.pid) killed")
                throw JobService.Failure(
                    status: .timeout,
                    message: "job \"\(function)\" did not finish within \(timeout) s: its job runner process (pid \(runner.pid)) was killed with SIGKILL; a new runner process starts for the next job")
            }
            if now - submitted < 50_000 {
                sched_yield()  // short jobs answer in microseconds: stay awake briefly before sleeping
            } else {
                runner.waitForNews(nanoseconds: min(5_000_000, deadline - now))
            }
        }
    }

    /// Stops the runner's process after the running job (if any) and takes back what it was lent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        gate.wait()
        defer { gate.signal() }
        if let runner = process.withLock({ $0 }) {
            runner.terminate(grace: 2)
            retire(runner)
        }
    }

    /// The process serving the slot's current plugin: the running one, or a new one. Gate holder only.
    private func currentProcess(deadline: UInt64) throws(JobService.Failure) -> RunnerProcess {
        let generation = slot.generation
        guard let plugin = slot.active else {
            throw JobService.Failure(status: .closed, message: "no job runner in slot \(slot.name)")
        }
        if let running = process.withLock({ $0 }) {
            if running.generation == generation, running.poll() == nil { return running }
            if let end = running.poll() {
                host.logger.warning("job runner process \(running.pid) ended between jobs: \(describe(end))")
            }
            running.terminate(grace: 2)  // a hot swap: the old build finishes, the new one takes over
            retire(running)
        }
        let started = try RunnerProcess.start(
            host: host, plugin: plugin, slotName: slot.name, generation: generation, options: options, deadline: deadline)
        process.withLock { $0 = started }
        counters.withLock {
            $0.starts += 1
            $0.pid = started.pid
        }
        return started
    }

    /// Forgets a process that has ended (and takes back its blocks, if not done yet).
    private func retire(_ runner: RunnerProcess) {
        runner.terminate()
        process.withLock { if $0 === runner { $0 = nil } }
        counters.withLock { if $0.pid == runner.pid { $0.pid = nil } }
    }
}
