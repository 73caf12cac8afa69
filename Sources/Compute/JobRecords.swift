// SPDX-License-Identifier: Apache-2.0
import Host
import PluginABI
import PluginKit

/// The records jobs travel in. The in-process worker uses JOB and JOB_RESULT on the arena's inbox and
/// outbox; an isolated runner uses all four on its own channel's rings (see ``JobChannel``).
///
/// - JOB (300): job id (u64), spec offset (u64), spec length (u64). The spec is in an arena block.
/// - JOB_RESULT (301): job id (u64), status (i32), 4 bytes of padding, result offset (u64), result length
///   (u64), then — on failure — the runner's message, NUL-terminated.
/// - RELEASE (302, channel only): the offset (u64) of a result block the node has copied out; the runner's
///   process frees it in its lease.
/// - STOP (303, channel only): no payload; the runner's process retires its plugin and exits.
enum JobRecord {
    static let job: Int32 = 300
    static let result: Int32 = 301
    static let release: Int32 = 302
    static let stop: Int32 = 303
}

/// A JOB record.
struct JobRequest: Hashable {
    var id: UInt64
    var specOffset: UInt64
    var specLength: UInt64

    init(id: UInt64, specOffset: UInt64, specLength: UInt64) {
        self.id = id
        self.specOffset = specOffset
        self.specLength = specLength
    }

    init?(decoding payload: UnsafeRawBufferPointer) {
        guard payload.count == 24 else { return nil }
        id = payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        specOffset = payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        specLength = payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
    }

    /// Calls `body` with the record's payload.
    /// - warning: the buffer is valid only inside `body`.
    func withPayload<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var record = (id, specOffset, specLength)
        return withUnsafeBytes(of: &record, body)
    }
}

/// A JOB_RESULT record: what the runner returned for one job.
struct JobOutcome: Hashable {
    var id: UInt64
    var status: PluginStatus
    var offset: UInt64
    var length: UInt64
    var message: String

    /// The longest message a record carries (bytes of UTF-8).
    static let messageCapacity = 200

    init(id: UInt64 = 0, status: PluginStatus, offset: UInt64 = 0, length: UInt64 = 0, message: String = "") {
        self.id = id
        self.status = status
        self.offset = offset
        self.length = length
        self.message = message
    }

    init?(decoding payload: UnsafeRawBufferPointer) {
        guard payload.count >= 32 else { return nil }
        id = payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        status = PluginStatus(payload.loadUnaligned(fromByteOffset: 8, as: Int32.self))
        offset = payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        length = payload.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
        message = String(decoding: payload[32...].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The record's payload.
    var encoded: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: id, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: status.rawValue, toByteOffset: 8, as: Int32.self)
            raw.storeBytes(of: offset, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: length, toByteOffset: 24, as: UInt64.self)
        }
        return bytes + Array(message.utf8.prefix(Self.messageCapacity)) + [0]
    }
}

/// A job's inputs and spec, copied once into blocks of the node's payload heap. The blocks are freed when
/// this value is destroyed, which the caller arranges to happen only after the runner is done with them:
/// its result is back, or its process is gone.
///
/// The spec: input count (u32), then per input its arena offset and length (u64 each), then the function
/// and the parameters, each NUL-terminated.
struct StagedJob: ~Copyable {
    let specOffset: Int
    let specLength: Int
    private let blocks: [Int]
    private let heap: PayloadHeap

    init(arena: Arena, function: String, parameters: String, inputs: [[UInt8]]) throws(JobService.Failure) {
        let heap = arena.heap
        var blocks: [Int] = []
        func fail(_ message: String) -> JobService.Failure {
            for block in blocks { heap.free(block) }
            return JobService.Failure(status: .full, message: message)
        }
        var spec: [UInt8] = []
        withUnsafeBytes(of: UInt32(inputs.count).littleEndian) { spec += $0 }
        for input in inputs {
            guard let block = heap.allocate(max(input.count, 1)) else {
                throw fail("an input of \(input.count) bytes does not fit the arena (\(heap.statistics.capacity) bytes)")
            }
            blocks.append(block)
            input.withUnsafeBytes { source in
                arena.withBytes(at: block, length: input.count) { $0.copyMemory(from: source) }
            }
            withUnsafeBytes(of: UInt64(block).littleEndian) { spec += $0 }
            withUnsafeBytes(of: UInt64(input.count).littleEndian) { spec += $0 }
        }
        spec += Array(function.utf8) + [0] + Array(parameters.utf8) + [0]
        guard let specBlock = heap.allocate(spec.count) else { throw fail("no arena space for the job spec") }
        blocks.append(specBlock)
        spec.withUnsafeBytes { source in
            arena.withBytes(at: specBlock, length: spec.count) { $0.copyMemory(from: source) }
        }
        self.specOffset = specBlock
        self.specLength = spec.count
        self.blocks = blocks
        self.heap = heap
    }

    deinit {
        for block in blocks { heap.free(block) }
    }
}

/// Runs one job on a slot's job runner: decodes the spec and calls `run` with the input slots in place.
/// The same code serves the in-process worker and an isolated runner's process.
enum JobExecution {
    /// The outcome has no job id; the caller adds it.
    static func execute(_ spec: UnsafeRawBufferPointer, on slot: PluginSlot) -> JobOutcome {
        guard spec.count >= 4 else { return JobOutcome(status: .invalidArgument, message: "malformed job spec") }
        let count = Int(spec.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard spec.count >= 4 + 16 * count + 2 else {
            return JobOutcome(status: .invalidArgument, message: "malformed job spec")
        }
        var refs: [inos_buffer_ref] = (0..<count).map { i in
            inos_buffer_ref(offset: spec.loadUnaligned(fromByteOffset: 4 + 16 * i, as: UInt64.self),
                            length: spec.loadUnaligned(fromByteOffset: 12 + 16 * i, as: UInt64.self))
        }
        let strings = Array(spec[(4 + 16 * count)...]).split(separator: 0, omittingEmptySubsequences: false)
        let function = strings.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let parameters = strings.dropFirst().first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let outcome = slot.withActive { plugin -> JobOutcome in
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
            return JobOutcome(status: PluginStatus(code), offset: out.offset, length: out.length, message: text)
        }
        return outcome ?? JobOutcome(status: .closed, message: "no job runner in slot \(slot.name)")
    }
}
