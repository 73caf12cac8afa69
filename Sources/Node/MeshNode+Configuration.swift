// SPDX-License-Identifier: Apache-2.0
import Compute
import Host
import Logging
import Mesh
import Replication
import Session
import WorkAllocation

extension MeshNode {
    /// Everything a node is built from: the manifest (plugins, arena, addresses) and the options the CLI parses.
    public struct Configuration: Sendable {
        /// What the process is to the mesh.
        public enum Role: Sendable, Equatable {
            /// A node: listens, joins membership, serves chunks, replication and (if allowed) jobs.
            case member
            /// A process that only asks (fetch, find, put, get, locate, job submit): no listening, no membership,
            /// no replication or compute service; its peer layer still ticks, so its requests expire.
            case client
        }

        public var role: Role
        /// Plugins, arena, and the `[node]` listen and bootstrap addresses.
        public var manifest: Manifest
        /// Where the identity key, pins and replica policies live.
        public var dataDirectory: String
        public var admission: Admission = .open
        /// The address other members should dial to reach this node (default: the first bound listen address).
        public var advertise: String?
        /// Seconds of silence after which a peer is pinged; no answer for three intervals closes it.
        public var keepaliveSeconds: Double = 15
        /// Seconds between announcements of this node's pinned resources to the DHT (records live three times as long).
        public var provideInterval: Double = 60
        /// The region's name this node publishes in its status ("" for none; ``NodeStatus/isValidRegionName(_:)``):
        /// placement groups members by it, the API and dashboard show it.
        public var region: String = ""
        public var replication = ReplicaService.Options()
        /// Whose jobs this node runs.
        public var computePolicy: ComputeService.Policy = .owners
        /// Seconds between status lines in the log (0: none).
        public var statusInterval: Double = 0
        /// Also handed each status line (`inos node` passes it to systemd as `STATUS=`).
        public var onStatus: (@Sendable (String) -> Void)?
        public var logger: Logger
        /// Seeds the redial backoff's jitter (different per process, so nodes do not redial in lockstep).
        public var seed: UInt64 = 1
        /// Where the peer layer, its services, replication (repair rounds, the repair rate limit, demand, owner
        /// tickets) and job submission read and wait for the time (a test harness passes a ``ManualClock``).
        public var clock: any MeshClock = SystemClock()
        /// Who runs lane jobs and dials: the peer layer's own threads, or (`.queued`) whoever steps the node —
        /// a harness that pumps it (``MeshNode/pump(limit:)``) on one thread instead of running its reactor.
        public var lanes: WorkerPool.Execution = .threads
        /// Where jobs from the mesh run: isolated in a child process (`inos-job-worker`, the default: a job that
        /// crashes or hangs fails alone), or on the compute lane's own thread — for a harness that steps many
        /// nodes in one process and spawns none.
        public var jobsInProcess = false

        public init(role: Role, manifest: Manifest, dataDirectory: String, logger: Logger) {
            self.role = role
            self.manifest = manifest
            self.dataDirectory = dataDirectory
            self.logger = logger
        }

        /// Whether this node has a peer layer: a client always; a member with addresses to listen on or dial.
        var hasPeers: Bool { role == .client || !manifest.listen.isEmpty || !manifest.bootstrap.isEmpty }
    }
}
