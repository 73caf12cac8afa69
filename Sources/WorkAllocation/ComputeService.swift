// SPDX-License-Identifier: Apache-2.0
import Compute
import Content
import DataPath
import Logging
import Identity
import Mesh
import PluginKit
import Synchronization
import Wire

/// A node's side of distributed jobs: runs JOB_RUN requests — a function over chunks of a resource this node
/// holds — through its job runner, one chunk per job, each chunk decoded and checked against its ID first.
/// The runner runs isolated in a child process: a job from the mesh that crashes or hangs fails alone and
/// never takes the node down.
///
/// Who may run jobs here is the node's ``Policy``; each request is bounded (``maxChunksPerRequest``, no chunk
/// twice) and each peer runs at most ``jobsPerPeer`` requests at once.
public final class ComputeService: Sendable {
    /// `[compute] allow`: whose JOB_RUN requests this node runs.
    public enum Policy: String, Sendable, CaseIterable {
        /// Nobody's: the node runs no jobs from the mesh.
        case none
        /// Any member of the mesh (a peer SWIM knows as alive).
        case members
        /// The owner of the data only (the key that signed the resource's owner ticket). The default.
        case owners
    }

    public static let maxChunksPerRequest = 1024
    public static let jobsPerPeer = 2

    /// The job runner this service runs chunks with (isolated in a child process unless the node runs jobs in process).
    public let jobs: JobService
    let store: ContentStore
    let policy: Policy
    /// The owner of a resource held here (its ticket's signer), or nil.
    let owner: @Sendable (ContentID) -> NodeID?
    /// Whether a node is an alive member of the mesh.
    let isMember: @Sendable (NodeID) -> Bool
    private let running = Mutex<[NodeID: Int]>([:])
    /// Chunk jobs run here by outcome (`succeeded`, `failed`) and requests refused, since start.
    private let outcomes = Mutex<[String: UInt64]>([:])
    private let observer = Mutex<(@Sendable (_ outcome: String, _ seconds: Double) -> Void)?>(nil)
    /// The newest jobs run here and submitted from here (the dashboard's Jobs page).
    public let history = JobHistory()
    let logger: Logger
    /// Seconds one chunk's job may take.
    public let chunkTimeout: Double

    public init(jobs: JobService, store: ContentStore, logger: Logger, chunkTimeout: Double = 120, policy: Policy = .owners,
                owner: @escaping @Sendable (ContentID) -> NodeID? = { _ in nil }, isMember: @escaping @Sendable (NodeID) -> Bool = { _ in false }) {
        self.jobs = jobs
        self.store = store
        self.policy = policy
        self.owner = owner
        self.isMember = isMember
        self.logger = logger
        self.chunkTimeout = chunkTimeout
    }

    /// The answer to JOB_RUN, declared by every part that sends one (this service, ``JobSubmitter``).
    public static let jobDone = FrameRegistration.response(.jobDone, "JOB_DONE", owner: "compute")

    public func start(on peers: PeerManager) {
        peers.register([Self.jobDone])
        peers.serve(.jobRun, "JOB_RUN", owner: "compute", lane: .compute) { [self] payload, peer, _ in
            guard let run = JobWire.decodeRun(payload) else {
                return (.jobDone, JobWire.encode([JobWire.Outcome(chunk: 0, result: .failure(.init("malformed JOB_RUN")))]))
            }
            func refuse(_ why: String, retryable: Bool = false) -> (FrameType, [UInt8]) {
                count("refused", seconds: nil)
                history.record(served(run, from: peer, outcome: "refused", message: why, seconds: 0))
                logger.warning("job \(run.function) over \(run.resource) from \(peer) refused: \(why)")
                return (.jobDone, JobWire.encode([JobWire.Outcome(chunk: run.chunks.first ?? 0, result: .failure(.init(why, retryable: retryable)))]))
            }
            if let why = refusal(run, from: peer) { return refuse(why) }
            let admitted = running.withLock { running -> Bool in
                guard running[peer, default: 0] < Self.jobsPerPeer else { return false }
                running[peer, default: 0] += 1
                return true
            }
            guard admitted else { return refuse("busy: \(Self.jobsPerPeer) jobs of this peer are running here", retryable: true) }
            defer { running.withLock { $0[peer] = ($0[peer] ?? 1) > 1 ? $0[peer]! - 1 : nil } }
            logger.info("job \(run.function) over \(run.chunks.count) chunk(s) of \(run.resource) for \(peer)")
            let started = ContinuousClock.now
            let answers = execute(run)
            let elapsed = ContinuousClock.now - started
            let failures = answers.compactMap { outcome -> String? in if case .failure(let f) = outcome.result { return f.message } else { return nil } }
            history.record(served(run, from: peer, outcome: failures.isEmpty ? "succeeded" : "failed", message: failures.first,
                                  seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            return (.jobDone, JobWire.encode(answers))
        }
    }

    /// Chunk jobs run here by outcome (`succeeded`, `failed`) and JOB_RUN requests `refused`, since start.
    public var jobOutcomes: [String: UInt64] { outcomes.withLock { $0 } }

    /// Tells `body` each chunk job's outcome and seconds as it finishes (the operator plane's latency histogram).
    public func observeJobs(_ body: @escaping @Sendable (_ outcome: String, _ seconds: Double) -> Void) { observer.withLock { $0 = body } }

    private func count(_ outcome: String, seconds: Double?) {
        outcomes.withLock { $0[outcome, default: 0] += 1 }
        if let seconds, let body = observer.withLock({ $0 }) { body(outcome, seconds) }
    }

    /// Why `run` from `peer` is not run here, or nil.
    func refusal(_ run: JobWire.Run, from peer: NodeID) -> String? {
        switch policy {
        case .none: return "this node runs no jobs from the mesh ([compute] allow = \"none\")"
        case .members: if !isMember(peer) { return "only members of the mesh may run jobs here" }
        case .owners:
            guard let owner = owner(run.resource) else { return "no owner is known here for \(run.resource)" }
            if owner != peer { return "only the owner of \(run.resource) may run jobs over it here ([compute] allow = \"owners\")" }
        }
        if run.chunks.isEmpty { return "no chunks" }
        if run.chunks.count > Self.maxChunksPerRequest { return "\(run.chunks.count) chunks in one request (at most \(Self.maxChunksPerRequest))" }
        if Set(run.chunks).count != run.chunks.count { return "a chunk asked twice in one request" }
        return nil
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
            let started = ContinuousClock.now
            func elapsed() -> Double {
                let d = ContinuousClock.now - started
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
            do throws(JobService.Failure) {
                let output = try jobs.run(function: run.function, parameters: run.parameters, inputs: [content], timeout: chunkTimeout)
                count("succeeded", seconds: elapsed())
                return .init(chunk: index, result: .success(output))
            } catch {
                count("failed", seconds: elapsed())
                // A crash or a timeout of the (isolated) runner may be this node's trouble: let another try.
                let nodeTrouble = error.signal != nil || error.status == .timeout
                return .init(chunk: index, result: .failure(.init(error.message, retryable: nodeTrouble)))
            }
        }
    }
}
