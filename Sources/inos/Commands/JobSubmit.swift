// SPDX-License-Identifier: Apache-2.0
import APIModel
import ArgumentParser
import Content
import Foundation
import Node
import Primitives
import Replication
import WorkAllocation

struct JobSubmit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Run a job over a resource stored in the mesh: each chunk where it already is, on the least-loaded holders.",
        discussion: """
            The function runs once per 1 MiB chunk, on nodes that hold that chunk (data-local), as many nodes as the \
            job's size asks for (1 below 10 MB, 5 below 100 MB, 20 below 1 GB, else 50), the least loaded first. A \
            node that fails or stops answering has its chunks run on other holders. Per-chunk results are reduced \
            in chunk order: --reduce concat (checksum, grep) or sum (word-count's "lines words bytes"; words cut by \
            a chunk boundary count in both chunks). The result and a record naming the inputs and the nodes are \
            stored and pinned here.
            """)

    @Argument(help: "The function, e.g. checksum.") var function: String
    @Option(name: .long, help: "The stored resource to run over (b…).") var input: String
    @Option(name: .long, help: "A member's address, e.g. tcp://127.0.0.1:7400.") var mesh: String
    @Option(name: .long, help: "Text handed to the function (for grep: the pattern).") var parameters = ""
    @Option(name: .long, help: "How per-chunk results combine: concat or sum.") var reduce: String = "concat"
    @Option(name: .long, help: "Seconds a node may take for its part before it counts as failed.") var timeout = 600.0
    @Option(name: .shortAndLong, help: "Write the result here instead of to standard output.") var output: String?
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions
    @OptionGroup var progress: ProgressOptions

    func run() async throws {
        let id: ContentID
        do { id = try ContentID(input) } catch { throw ValidationError(error.description) }
        guard WorkPlanner.Reduce(rawValue: reduce) != nil else { throw ValidationError("--reduce must be concat or sum") }
        if let client = try store.runningNode() {
            let bar = progress.reporter("job")
            defer { bar.finish(failed: true) }
            let result = try await streamedCall(
                client, "/v1/jobs/submit",
                JobSubmitRequest(function: function, input: input, entry: mesh, parameters: parameters, reduce: reduce, timeoutSeconds: timeout), bar: bar,
                as: JobResult.self)
            bar.finish()
            return try writeJobResult(result, output: output)
        }
        let mode = WorkPlanner.Reduce(rawValue: reduce)!
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.submit")
        defer { process.close() }
        let bar = progress.reporter("job")
        defer { bar.finish(failed: true) }  // only when the job did not finish
        let report: JobSubmitter.Report
        do {
            report = try await JobSubmitter(client: process.client).submit(
                id, function: function, parameters: parameters, reduce: mode, entry: mesh, timeout: timeout, progress: bar.update)
        } catch { throw InosError(.failed, "job \(function) over \(id)", cause: error) }
        bar.finish()
        var lines = report.summaryLines(function: function)
        let scratch = try LocalJobs.scratch("inos-submit")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (resultID, recordID) = try LocalJobs.storeResult(
            report.result, runner: "mesh", function: function, parameters: parameters, inputs: [id], extra: report.recordFields(reduce: reduce),
            data: process.store, pins: try store.pins(), scratch: scratch)
        lines.append("result \(resultID) (\(report.result.count) bytes); job record \(recordID)")
        if let output { try Data(report.result).write(to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(Data(report.result)) }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
