// SPDX-License-Identifier: Apache-2.0
import APIModel
import ArgumentParser
import Compute
import Content
import DataPath
import Foundation
import Host
import Node
import PluginABI
import PluginKit
import Primitives

struct Job: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute jobs.", subcommands: [JobRun.self, JobSubmit.self, JobCall.self])
}

struct JobRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job locally on stored resources; store its result and a record of it, content-addressed.",
        discussion: """
            The inputs are read into arena blocks and the job goes to the job-runner plugin through the rings; \
            the result is stored and pinned, and so is a job record naming the runner, the function, the \
            parameters, the inputs and the result, so the result can be re-checked. The example runner \
            (libInosExampleJobs) has word-count, grep (pattern in --parameters) and checksum. With --isolated \
            (or isolation = "process" in the runner's manifest entry) the runner works in a child process that \
            maps the same arena: a job that crashes or overruns --timeout fails with a clear error, and inos \
            itself carries on.
            """)

    @Argument(help: "The function, e.g. word-count.") var function: String
    @Option(name: .long, help: "A stored resource to use as input (b…). Repeatable.") var input: [String] = []
    @Option(name: .long, help: "Text handed to the function (for grep: the pattern).") var parameters = ""
    @Option(name: .shortAndLong, help: "Write the result here instead of to standard output.") var output: String?
    @Flag(
        inversion: .prefixedNo,
        help: "Run the job runner in a child process, so a crash or hang fails the job, not inos. Default: as the runner's manifest entry says (isolation =).")
    var isolated: Bool?
    @Option(name: .long, help: "Fail the job after this many seconds; isolated, its runner process is killed.") var timeout: Double = 600
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() async throws {
        let ids: [ContentID]
        do { ids = try input.map { id throws(ContentIDError) in try ContentID(id) } } catch { throw ValidationError(error.description) }
        if let client = try store.runningNode() {
            // The node runs it with its own (isolated) job runner and keeps the result and record.
            let result = try await client.call(
                .POST, "/v1/jobs/run", JobRunRequest(function: function, inputs: input, parameters: parameters, timeoutSeconds: timeout), as: JobResult.self)
            return try writeJobResult(result, output: output)
        }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        guard let slot = host.slot("job_runner") else {
            throw InosError(.unavailable, "no job-runner plugin loaded (slot \"job_runner\"); the embedded manifest loads libInosExampleJobs")
        }
        let scratch = try LocalJobs.scratch("inos-job")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let inputs = try LocalJobs.readInputs(ids, from: data, scratch: scratch)
        let jobs = JobService(host: host, slot: slot, isolated: isolated)
        let result: [UInt8]
        do { result = try jobs.run(function: function, parameters: parameters, inputs: inputs, timeout: timeout) } catch {
            if error.status == .timeout && !jobs.isIsolated {
                // The job still runs on a thread of this process, and nothing can stop it: waiting for it to
                // shut down would wait forever, so leave at once (printed as the CLI prints any error).
                let failure = InosError(
                    .timeout, "job \(function) failed (it ran inside inos, which cannot stop it; --isolated runs it in a process that can be killed)",
                    cause: error)
                FileHandle.standardError.write(Data((ErrorReport.text(failure, includeLocation: false) + "\n").utf8))
                Foundation.exit(Inos.failureExitCode)
            }
            jobs.stop()
            throw InosError(.failed, "job \(function) failed", cause: error)
        }
        jobs.stop()
        let runner = slot.active.map { "\($0.id) \($0.version)" } ?? "?"
        let (resultID, recordID) = try LocalJobs.storeResult(
            result, runner: runner, function: function, parameters: parameters, inputs: ids, extra: nil, data: data, pins: try store.pins(), scratch: scratch)
        if let output {
            try Data(result).write(to: URL(fileURLWithPath: output))
        } else {
            FileHandle.standardOutput.write(Data(result))
        }
        FileHandle.standardError.write(Data("result \(resultID) (\(result.count) bytes); job record \(recordID)\n".utf8))
    }
}

struct JobCall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call a plain C function that a job plugin exports, by a signature you declare (libffi).",
        discussion: """
            Example: inos job call "inos_template_sum(buffer, length) -> i64" --input b… — each buffer argument \
            points at the next input's arena slot, length is that buffer's size, i32/i64/u64/f32/f64 arguments \
            come from --arg in order. The function is looked up in the loaded job-runner plugins (the embedded \
            manifest loads the C template, libInosJobTemplateC). A declaration that does not match what is \
            given is refused before the call.
            """)

    @Argument(help: "NAME(type, …) -> type") var signature: String
    @Option(name: .long, help: "A stored resource for the next buffer argument (b…). Repeatable.") var input: [String] = []
    @Option(name: .long, help: "A number for the next numeric argument. Repeatable.") var arg: [String] = []
    @OptionGroup var store: StoreOptions

    func run() throws {
        let declared: ForeignSignature
        do { declared = try ForeignSignature(parsing: signature) } catch { throw ValidationError(error.message) }
        let ids: [ContentID]
        do { ids = try input.map { id throws(ContentIDError) in try ContentID(id) } } catch { throw ValidationError(error.description) }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        let runners = host.slots.values.filter { $0.kind == .jobRunner }.compactMap(\.active)
        guard let (plugin, function) = runners.lazy.compactMap({ plugin in plugin.symbol(declared.name).map { (plugin, $0) } }).first else {
            throw InosError(.notFound, "no loaded job plugin exports \(declared.name) (looked in: \(runners.map(\.id).joined(separator: ", ")))")
        }
        let scratch = try LocalJobs.scratch("inos-call")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Inputs go into arena slots; the function reads them in place.
        var blocks: [Int] = []
        defer { for block in blocks { _ = host.arena.heap.free(block) } }
        var buffers: [UnsafeRawBufferPointer] = []
        for (id, bytes) in zip(ids, try LocalJobs.readInputs(ids, from: data, scratch: scratch)) {
            guard let block = host.arena.heap.allocate(max(bytes.count, 1)) else { throw InosError(.noSpace, "input \(id) does not fit the arena") }
            blocks.append(block)
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: host.arena.base + block, count: bytes.count).copyMemory(from: $0) }
            buffers.append(UnsafeRawBufferPointer(start: host.arena.base + block, count: bytes.count))
        }
        do {
            print(try callForeign(function, declared, buffers: buffers, literals: arg))
        } catch {
            throw InosError(.failed, "\(declared.name) in \(plugin.id)", cause: error)
        }
    }
}

/// A private scratch folder for one command run.
