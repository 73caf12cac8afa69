// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Dispatch
import Foundation
import Content
import DataPath
import Host
import Identity
import Logging
import Mesh
import MeshCore
import Compute
import Replication
import WorkAllocation
import ServiceLifecycle
import Session
import Synchronization

struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: load the manifest's plugins, listen, dial the bootstrap peers, react to the switchboard.",
        discussion: """
            The manifest's [node] listen and bootstrap addresses (or --listen / --bootstrap) start the transport: \
            the node listens, dials its bootstrap peers and redials them with backoff when they drop. \
            SIGHUP re-reads the manifest and applies it live: changed plugins are hot-swapped (transport \
            strategies above the transport keep its connections), removed ones are retired. \
            SIGINT or SIGTERM stops the node cleanly. An idle node sleeps on a futex and uses no CPU.
            """)

    @Option(name: .long, help: "The manifest (TOML). Without it the embedded defaults are used.")
    var manifest: String?

    @Option(name: .long, help: "Listen on this address too, e.g. tcp://127.0.0.1:7400 (port 0: any free port). Repeatable.")
    var listen: [String] = []

    @Option(name: .long, help: "Dial this peer at start and redial it when it drops; tcp://host:port#<node id> refuses any other node there. Repeatable.")
    var bootstrap: [String] = []

    @OptionGroup var meshKey: MeshKeyOptions

    @Option(name: .long, help: "The node's data directory (identity key; the embedded manifest's store). Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    @Option(name: .long, help: "The address other members should dial to reach this node (default: the first --listen address).")
    var advertise: String?

    @Option(name: .long, help: "Seconds between announcements of this node's pinned resources to the DHT.")
    var provideInterval: Double = 60

    @Option(name: .long, help: "The region number this node publishes in its status (for placement).")
    var region: UInt32 = 0

    @Option(name: .long, help: "Seconds of silence after which a peer is pinged; no answer for three intervals closes it.")
    var keepalive: Double = 15

    @Option(name: .long, help: "Seconds between status lines (0: none).")
    var statusInterval: Double = 0

    @Option(name: .long, help: "Seconds between repair rounds (census of the resources this node leads; missing copies pushed).")
    var repairInterval: Double = 10

    @Option(name: .long, help: "Bytes per second repair may push (foreground reads keep the rest).")
    var repairRate: Double = 32 * 1_048_576

    @Option(name: .long, help: "Half-life in seconds of the demand estimate that raises replicas of hot resources.")
    var demandHalfLife: Double = 600

    @Option(name: .long, help: "Whose jobs this node runs: none, members, or owners (of the data they read). Default: the manifest's [compute] allow, else owners.")
    var computeAllow: String?

    @Option(name: .long, help: "Stop after this many seconds (0: run until a signal).")
    var runFor: Double = 0

    func run() async throws {
        // A SIGHUP during start-up must not end the node (its default action): ignore it until the reload source
        // below takes it over.
        signal(SIGHUP, SIG_IGN)
        var logger = Logger(label: "inos.node")
        logger.logLevel = .info
        var manifest = try loadManifest(self.manifest, dataDirectory: dataDir)
        let allow = computeAllow ?? manifest.computeAllow
        guard let policy = ComputeService.Policy(rawValue: allow) else {
            throw ValidationError("--compute-allow \"\(allow)\" must be none, members or owners")
        }
        manifest.listen += listen
        manifest.bootstrap += bootstrap
        for address in manifest.bootstrap where PinnedAddress(address) == nil {
            throw ValidationError("bootstrap address \(address): the part after # must be a node ID (n…, as the node prints it at start)")
        }
        let admission = try meshKey.admission(manifest.mesh)
        let host = try HostRuntime(manifest: manifest, logger: logger)
        do {
            try host.start()
        } catch {
            throw ValidationError("cannot start: \(error)")
        }
        // SIGHUP re-reads the manifest from here on (before the "running" line, so whoever waits for it may send one).
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { [host, path = self.manifest, logger] in reload(host, manifest: path, logger: logger) }
        hangup.resume()
        defer { hangup.cancel() }
        logger.info("node \(host.manifest.nodeName) running: arena \(host.arena.size >> 20) MiB, \(host.slots.count) plugin slot(s); pid \(getpid())")

        var peers: PeerManager?
        var replicaBoxOut: ReplicaBox?
        if !manifest.listen.isEmpty || !manifest.bootstrap.isEmpty {
            guard let slot = host.slot("transport") else {
                host.shutdown()
                throw ValidationError("listen/bootstrap addresses need a transport plugin in slot \"transport\" (see the manifest's [[plugins]])")
            }
            let identity: NodeIdentity
            do { identity = try NodeIdentity.loadOrCreate(in: dataDir ?? defaultDataDirectory()) } catch {
                host.shutdown()
                throw ValidationError("node identity: \(error.message)")
            }
            logger.info("node id \(identity.id)")
            logAdmission(admission, logger: logger)
            // Peers may fetch what this node stores (verified on their side against the IDs they asked for).
            let store = host.slot("store") != nil ? try? ContentStore(host: host) : nil
            var source: PeerManager.ChunkSource?
            let replicaBox = ReplicaBox()
            if let store {
                source = { key in
                    guard let id = try? ContentID(bytes: key) else { return nil }
                    replicaBox.service?.served(key)
                    return try? store.storedObject(id)
                }
            }
            let manager = PeerManager(
                host: host, transport: TransportHandle(slot: slot), identity: identity, logger: logger, seed: UInt64(getpid()),
                chunkSource: source, keepaliveSeconds: max(keepalive, 0.1), admission: admission)
            do {
                // Listen, start membership advertising where this node listens, then dial the bootstrap peers —
                // so their sessions already carry membership.
                let bound = try manager.start(listen: manifest.listen, bootstrap: [])
                manager.enableMembership(advertise: advertise ?? bound.first ?? "", now: DispatchTime.now().uptimeNanoseconds)
                // Provider records for every pinned resource, at the members closest to its ID; they expire
                // unless republished, so a node that leaves is forgotten.
                let pins = try? PinSet(folder: ((dataDir ?? defaultDataDirectory()) as NSString).appendingPathComponent("pins"))
                manager.provide(every: provideInterval, ttl: UInt32(min(86_400, max(30, 3 * provideInterval)))) {
                    (pins?.pinned ?? []).map { Array($0.bytes.suffix(32)) }
                }
                // Load = the larger of the share of the arena's payload heap in use (work in flight) and the share
                // of the store's capacity in use; capacity and free bytes from the store.
                let status: @Sendable () -> NodeStatus = { [region] in
                    let heap = host.arena.heap.statistics
                    let space = store?.capacity()
                    let work = heap.capacity > 0 ? Double(heap.bytesInUse) / Double(heap.capacity) : 0
                    let storage = space.map { $0.total > 0 ? Double($0.used) / Double($0.total) : 0 } ?? 0
                    return NodeStatus(
                        load: min(1, max(work, storage)),
                        capacityBytes: space?.total ?? 0, freeBytes: space.map { $0.total - min($0.total, $0.used) } ?? 0, region: region)
                }
                manager.publishStatus(every: 2, status)
                // Replication: hold what others store here, answer censuses, repair what this node leads.
                if let store, let pins {
                    var options = ReplicaService.Options()
                    options.repairInterval = max(repairInterval, 0.5)
                    options.repairBytesPerSecond = max(repairRate, 65_536)
                    options.demandHalfLife = max(demandHalfLife, 1)
                    let service = ReplicaService(
                        peers: manager, store: store, pins: pins, identity: identity,
                        allocator: host.slot("allocator").map(AllocatorHandle.init(slot:)), dataDirectory: dataDir ?? defaultDataDirectory(),
                        logger: logger, options: options, status: status)
                    service.start()
                    replicaBox.service = service
                }
                // Distributed jobs: chunks this node holds, run by its job runner — isolated in a child process,
                // so a job from the mesh that crashes or hangs fails alone.
                if let store, let runner = host.slot("job_runner") {
                    let jobs = JobService(host: host, slot: runner, isolated: true)
                    let replicas = replicaBox
                    let compute = ComputeService(
                        jobs: jobs, store: store, logger: logger, policy: policy,
                        owner: { replicas.service?.ticket(for: $0)?.owner },
                        isMember: { [weak manager] node in manager?.memberList().contains { $0.member == Membership.member(node) } ?? false })
                    compute.start(on: manager)
                    logger.info("compute: jobs from the mesh run for \(policy == .owners ? "the owners of the data" : policy == .members ? "any member" : "nobody")")
                }
                for address in bound {
                    // On stdout, unbuffered, for scripts and tests that start nodes on port 0.
                    FileHandle.standardOutput.write(Data("listening on \(address)\n".utf8))
                }
                _ = try manager.start(listen: [], bootstrap: manifest.bootstrap)
            } catch {
                host.shutdown()
                throw ValidationError("cannot listen: \(error)")
            }
            peers = manager
            replicaBoxOut = replicaBox
        }

        let service = NodeService(host: host, peers: peers, replicas: replicaBoxOut?.service, manifestPath: self.manifest, statusInterval: statusInterval, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                // The reactor also ends on its own (--run-for): that is a clean stop, not a failure.
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        if runFor > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + runFor) { host.requestStop() }
        }
        try await group.run()
        logger.info("node stopped")
    }
}

/// The node's reactor as a service: runs the host's event loop on a thread of its own until a graceful
/// shutdown (SIGTERM/SIGINT, through the ServiceGroup) asks it to stop; then retires every plugin.
struct NodeService: Service {
    let host: HostRuntime
    let peers: PeerManager?
    let replicas: ReplicaService?
    let manifestPath: String?
    let statusInterval: Double
    let logger: Logger

    func run() async throws {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                Thread { [host, peers, replicas, statusInterval, logger] in
                    reactor(host: host, peers: peers, replicas: replicas, statusInterval: statusInterval, logger: logger)
                    finished.resume()
                }.start()
            }
        } onGracefulShutdown: { [host, logger] in
            logger.info("stopping")
            host.requestStop()
        }
        replicas?.stop()
        peers?.stop()
        host.shutdown()
    }
}

/// The reactor loop: transport records go to the peer manager; frames are freed (the wire protocol that
/// reads them comes with the secure session).
private func reactor(host: HostRuntime, peers: PeerManager?, replicas: ReplicaService?, statusInterval: Double, logger: Logger) {
    let started = sysClock()
    var lastStatus = started
    host.run(
        tickNanoseconds: peers == nil ? 1_000_000_000 : 250_000_000,  // keepalives need a finer tick
        onInbox: { type, bytes in
            guard let record = TransportRecord(type: type, payload: bytes) else {
                logger.debug("inbox record type \(type), \(bytes.count) bytes")
                return
            }
            if let peers {
                peers.handle(record, now: DispatchTime.now().uptimeNanoseconds)
            } else if case .frame(_, let offset, _) = record {
                _ = host.arena.heap.free(offset)
            }
        },
        onTick: {
            peers?.tick(now: DispatchTime.now().uptimeNanoseconds)
            guard statusInterval > 0, sysClock() - lastStatus >= statusInterval else { return }
            lastStatus = sysClock()
            let heap = host.arena.heap.statistics
            let sessions = (peers?.peers ?? []).compactMap { peer in
                peer.node.map { "\($0.description.prefix(12))… rtt \(peer.rttMicroseconds.map { String(format: "%.0f µs", $0) } ?? "?")" }
            }
            let members = peers?.membership?.summary
            let statuses = peers?.gossip?.known.count ?? 0
            let records = peers?.providerStore.count ?? 0
            let memberText = members.map { "members \($0.alive) alive, \($0.suspect) suspect, \($0.dead) dead, status from \(statuses), \(records) provider record(s); " } ?? ""
            let replicaText = replicas.map { r -> String in
                let s = r.summary
                return "replicas: \(s.resources) resource(s) held, \(s.underReplicated) under target, \(s.repairedPieces) piece(s) repaired, \(s.releasedPieces) released; ledger \(s.ledgerEntries) entr\(s.ledgerEntries == 1 ? "y" : "ies"), earned \(s.earned) spent \(s.spent) credits; "
            } ?? ""
            logger.info("status: \(memberText)\(replicaText)\(peers?.peers.count ?? 0) connection(s) [\(sessions.joined(separator: ", "))], heap \(heap.bytesInUse)/\(heap.capacity) bytes, inbox \(host.arena.inbox.usedBytes) bytes, backpressure \(host.arena.switchboard.isBackpressured)")
        })
}

private func reload(_ host: HostRuntime, manifest path: String?, logger: Logger) {
    guard let path else {
        logger.warning("SIGHUP: the node runs on embedded defaults; nothing to reload")
        return
    }
    do {
        let report = try host.reload(loadManifest(path))
        logger.info("manifest reloaded: swapped \(report.swapped.sorted()), loaded \(report.loaded.keys.sorted()), removed \(report.removed.sorted()), skipped \(report.skipped.count)")
    } catch {
        logger.error("manifest reload refused, the node keeps its current plugins: \(error)")
    }
}

func sysClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Lets the chunk source (made before the replica service) count demand once the service exists.
final class ReplicaBox: Sendable {
    private let value = Mutex<ReplicaService?>(nil)
    var service: ReplicaService? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
