// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import PluginABI
import Synchronization

/// Runs compute jobs through the arena and the rings: the job's inputs are copied into arena blocks once,
/// its spec (function, parameters, input slots) goes to the job worker as an inbox record, the worker calls
/// the job-runner plugin with the input slots in place, and the result comes back as an outbox record naming
/// the arena block the runner filled (see ``JobRecord``).
public final class JobService: Sendable {
    public static let jobRecord: Int32 = JobRecord.job
    public static let resultRecord: Int32 = JobRecord.result

    /// Why a job failed: the runner's status and message, or what happened to its process.
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int32
        public var message: String
        public var description: String { message }
    }

    let host: HostRuntime
    let slot: PluginSlot
    private let nextJob = Atomic<UInt64>(1)
    private let running = Atomic<Bool>(true)
    private let results = Mutex<[UInt64: Result<[UInt8], Failure>]>([:])
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the job worker on `slot` (a job-runner plugin's slot).
    public init(host: HostRuntime, slot: PluginSlot) {
        self.host = host
        self.slot = slot
        Thread { [self] in worker() }.start()
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        host.arena.switchboard.signal(UInt32(INOS_SIGNAL_INBOX))
        finished.wait()
    }

    /// Runs `function` over `inputs` with `parameters` and returns its output.
    public func run(function: String, parameters: String, inputs: [[UInt8]], timeout: Double = 600) throws(Failure) -> [UInt8] {
        let staged = try StagedJob(arena: host.arena, function: function, parameters: parameters, inputs: inputs)
        let id = nextJob.wrappingAdd(1, ordering: .relaxed).oldValue
        let request = JobRequest(id: id, specOffset: UInt64(staged.specOffset), specLength: UInt64(staged.specLength))
        let pushed = request.withPayload { host.inbox.push(type: JobRecord.job, $0) }
        guard pushed == INOS_OK else { throw Failure(status: pushed, message: "the inbox is full") }
        host.arena.switchboard.signal(UInt32(INOS_SIGNAL_INBOX))
        let deadline = DispatchTime.now() + timeout
        var spins = 0
        while DispatchTime.now() < deadline {
            if let result = results.withLock({ $0.removeValue(forKey: id) }) { return try result.get() }
            collectResults()
            // Spin briefly (short jobs answer in microseconds), then back off to sleeping.
            spins += 1
            if spins < 2000 { sched_yield() } else { usleep(100) }
        }
        throw Failure(status: INOS_ERR_TIMEOUT, message: "job \(id) did not finish within \(timeout) s")
    }

    /// Takes JOB_RESULT records off the outbox: copies each result out of its arena block and frees it.
    private func collectResults() {
        _ = host.outbox.drain(limit: 64) { type, payload in
            guard type == JobRecord.result, let outcome = JobOutcome(decoding: payload) else { return }
            let result: Result<[UInt8], Failure>
            if outcome.status == INOS_OK {
                result = .success(Array(UnsafeRawBufferPointer(start: host.arena.base + Int(outcome.offset), count: Int(outcome.length))))
                _ = host.arena.heap.free(Int(outcome.offset))
            } else {
                result = .failure(Failure(status: outcome.status, message: outcome.message))
            }
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
                while record.withUnsafeBytes({ host.outbox.push(type: JobRecord.result, $0) }) == INOS_ERR_FULL { usleep(100) }
                host.arena.switchboard.signal(UInt32(INOS_SIGNAL_OUTBOX))
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
