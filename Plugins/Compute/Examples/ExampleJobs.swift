// SPDX-License-Identifier: Apache-2.0
//
// Example compute jobs as a job-runner plugin (inos.job_runner/1): word-count, grep and checksum over the
// job's input buffers (arena slots). A template for writing your own: one `run` that dispatches on the
// function name, reads inputs in place, and returns its output in an arena block it allocates.
import PluginABI
import PluginKit

struct JobFailure: Error {
    var code: PluginStatus
    var message: String
}

/// The functions this runner offers.
enum ExampleJobs {
    static let functions = ["word-count", "grep", "checksum", "noop"]

    static func run(_ function: String, parameters: String, inputs: [UnsafeRawBufferPointer]) throws(JobFailure) -> [UInt8] {
        switch function {
        case "noop":
            return []  // the empty job: what a round trip through the rings costs
        case "word-count":
            var words = 0, lines = 0, bytes = 0
            for input in inputs {
                var inWord = false
                for byte in input {
                    let space = byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D
                    if !space && !inWord { words += 1 }
                    inWord = !space
                    if byte == 0x0A { lines += 1 }
                }
                bytes += input.count
            }
            return Array("\(lines) \(words) \(bytes)\n".utf8)
        case "grep":
            guard !parameters.isEmpty else { throw JobFailure(code: .invalidArgument, message: "grep needs a pattern in the parameters") }
            let pattern = Array(parameters.utf8)
            var out: [UInt8] = []
            for input in inputs {
                var start = 0
                for index in 0...input.count where index == input.count || input[index] == 0x0A {
                    let line = UnsafeRawBufferPointer(rebasing: input[start..<index])
                    if contains(line, pattern) { out += line; out.append(0x0A) }
                    start = index + 1
                }
            }
            return out
        case "checksum":
            // FNV-1a 64 of each input, one line per input, in order.
            return inputs.flatMap { input -> [UInt8] in
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in input {
                    hash ^= UInt64(byte)
                    hash &*= 0x0000_0100_0000_01B3
                }
                let hex = String(hash, radix: 16)
                return Array((String(repeating: "0", count: 16 - hex.count) + hex + " \(input.count)\n").utf8)
            }
        default:
            throw JobFailure(code: .notFound, message: "no function \"\(function)\" (this runner has \(functions.joined(separator: ", ")))")
        }
    }

    static func contains(_ line: UnsafeRawBufferPointer, _ pattern: [UInt8]) -> Bool {
        guard pattern.count <= line.count else { return false }
        if pattern.isEmpty { return true }
        for start in 0...(line.count - pattern.count) where line[start] == pattern[0] {
            var match = true
            for i in 1..<pattern.count where line[start + i] != pattern[i] {
                match = false
                break
            }
            if match { return true }
        }
        return false
    }
}

final class Runner {
    let host: UnsafePointer<inos_host_api>
    init(host: UnsafePointer<inos_host_api>) { self.host = host }
}

nonisolated(unsafe) private let runnerTable: UnsafePointer<inos_job_runner_v1> = {
    let table = UnsafeMutablePointer<inos_job_runner_v1>.allocate(capacity: 1)
    table.initialize(to: inos_job_runner_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_job_runner_v1>.size)
    table.pointee.run = { instance, job, out, errorOut in
        guard let instance, let job, let out, let function = job.pointee.function else {
            return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument")
        }
        let host = Unmanaged<Runner>.fromOpaque(instance).takeUnretainedValue().host
        var size: UInt64 = 0
        let base = host.pointee.arena_base(host.pointee.ctx, &size)!
        var inputs: [UnsafeRawBufferPointer] = []
        for i in 0..<Int(job.pointee.input_count) {
            let ref = job.pointee.inputs[i]
            guard ref.offset <= size, ref.length <= size - ref.offset else {
                return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "input \(i) lies outside the arena")
            }
            inputs.append(UnsafeRawBufferPointer(start: base + Int(ref.offset), count: Int(ref.length)))
        }
        let parameters = job.pointee.parameters.map { String(cString: $0) } ?? ""
        do throws(JobFailure) {
            let result = try ExampleJobs.run(String(cString: function), parameters: parameters, inputs: inputs)
            var offset: UInt64 = 0
            guard PluginStatus(host.pointee.arena_alloc(host.pointee.ctx, UInt64(max(result.count, 1)), &offset)) == .ok else {
                return fail(errorOut, INOS_ERR_FULL, "no arena space for a \(result.count)-byte result")
            }
            result.withUnsafeBytes { (base + Int(offset)).update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: result.count) }
            out.pointee = inos_buffer_ref(offset: offset, length: UInt64(result.count))
            return INOS_OK
        } catch {
            return fail(errorOut, error.code, error.message)
        }
    }
    return UnsafePointer(table)
}()

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_JOB_RUNNER), id: "inos.jobs.examples", name: "Example compute jobs", version: "1.0.0",
    description: "word-count, grep (pattern in the parameters) and checksum over the job's inputs",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        outInstance.pointee = Unmanaged.passRetained(Runner(host: host)).toOpaque()
        return INOS_OK
    },
    deinitialize: { instance in
        if let instance { Unmanaged<Runner>.fromOpaque(instance).release() }
    },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_JOB_RUNNER_V1) ? UnsafeRawPointer(runnerTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
