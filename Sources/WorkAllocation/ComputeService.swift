// SPDX-License-Identifier: Apache-2.0
import Compute
import Content
import DataPath
import Logging
import Mesh

/// A node's side of distributed jobs: runs JOB_RUN requests — a function over chunks of a resource this node
/// holds — through its job runner, one chunk per job, each chunk decoded and checked against its ID first.
/// The runner runs isolated in a child process: a job from the mesh that crashes or hangs fails alone and
/// never takes the node down.
public final class ComputeService: Sendable {
    let jobs: JobService
    let store: ContentStore
    let logger: Logger
    /// Seconds one chunk's job may take.
    public let chunkTimeout: Double

    public init(jobs: JobService, store: ContentStore, logger: Logger, chunkTimeout: Double = 120) {
        self.jobs = jobs
        self.store = store
        self.logger = logger
        self.chunkTimeout = chunkTimeout
    }

    public func start(on peers: PeerManager) {
        peers.serve(.jobRun) { [self] payload, peer, _ in
            guard let run = JobWire.decodeRun(payload) else {
                return (.jobDone, JobWire.encode([JobWire.Outcome(chunk: 0, result: .failure(.init("malformed JOB_RUN")))]))
            }
            logger.info("job \(run.function) over \(run.chunks.count) chunk(s) of \(run.resource) for \(peer)")
            return (.jobDone, JobWire.encode(execute(run)))
        }
    }

    func execute(_ run: JobWire.Run) -> [JobWire.Outcome] {
        let manifest = try? store.manifest(for: run.resource)
        return run.chunks.map { index -> JobWire.Outcome in
            guard let manifest, index < manifest.chunks.count else {
                return .init(chunk: index, result: .failure(.init("this node has no chunk \(index) of \(run.resource)", retryable: true)))
            }
            guard let content = try? store.chunkContent(manifest.chunks[index]) else {
                return .init(chunk: index, result: .failure(.init("chunk \(index) of \(run.resource) is missing or damaged here", retryable: true)))
            }
            do throws(JobService.Failure) {
                return .init(chunk: index, result: .success(try jobs.run(function: run.function, parameters: run.parameters, inputs: [content], timeout: chunkTimeout)))
            } catch {
                // A crash or a timeout of the (isolated) runner may be this node's trouble: let another try.
                let nodeTrouble = error.signal != nil || error.status == 8  // INOS_ERR_TIMEOUT
                return .init(chunk: index, result: .failure(.init(error.message, retryable: nodeTrouble)))
            }
        }
    }
}
