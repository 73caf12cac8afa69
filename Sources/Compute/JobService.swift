// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import PluginABI
import Synchronization

/// Runs compute jobs through the arena and the rings: the job's inputs are copied into arena blocks once,
/// its spec (function, parameters, input slots) goes to the job worker as an inbox record, the worker calls
/// the job-runner plugin with the input slots in place, and the result comes back as an outbox record naming
/// the arena block the runner filled.
///
/// Records (host-internal, on the inbox and outbox rings): JOB = job id, spec offset, spec length;
/// JOB_RESULT = job id, status, result offset, result length, and the runner's message on failure.
public final class JobService: Sendable {
    public static let jobRecord: Int32 = 300
    public static let resultRecord: Int32 = 301

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
        let heap = host.arena.heap
        var blocks: [Int] = []
        defer { for block in blocks { _ = heap.free(block) } }
        var refs: [(offset: Int, length: Int)] = []
        for input in inputs {
            guard let block = heap.allocate(max(input.count, 1)) else {
                throw Failure(status: INOS_ERR_FULL, message: "an input of \(input.count) bytes does not fit the arena (\(heap.statistics.capacity) bytes)")
            }
            blocks.append(block)
            input.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: host.arena.base + block, count: input.count).copyMemory(from: $0) }
            refs.append((block, input.count))
        }
        // The spec: input count (u32), refs (u64 offset, u64 length each), function NUL, parameters NUL.
        var spec: [UInt8] = []
        withUnsafeBytes(of: UInt32(refs.count).littleEndian) { spec += $0 }
        for ref in refs {
            withUnsafeBytes(of: UInt64(ref.offset).littleEndian) { spec += $0 }
            withUnsafeBytes(of: UInt64(ref.length).littleEndian) { spec += $0 }
        }
        spec += Array(function.utf8) + [0] + Array(parameters.utf8) + [0]
        guard let specBlock = heap.allocate(spec.count) else { throw Failure(status: INOS_ERR_FULL, message: "no arena space for the job spec") }
        blocks.append(specBlock)
        spec.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: host.arena.base + specBlock, count: spec.count).copyMemory(from: $0) }

        let id = nextJob.wrappingAdd(1, ordering: .relaxed).oldValue
        var record = (id, UInt64(specBlock), UInt64(spec.count))
        let pushed = withUnsafeBytes(of: &record) { host.inbox.push(type: Self.jobRecord, $0) }
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
            guard type == Self.resultRecord, payload.count >= 32 else { return }
            let id = payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            let status = payload.loadUnaligned(fromByteOffset: 8, as: Int32.self)
            let offset = Int(payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            let length = Int(payload.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            let outcome: Result<[UInt8], Failure>
            if status == INOS_OK {
                outcome = .success(Array(UnsafeRawBufferPointer(start: host.arena.base + offset, count: length)))
                _ = host.arena.heap.free(offset)
            } else {
                outcome = .failure(Failure(status: status, message: String(decoding: payload[32...].prefix { $0 != 0 }, as: UTF8.self)))
            }
            results.withLock { $0[id] = outcome }
        }
    }

    /// The job worker: takes JOB records off the inbox and runs them on the slot's plugin.
    private func worker() {
        var idleSince: UInt64 = 0
        while running.load(ordering: .acquiring) {
            let count = host.inbox.drain(limit: 16) { type, payload in
                guard type == Self.jobRecord, payload.count == 24 else { return }
                let id = payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                let spec = UnsafeRawBufferPointer(
                    start: host.arena.base + Int(payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                    count: Int(payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
                var result = [UInt8](repeating: 0, count: 32)
                var status: Int32 = INOS_OK, offset: UInt64 = 0, length: UInt64 = 0, message = ""
                execute(spec, status: &status, offset: &offset, length: &length, message: &message)
                result.withUnsafeMutableBytes { raw in
                    raw.storeBytes(of: id, toByteOffset: 0, as: UInt64.self)
                    raw.storeBytes(of: status, toByteOffset: 8, as: Int32.self)
                    raw.storeBytes(of: offset, toByteOffset: 16, as: UInt64.self)
                    raw.storeBytes(of: length, toByteOffset: 24, as: UInt64.self)
                }
                result += Array(message.utf8.prefix(200)) + [0]
                while result.withUnsafeBytes({ host.outbox.push(type: Self.resultRecord, $0) }) == INOS_ERR_FULL { usleep(100) }
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

    /// Decodes a spec and calls the runner with its input slots.
    private func execute(_ spec: UnsafeRawBufferPointer, status: inout Int32, offset: inout UInt64, length: inout UInt64, message: inout String) {
        guard spec.count >= 4 else { status = INOS_ERR_INVALID_ARGUMENT; message = "malformed job spec"; return }
        let count = Int(spec.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard spec.count >= 4 + 16 * count + 2 else { status = INOS_ERR_INVALID_ARGUMENT; message = "malformed job spec"; return }
        var refs: [inos_buffer_ref] = (0..<count).map { i in
            inos_buffer_ref(offset: spec.loadUnaligned(fromByteOffset: 4 + 16 * i, as: UInt64.self),
                            length: spec.loadUnaligned(fromByteOffset: 12 + 16 * i, as: UInt64.self))
        }
        let strings = Array(spec[(4 + 16 * count)...]).split(separator: 0, omittingEmptySubsequences: false)
        let function = strings.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let parameters = strings.dropFirst().first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let outcome = slot.withActive { plugin -> (Int32, inos_buffer_ref, String) in
            var error = inos_error()
            var out = inos_buffer_ref()
            let table = plugin.extensionTable(as: inos_job_runner_v1.self)
            let code = function.withCString { f in
                parameters.withCString { p in
                    refs.withUnsafeMutableBufferPointer { inputs in
                        var job = inos_job(struct_size: UInt32(MemoryLayout<inos_job>.size), input_count: UInt32(count), function: f, parameters: p, inputs: inputs.baseAddress)
                        return table.pointee.run(plugin.instance, &job, &out, &error)
                    }
                }
            }
            let text = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return (code, out, text)
        }
        guard let (code, out, text) = outcome else { status = INOS_ERR_CLOSED; message = "no job runner in slot \(slot.name)"; return }
        status = code
        offset = out.offset
        length = out.length
        message = text
    }
}
