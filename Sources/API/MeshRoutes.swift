// SPDX-License-Identifier: Apache-2.0
import APIModel
import Compute
import Content
import DataPath
import Foundation
import Hummingbird
import Node
import Primitives
import Replication
import WorkAllocation

/// Mesh puts and gets, and jobs (run here or submitted to the mesh), run by the node for the CLI: with the
/// node's own peer layer, store and job runner — a second process would open the same store.
enum MeshRoutes {
    static func register(_ v1: RouterGroup<BasicRequestContext>, _ state: ControlState) {
        v1.post("mesh/put") { request, context in
            let body = try await Routes.decode(MeshPutRequest.self, request, context)
            guard body.path.hasPrefix("/") else { throw APIFailure(InosError(.invalidArgument, "path \(body.path) must be absolute")) }
            let (client, pins) = try meshClient(state)
            return DataRoutes.streamed("put", state) { progress in
                do {
                    let report = try await client.put(file: body.path, entry: body.entry, budget: body.budget, pins: pins, progress: progress)
                    return MeshResult(id: report.id.description, summary: report.summaryLines(budget: body.budget))
                } catch { throw APIFailure(error) }
            }
        }
        v1.post("mesh/get") { request, context in
            let body = try await Routes.decode(MeshGetRequest.self, request, context)
            let id = try DataRoutes.contentID(body.id)
            if let output = body.output, !output.hasPrefix("/") { throw APIFailure(InosError(.invalidArgument, "output \(output) must be absolute")) }
            let (client, pins) = try meshClient(state)
            return DataRoutes.streamed("get", state) { progress in
                do {
                    let report = try await client.get(id, entry: body.entry, output: body.output, pins: pins, progress: progress)
                    return MeshResult(id: id.description, summary: report.summaryLines(id, output: body.output))
                } catch { throw APIFailure(error) }
            }
        }
        v1.post("jobs/run") { request, context in
            let body = try await Routes.decode(JobRunRequest.self, request, context)
            let ids = try body.inputs.map(DataRoutes.contentID)
            guard body.timeoutSeconds > 0, body.timeoutSeconds.isFinite else { throw APIFailure(InosError(.invalidArgument, "timeout_seconds must be positive")) }
            let (store, pins) = try DataRoutes.storeAndPins(state)
            guard let runner = state.node.host.slot("job_runner") else {
                throw APIFailure(InosError(.unavailable, "this node has no job-runner plugin (slot \"job_runner\")"))
            }
            let node = state.node
            let result = try await state.offload("job") { () throws -> JobResult in
                // The compute service's runner (isolated) when the node has one; else a runner of this job's own, isolated.
                let jobs = node.compute?.jobs ?? JobService(host: node.host, slot: runner, isolated: true)
                defer { if node.compute == nil { jobs.stop() } }
                let scratch = try LocalJobs.scratch("inos-api-job")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                let inputs = try LocalJobs.readInputs(ids, from: store, scratch: scratch)
                let started = ContinuousClock.now
                let output: [UInt8]
                do { output = try jobs.run(function: body.function, parameters: body.parameters, inputs: inputs, timeout: body.timeoutSeconds) } catch {
                    throw APIFailure(InosError(.failed, "job \(body.function) failed", cause: error), status: .unprocessableContent)
                }
                let elapsed = ContinuousClock.now - started
                let runnerName = runner.active.map { "\($0.id) \($0.version)" } ?? "?"
                let (resultID, recordID) = try LocalJobs.storeResult(
                    output, runner: runnerName, function: body.function, parameters: body.parameters, inputs: ids, extra: nil, data: store, pins: pins, scratch: scratch)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                return JobResult(
                    outputBase64: Data(output).base64EncodedString(), resultId: resultID.description, recordId: recordID.description,
                    summary: [String(format: "%@ ran on the node in %.2f s", body.function, seconds)])
            }
            return try Routes.json(result)
        }
        v1.post("jobs/submit") { request, context in
            let body = try await Routes.decode(JobSubmitRequest.self, request, context)
            let id = try DataRoutes.contentID(body.input)
            guard let mode = WorkPlanner.Reduce(rawValue: body.reduce) else { throw APIFailure(InosError(.invalidArgument, "reduce must be concat or sum")) }
            let (client, pins) = try meshClient(state)
            let store = client.store
            return DataRoutes.streamed("job", state) { progress in
                let report: JobSubmitter.Report
                do {
                    report = try await JobSubmitter(client: client).submit(
                        id, function: body.function, parameters: body.parameters, reduce: mode, entry: body.entry, timeout: body.timeoutSeconds, progress: progress)
                } catch {
                    state.node.compute?.history.recordSubmissionFailure(function: body.function, resource: id.description, message: "\(error)", seconds: 0)
                    throw APIFailure(InosError(.failed, "job \(body.function) over \(id)", cause: error))
                }
                state.node.compute?.history.recordSubmitted(report, function: body.function)
                let scratch = try LocalJobs.scratch("inos-api-submit")
                defer { try? FileManager.default.removeItem(atPath: scratch) }
                let (resultID, recordID) = try LocalJobs.storeResult(
                    report.result, runner: "mesh", function: body.function, parameters: body.parameters, inputs: [id],
                    extra: report.recordFields(reduce: body.reduce), data: store, pins: pins, scratch: scratch)
                return JobResult(
                    outputBase64: Data(report.result).base64EncodedString(), resultId: resultID.description, recordId: recordID.description,
                    summary: report.summaryLines(function: body.function))
            }
        }
    }

    /// The node's own mesh client (its peer layer, store and identity) and its pins.
    private static func meshClient(_ state: ControlState) throws -> (MeshClient, PinSet) {
        let (_, pins) = try DataRoutes.storeAndPins(state)
        do { return (try state.node.meshClient(label: "inos.api"), pins) } catch {
            throw APIFailure(InosError(.unavailable, "this node cannot reach the mesh: it needs a transport (listen or bootstrap addresses) and a store", cause: error))
        }
    }
}
