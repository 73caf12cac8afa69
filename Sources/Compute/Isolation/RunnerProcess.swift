// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import PluginABI
import PluginKit

/// One child process serving a job runner, and what the node lent it: a channel block and a lease block
/// of the payload heap. Both go back to the heap once the process is reaped — after a clean stop, a crash
/// or a kill alike — so a dead runner leaks nothing, whatever it had allocated in its lease.
///
/// - Note: `@unchecked Sendable`: only the thread holding ``IsolatedRunner``'s gate uses it.
final class RunnerProcess: @unchecked Sendable {
    let channel: JobChannel
    /// The slot generation (plugin build) it serves; after a hot swap a new process takes over.
    let generation: Int
    let pid: Int32
    private var child: ChildProcess
    private let arena: Arena
    private var reclaimed = false

    private init(channel: JobChannel, generation: Int, child: consuming ChildProcess, arena: Arena) {
        self.channel = channel
        self.generation = generation
        self.pid = child.pid
        self.child = child
        self.arena = arena
    }

    deinit {
        terminate()
    }

    // MARK: Start

    /// The default lease: a quarter of the heap's largest block, between 1 MiB and 64 MiB.
    static func defaultLeaseBytes(_ heap: PayloadHeap) -> Int { min(64 << 20, max(1 << 20, heap.largestBlock / 4)) }

    /// Lends the runner a lease and a channel, starts `inos-job-worker` on `plugin`, and waits until the
    /// plugin is loaded and initialised in the child (or start-up fails, or `deadline` passes).
    static func start(
        host: HostRuntime, plugin: LoadedPlugin, slotName: String, generation: Int,
        options: JobService.IsolationOptions, deadline: UInt64
    ) throws(JobService.Failure) -> RunnerProcess {
        let worker = try workerPath(options, pluginPath: plugin.path)
        let arena = host.arena
        let heap = arena.heap
        let page = sysPageSize
        // Page-sized or larger buddy blocks are page-aligned (the heap starts on a page), so each can be
        // mapped writable on its own in the child.
        let wanted = max(page, options.leaseBytes ?? defaultLeaseBytes(heap))
        guard wanted <= heap.largestBlock, let leaseOffset = heap.allocate(wanted) else {
            throw JobService.Failure(
                status: .full,
                message: "no room in the arena's payload heap for the job runner's lease of \(wanted) bytes (largest block \(heap.largestBlock), \(heap.statistics.bytesInUse) of \(heap.statistics.capacity) bytes in use)")
        }
        guard let channelOffset = heap.allocate((JobChannel.requiredLength + page - 1) / page * page) else {
            heap.free(leaseOffset)
            throw JobService.Failure(status: .full, message: "no room in the arena's payload heap for the job runner's channel")
        }
        let lease = leaseOffset..<(leaseOffset + heap.blockSize(at: leaseOffset)!)
        let channelLength = heap.blockSize(at: channelOffset)!
        precondition(lease.lowerBound % page == 0 && channelOffset % page == 0, "page-sized heap blocks are page-aligned")
        let channel = JobChannel.create(in: arena, offset: channelOffset, length: channelLength, lease: lease)

        var environment = ProcessInfo.processInfo.environment
        // A crash is reported by signal; the Swift runtime's backtrace (seconds of symbolication in a debug
        // build) only on request: set SWIFT_BACKTRACE yourself to have it on the node's standard error.
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        var logLevel = host.logger.logLevel
        if logLevel < .warning { logLevel = .warning }  // the child's start-up chatter stays out of the node's log
        let child: ChildProcess
        do throws(SystemError) {
            child = try ChildProcess.spawn(worker, arguments: { first in
                var arguments = [
                    "--arena-fd", "\(first)", "--lifeline-fd", "\(ChildProcess.lifelineDescriptor(first: first, passed: 1))",
                    "--channel", "\(channelOffset):\(channelLength)", "--lease", "\(lease.lowerBound):\(lease.count)",
                    "--plugin", plugin.path, "--id", plugin.id, "--slot", slotName,
                    "--log-level", "\(logLevel)",
                ]
                for (key, value) in plugin.spec.config.sorted(by: { $0.key < $1.key }) { arguments += ["--config", "\(key)=\(value)"] }
                return arguments
            }, environment: environment, passing: [arena.fileDescriptor])
        } catch {
            heap.free(channelOffset)
            heap.free(leaseOffset)
            throw JobService.Failure(status: .io, message: "cannot start the job runner process \(worker): \(error)")
        }
        let process = RunnerProcess(channel: channel, generation: generation, child: child, arena: arena)
        let startDeadline = min(deadline, sysMonotonicNanoseconds() + UInt64(max(0, options.startTimeout) * 1e9))
        while true {
            switch channel.state {
            case .ready:
                return process
            case .failed:
                let message = channel.failureMessage
                process.terminate(grace: 1)
                throw JobService.Failure(status: .internal, message: "the job runner process could not start \(plugin.id): \(message)")
            case .starting:
                break
            }
            if let end = process.poll() {
                process.terminate()
                throw JobService.Failure(
                    status: .internal,
                    message: "the job runner process (pid \(process.pid)) for \(plugin.id) ended during start-up: \(describe(end)); see its standard error")
            }
            let now = sysMonotonicNanoseconds()
            if now >= startDeadline {
                process.terminate()
                throw JobService.Failure(status: .timeout, message: "the job runner process for \(plugin.id) did not start in time")
            }
            _ = channel.toNode.wait(timeoutNanoseconds: Int64(min(5_000_000, startDeadline - now)))
        }
    }

    /// `options.workerPath`, else `$INOS_JOB_WORKER`, else `inos-job-worker` next to this program, else next
    /// to the plugin's file.
    static func workerPath(_ options: JobService.IsolationOptions, pluginPath: String) throws(JobService.Failure) -> String {
        var candidates: [String] = []
        if let explicit = options.workerPath {
            candidates = [explicit]
        } else {
            if let path = ProcessInfo.processInfo.environment["INOS_JOB_WORKER"], !path.isEmpty { candidates.append(path) }
            if let program = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
                candidates.append(URL(fileURLWithPath: program).deletingLastPathComponent().appendingPathComponent("inos-job-worker").path)
            }
            candidates.append(URL(fileURLWithPath: pluginPath).deletingLastPathComponent().appendingPathComponent("inos-job-worker").path)
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw JobService.Failure(
                status: .notFound,
                message: "cannot find the job worker executable (looked at \(candidates.joined(separator: ", "))); build it with `swift build` or set INOS_JOB_WORKER")
        }
        return found
    }

    // MARK: Jobs

    /// Hands the runner a job and rings its doorbell.
    func submit(_ request: JobRequest) throws(JobService.Failure) {
        let status = request.withPayload { channel.jobs.tryWrite(type: JobRecord.job, $0) }
        guard status == .ok else { throw JobService.Failure(status: .full, message: "the job runner's channel is full") }
        channel.toRunner.signal(UInt32(INOS_SIGNAL_INBOX))
    }

    /// The runner's answer to job `id`, if it has come. Answers to other jobs (none are expected: one job
    /// runs at a time) are dropped and their blocks released.
    func takeOutcome(_ id: UInt64) -> JobOutcome? {
        var found: JobOutcome?
        channel.results.drain(limit: 16) { type, payload in
            guard type == JobRecord.result, let outcome = JobOutcome(decoding: payload) else { return }
            if outcome.id == id {
                found = outcome
            } else if outcome.status == .ok, let offset = Int(exactly: outcome.offset), channel.lease.contains(offset) {
                release(offset)
            }
        }
        return found
    }

    /// Copies a successful job's result out of the lease and tells the runner to free its block.
    func takeResult(_ outcome: JobOutcome) throws(JobService.Failure) -> [UInt8] {
        let lease = channel.lease
        guard let offset = Int(exactly: outcome.offset), let length = Int(exactly: outcome.length) else {
            throw JobService.Failure(status: .internal, message: "the job runner returned a result at \(outcome.offset) of \(outcome.length) bytes, outside its lease")
        }
        if length == 0 && !lease.contains(offset) { return [] }  // an empty result without a block
        guard lease.contains(offset), length <= lease.upperBound - offset else {
            throw JobService.Failure(
                status: .internal,
                message: "the job runner returned a result at \(offset) of \(length) bytes, outside its lease \(lease.lowerBound)..<\(lease.upperBound)")
        }
        let bytes = arena.withBytes(at: offset, length: length) { Array(UnsafeRawBufferPointer($0)) }
        release(offset)
        return bytes
    }

    /// Tells the runner to free a result block it lent the node. Lost only if the channel is full, which
    /// costs lease space, never the node's heap.
    private func release(_ offset: Int) {
        var value = UInt64(offset)
        _ = withUnsafeBytes(of: &value) { channel.jobs.tryWrite(type: JobRecord.release, $0) }
    }

    /// Sleeps until the runner rings the node's doorbell, for at most `nanoseconds`.
    func waitForNews(nanoseconds: UInt64) {
        _ = channel.toNode.wait(timeoutNanoseconds: Int64(min(nanoseconds, UInt64(Int64.max))))
    }

    // MARK: End

    /// How the process ended, or `nil` while it runs. Never blocks.
    func poll() -> ChildTermination? { child.poll() }

    /// Ends the process and takes back what it was lent. With a grace period it is first asked to stop
    /// (STOP record: it retires its plugin and exits); when the grace runs out, or without one, it is
    /// killed with `SIGKILL`. Idempotent. Returns how the process ended.
    @discardableResult
    func terminate(grace: Double = 0) -> ChildTermination {
        if child.poll() == nil, grace > 0 {
            _ = channel.jobs.tryWrite(type: JobRecord.stop, UnsafeRawBufferPointer(start: nil, count: 0))
            channel.toRunner.signal(UInt32(INOS_SIGNAL_CONTROL))
            _ = child.wait(seconds: grace)
        }
        let end = child.kill()
        if !reclaimed {
            // Only now, with the process reaped, can nothing write into these blocks any more.
            reclaimed = true
            arena.heap.free(channel.offset)
            arena.heap.free(channel.lease.lowerBound)
        }
        return end
    }
}

/// How a runner's process ended, in words.
func describe(_ end: ChildTermination) -> String {
    switch end {
    case .signaled(let signal): "killed by \(sysSignalDescription(signal))"
    case .exited(let status): "exit status \(status)"
    }
}
