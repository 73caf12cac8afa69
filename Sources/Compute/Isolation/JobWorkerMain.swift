// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Logging
import PluginABI
import PluginKit
import Primitives

/// The isolated job runner's side: the body of `inos-job-worker`, which a ``JobService`` starts with
///
///     inos-job-worker --arena-fd N --lifeline-fd M --channel OFFSET:LENGTH --lease OFFSET:LENGTH
///                     --plugin PATH [--id ID] [--slot NAME] [--log-level LEVEL] [--config KEY=VALUE]...
///
/// It maps the node's arena from the inherited memfd — read-only, except the channel and the lease — loads
/// the plugin with the same checks the node makes (a host of its own over the borrowed arena, whose
/// `arena_alloc` allocates in the lease), marks the channel ready, and serves JOB records with the same
/// code as the in-process worker: inputs are read in place, results are left in lease blocks and
/// reported by offset, and freed when the node sends RELEASE. It exits after a STOP record, or as soon as
/// the node is gone (the lifeline pipe reads end-of-file), even in the middle of a job.
package enum JobWorkerMain {
    struct Options {
        var arenaDescriptor: Int32 = -1
        var lifelineDescriptor: Int32 = -1
        var channel: Range<Int> = 0..<0
        var lease: Range<Int> = 0..<0
        var plugin = ""
        var id: String?
        var slot = "job_runner"
        var logLevel = Logger.Level.warning
        var config: [String: String] = [:]
    }

    /// Runs the worker; returns its exit status (0 after STOP, 2 when it cannot start, 64 for bad usage).
    package static func main(_ arguments: [String]) -> Int32 {
        let options: Options
        switch parse(arguments) {
        case .success(let parsed): options = parsed
        case .failure(let error):
            FileHandle.standardError.write(Data("inos-job-worker: \(error.description)\n".utf8))
            return 64
        }
        watchLifeline(options.lifelineDescriptor)
        var logger = Logger(label: "inos-job-worker") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = options.logLevel
        logger[metadataKey: "pid"] = "\(sysProcessID)"

        let arena: Arena
        do {
            arena = try Arena(attaching: options.arenaDescriptor, writable: [options.channel, options.lease], heapLease: options.lease)
        } catch {
            logger.error("cannot map the node's arena: \(error)")
            return 2
        }
        let channel: JobChannel
        switch JobChannel.attach(in: arena, offset: options.channel.lowerBound, length: options.channel.count, lease: options.lease) {
        case .success(let attached): channel = attached
        case .failure(let error):
            logger.error("cannot use the job channel: \(error)")
            return 2
        }
        let spec = PluginSpec(
            location: .path(options.plugin), kind: .jobRunner, id: options.id, config: options.config, explicitSlot: options.slot)
        let host = HostRuntime(attaching: arena, manifest: Manifest(nodeName: "inos-job-worker", plugins: [spec]), logger: logger)
        do {
            try host.start()
        } catch {
            channel.markFailed(error.description)
            return 2
        }
        guard let slot = host.slot(options.slot) else {
            channel.markFailed("the plugin did not take slot \(options.slot)")
            return 2
        }
        channel.markReady()
        serve(channel, arena: arena, slot: slot, logger: logger)
        host.shutdown()
        return 0
    }

    /// Takes records off the job ring until STOP: runs JOBs, frees RELEASEd result blocks.
    static func serve(_ channel: JobChannel, arena: Arena, slot: PluginSlot, logger: Logger) {
        var stopping = false
        var idleSince = sysMonotonicNanoseconds()
        while !stopping {
            let count = channel.jobs.drain(limit: 16) { type, payload in
                switch type {
                case JobRecord.job:
                    guard let request = JobRequest(decoding: payload) else { return }
                    var outcome: JobOutcome
                    if let offset = Int(exactly: request.specOffset), let length = Int(exactly: request.specLength),
                        length <= arena.size, offset <= arena.size - length
                    {
                        outcome = arena.withBytes(at: offset, length: length) { JobExecution.execute(UnsafeRawBufferPointer($0), on: slot) }
                    } else {
                        outcome = JobOutcome(status: .invalidArgument, message: "job spec outside the arena")
                    }
                    outcome.id = request.id
                    let record = outcome.encoded
                    while record.withUnsafeBytes({ channel.results.tryWrite(type: JobRecord.result, $0) }) == .full {
                        sysSleep(microseconds: 100)
                    }
                    channel.toNode.signal(UInt32(INOS_SIGNAL_OUTBOX))
                case JobRecord.release:
                    guard payload.count == 8 else { return }
                    let offset = payload.loadUnaligned(as: UInt64.self)
                    if !arena.heap.free(Int(exactly: offset) ?? -1) {
                        logger.warning("RELEASE of \(offset), which is not a live block of the lease: ignored")
                    }
                case JobRecord.stop:
                    stopping = true
                default:
                    logger.warning("unknown record type \(type) on the job channel: ignored")
                }
            }
            let now = sysMonotonicNanoseconds()
            if count > 0 {
                idleSince = now
            } else if now - idleSince < 200_000 {
                sched_yield()  // jobs come in bursts: stay awake for 200 µs before sleeping on the doorbell
            } else {
                _ = channel.toRunner.wait(timeoutNanoseconds: 1_000_000_000)
            }
        }
    }

    /// Exits the process as soon as the lifeline pipe reads end-of-file: the node closed it, or died.
    static func watchLifeline(_ descriptor: Int32) {
        Thread {
            var byte: UInt8 = 0
            while true {
                let read = withUnsafeMutableBytes(of: &byte) { try? sysRead(descriptor, into: $0) }
                if read == nil || read == 0 { sysExitImmediately(0) }
            }
        }.start()
    }

    static func parse(_ arguments: [String]) -> Result<Options, InosError> {
        var options = Options()
        var index = 0
        func range(_ text: String) -> Range<Int>? {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let start = Int(parts[0]), let count = Int(parts[1]), start >= 0, count > 0,
                start <= Int.max - count
            else { return nil }
            return start..<(start + count)
        }
        while index < arguments.count {
            let name = arguments[index]
            guard index + 1 < arguments.count else { return .failure(InosError(.invalidArgument, "\(name) needs a value")) }
            let value = arguments[index + 1]
            index += 2
            switch name {
            case "--arena-fd": options.arenaDescriptor = Int32(value) ?? -1
            case "--lifeline-fd": options.lifelineDescriptor = Int32(value) ?? -1
            case "--channel":
                guard let parsed = range(value) else { return .failure(InosError(.invalidArgument, "--channel \(value) is not OFFSET:LENGTH")) }
                options.channel = parsed
            case "--lease":
                guard let parsed = range(value) else { return .failure(InosError(.invalidArgument, "--lease \(value) is not OFFSET:LENGTH")) }
                options.lease = parsed
            case "--plugin": options.plugin = value
            case "--id": options.id = value
            case "--slot": options.slot = value
            case "--log-level":
                guard let level = Logger.Level(rawValue: value) else { return .failure(InosError(.invalidArgument, "--log-level \(value) is not a log level")) }
                options.logLevel = level
            case "--config":
                guard let equals = value.firstIndex(of: "=") else { return .failure(InosError(.invalidArgument, "--config \(value) is not KEY=VALUE")) }
                options.config[String(value[..<equals])] = String(value[value.index(after: equals)...])
            default:
                return .failure(InosError(.invalidArgument, "unknown option \(name)"))
            }
        }
        guard options.arenaDescriptor >= 0, options.lifelineDescriptor >= 0, !options.channel.isEmpty, !options.lease.isEmpty,
            !options.plugin.isEmpty
        else {
            return .failure(InosError(.invalidArgument, "needs --arena-fd, --lifeline-fd, --channel, --lease and --plugin: it is started by the node (JobService), not by hand"))
        }
        return .success(options)
    }
}
