// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Compute
import Content
import DataPath
import Foundation
import Host

struct Job: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute jobs.", subcommands: [JobRun.self])
}

struct JobRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job locally on stored resources; store its result and a record of it, content-addressed.",
        discussion: """
            The inputs are read into arena blocks and the job goes to the job-runner plugin through the rings; \
            the result is stored and pinned, and so is a job record naming the runner, the function, the \
            parameters, the inputs and the result, so the result can be re-checked. The example runner \
            (libInosExampleJobs) has word-count, grep (pattern in --parameters) and checksum.
            """)

    @Argument(help: "The function, e.g. word-count.") var function: String
    @Option(name: .long, help: "A stored resource to use as input (b…). Repeatable.") var input: [String] = []
    @Option(name: .long, help: "Text handed to the function (for grep: the pattern).") var parameters = ""
    @Option(name: .shortAndLong, help: "Write the result here instead of to standard output.") var output: String?
    @OptionGroup var store: StoreOptions

    func run() throws {
        let ids: [ContentID]
        do { ids = try input.map { id throws(ContentIDError) in try ContentID(id) } } catch { throw ValidationError(error.description) }
        let (host, data) = try store.open()
        defer { host.shutdown() }
        guard let slot = host.slot("job_runner") else {
            throw CommandFailure("no job-runner plugin loaded (slot \"job_runner\"); the embedded manifest loads libInosExampleJobs")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("inos-job-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var inputs: [[UInt8]] = []
        for (index, id) in ids.enumerated() {
            let path = "\(scratch)/input-\(index)"
            do { _ = try data.get(id, to: path) } catch { throw CommandFailure("input \(id): \(error.description)") }
            inputs.append(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        let jobs = JobService(host: host, slot: slot)
        defer { jobs.stop() }
        let result: [UInt8]
        do { result = try jobs.run(function: function, parameters: parameters, inputs: inputs) } catch {
            throw CommandFailure("job \(function) failed: \(StatusCode(error.status)) \(error.message)")
        }
        let runner = slot.active.map { "\($0.id) \($0.version)" } ?? "?"
        let resultID = try storePinned(result, data: data, scratch: scratch, name: "result")
        let record = """
            {"runner": "\(runner)", "function": "\(escape(function))", "parameters": "\(escape(parameters))", \
            "inputs": [\(ids.map { "\"\($0)\"" }.joined(separator: ", "))], "result": "\(resultID)"}

            """
        let recordID = try storePinned(Array(record.utf8), data: data, scratch: scratch, name: "record")
        if let output {
            try Data(result).write(to: URL(fileURLWithPath: output))
        } else {
            FileHandle.standardOutput.write(Data(result))
        }
        FileHandle.standardError.write(Data("result \(resultID) (\(result.count) bytes); job record \(recordID)\n".utf8))
    }

    private func storePinned(_ bytes: [UInt8], data: ContentStore, scratch: String, name: String) throws -> ContentID {
        let path = "\(scratch)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var options = ContentStore.Options()
        options.erasure = nil
        do { return try data.putPinned(file: path, pins: try store.pins(), options: options).id } catch {
            throw CommandFailure("storing the job's \(name): \(error)")
        }
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
