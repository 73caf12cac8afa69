// SPDX-License-Identifier: Apache-2.0
import Compute
import Content
import DataPath
import Dispatch
import Foundation
import Host
import Identity
import Logging
import Mesh
import MeshCore
import Primitives
import Records
import Replication
import ServiceLifecycle
import Synchronization
import WorkAllocation

/// A node as a library: the host (arena, switchboard, plugins), the identity, the store, the peer layer with
/// its protocol services, and the replication and compute services — built in that order from one
/// ``Configuration``, run as a swift-service-lifecycle `Service`.
///
/// ```swift
/// let node = try MeshNode(configuration)        // builds everything; nothing listens yet
/// let bound = try node.start()                  // listen, join membership, dial the bootstrap peers
/// try await ServiceGroup(services: [node], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
///
/// A ``Configuration/Role-swift.enum/client`` node (the CLI's fetch, find, put, get, locate, job submit) has a
/// peer layer and a ticking reactor but no listening, membership or served frames beyond the mesh's own:
/// ``withClient(_:_:)`` runs one around a body and tears it down.
public final class MeshNode: Service, Sendable {
    public let configuration: Configuration
    public let host: HostRuntime
    /// The node's identity (nil for a member without a peer layer: no listen or bootstrap addresses).
    public let identity: NodeIdentity?
    /// The content store, when the manifest has a store plugin.
    public let store: ContentStore?
    public let peers: PeerManager?
    public let replicas: ReplicaService?
    public let compute: ComputeService?
    /// A member's pins: what it provides to the DHT and what replication holds.
    public let pins: PinSet?
    /// A member's edge cache: what it fetched to answer reads (the gateway), bounded by `[cache] size_mib`.
    public let cache: ChunkCache?
    /// The node's one Lamport clock (the peer layer's services and the ledger stamp with it).
    public let lamport: NodeLamport
    public var logger: Logger { configuration.logger }
    /// Reports a reactor that does not return (a member's, from its reactor's start).
    let watchdog: ReactorWatchdog?
    /// Signalled when the reactor thread has returned.
    private let reactorDone = DispatchSemaphore(value: 0)
    private let reactorStarted = Atomic<Bool>(false)

    /// Starts the host (loads the manifest's plugins), loads or creates the identity, opens the store and builds
    /// the peer layer and the services. Nothing listens or dials yet (``start()``); on failure the host is shut
    /// down again.
    public init(_ configuration: Configuration) throws(InosError) {
        self.configuration = configuration
        let logger = configuration.logger
        let lamport = NodeLamport.startingAtWallClock()
        self.lamport = lamport
        let host: HostRuntime
        // Each layer logs under a label of its own (inos.host, inos.peers, …) when the configuration's logger
        // writes through a NodeLog; a test's own logger receives everything as it is.
        do { host = try HostRuntime(manifest: configuration.manifest, logger: logger.subsystem("host")) } catch { throw InosError(.unavailable, "cannot load the manifest's plugins", cause: error) }
        do { try host.start() } catch {
            host.shutdown()
            throw InosError(.unavailable, "cannot start", cause: error)
        }
        self.host = host
        store = host.slot("store") != nil ? try? ContentStore(host: host) : nil
        guard configuration.hasPeers else {
            (identity, peers, replicas, compute, pins, watchdog, cache) = (nil, nil, nil, nil, nil, nil, nil)
            return
        }
        guard let slot = host.slot("transport") else {
            host.shutdown()
            throw InosError(.unavailable, configuration.role == .client ? "no transport plugin in slot \"transport\" (see the manifest's [[plugins]])"
                : "listen/bootstrap addresses need a transport plugin in slot \"transport\" (see the manifest's [[plugins]])")
        }
        let identity: NodeIdentity
        do { identity = try NodeIdentity.loadOrCreate(in: configuration.dataDirectory) } catch {
            host.shutdown()
            throw InosError(.failed, "node identity", cause: error)
        }
        self.identity = identity
        let store = store
        let member = configuration.role == .member
        let pins = member ? try? PinSet(folder: (configuration.dataDirectory as NSString).appendingPathComponent("pins")) : nil
        self.pins = pins
        cache = pins.flatMap { pins in store.map { ChunkCache(capacity: configuration.manifest.cacheBytes, store: $0, pins: pins) } }
        // Peers may fetch what this node stores (verified on their side against the IDs they asked for).
        var source: PeerManager.ChunkSource?
        if member, let store {
            source = { key in
                guard let id = try? ContentID(bytes: key) else { return nil }
                return try? store.storedObject(id)
            }
        }
        let peers = PeerManager(
            host: host, transport: TransportHandle(slot: slot), identity: identity, logger: logger.subsystem("peers"), seed: configuration.seed,
            chunkSource: source, keepaliveSeconds: max(configuration.keepaliveSeconds, 0.1), admission: configuration.admission,
            clock: configuration.clock, lamport: lamport, lanes: configuration.lanes)
        self.peers = peers
        watchdog = member ? ReactorWatchdog(watch: peers.reactorWatch, logger: logger.subsystem("reactor")) : nil
        guard member, let store else {
            (replicas, compute) = (nil, nil)
            return
        }
        // Replication: hold what others store here, answer censuses, repair what this node leads. Its ledger and
        // owner tickets live in the node's records (SQLite).
        let replicas: ReplicaService?
        if let pins {
            let records: NodeRecords
            do { records = try NodeRecords(dataDirectory: configuration.dataDirectory) } catch {
                host.shutdown()
                throw error
            }
            let options = Self.replicationOptions(configuration)
            replicas = ReplicaService(
                peers: peers, store: store, pins: pins, identity: identity, allocator: host.slot("allocator").map(AllocatorHandle.init(slot:)),
                dataDirectory: configuration.dataDirectory, records: records, logger: logger.subsystem("replication"), options: options,
                lamport: lamport, status: Self.statusSource(host: host, store: store, region: configuration.region))
        } else {
            replicas = nil
        }
        self.replicas = replicas
        // Distributed jobs: chunks this node holds, run by its job runner — isolated in a child process, so a
        // job from the mesh that crashes or hangs fails alone.
        compute = host.slot("job_runner").map { runner in
            ComputeService(
                jobs: JobService(host: host, slot: runner, isolated: !configuration.jobsInProcess, inline: configuration.jobsInProcess), store: store, logger: logger.subsystem("compute"), policy: configuration.computePolicy,
                owner: { replicas?.ticket(for: $0)?.owner },
                isMember: { [weak peers] node in peers?.memberList().contains { $0.member == Membership.member(node) } ?? false })
        }
    }

    /// Load = the larger of the share of the arena's payload heap in use (work in flight) and the share of the
    /// store's capacity in use; capacity and free bytes from the store.
    static func statusSource(host: HostRuntime, store: ContentStore?, region: String) -> @Sendable () -> NodeStatus {
        { [host, store] in
            let heap = host.arena.heap.statistics
            let space = store?.capacity()
            let work = heap.capacity > 0 ? Double(heap.bytesInUse) / Double(heap.capacity) : 0
            let storage = space.map { $0.total > 0 ? Double($0.used) / Double($0.total) : 0 } ?? 0
            return NodeStatus(
                load: min(1, max(work, storage)), capacityBytes: space?.total ?? 0,
                freeBytes: space.map { $0.total - min($0.total, $0.used) } ?? 0, regionName: region)
        }
    }

    /// A member: listens on the manifest's addresses, enables membership advertising where it listens, starts the
    /// services, then dials the bootstrap peers — so their sessions already carry membership. Returns the bound
    /// addresses. A client: starts its reactor only.
    @discardableResult
    public func start() throws(InosError) -> [String] {
        guard let peers else { return [] }
        guard configuration.role == .member else {
            startReactor()
            return []
        }
        let bound: [String]
        do { bound = try peers.start(listen: configuration.manifest.listen, bootstrap: []) } catch { throw InosError(.unavailable, "cannot listen", cause: error) }
        var swim = SwimConfiguration()
        swim.maximumMembers = configuration.manifest.mesh.maxMembers
        peers.enableMembership(advertise: configuration.advertise ?? bound.first ?? "", now: peers.clock.now(), configuration: swim)
        // Provider records for every pinned resource, at the members closest to its ID; they expire unless
        // republished, so a node that leaves is forgotten.
        let interval = configuration.provideInterval
        peers.provide(every: interval, ttl: UInt32(min(86_400, max(30, 3 * interval)))) { [pins] in (pins?.pinned ?? []).map { Array($0.bytes.suffix(32)) } }
        peers.publishStatus(check: 2, refresh: 30, Self.statusSource(host: host, store: store, region: configuration.region))
        do { try replicas?.start() } catch { throw InosError(.unavailable, "cannot start replication", cause: error) }
        if let cache {
            // An edge cache: what reads fetched is announced under the cache key (reads use it; repair and billing
            // never count it), republished every third of its TTL while cached, and withdrawn when evicted.
            // Announcements and withdrawals race (a read caches while another evicts; the republish snapshots the
            // roots): each is followed by a look at the cache, and the opposite sent if it changed meanwhile — a
            // node's Lamport time only grows, so the last one sent wins everywhere.
            let ttl = configuration.manifest.cacheAnnounceSeconds
            peers.provide(.cache, every: Double(ttl) / 3, ttl: UInt32(ttl), still: { [cache] key in cache.isRoot(key: key) }) { [cache] in
                cache.roots.map { Array($0.bytes.suffix(32)) }
            }
            cache.observe { [weak peers, cache] change in
                switch change {
                case .cached(let id):
                    peers?.announceNow(Array(id.bytes.suffix(32)), as: .cache)
                    if !cache.isRoot(id) { peers?.withdraw(Array(id.bytes.suffix(32)), as: .cache) }
                case .evicted(let id):
                    peers?.withdraw(Array(id.bytes.suffix(32)), as: .cache)
                    if cache.isRoot(id) { peers?.announceNow(Array(id.bytes.suffix(32)), as: .cache) }
                }
            }
            // What earlier reads left in the store counts against the bound again (up to it).
            do throws(DataPathError) {
                let (adopted, left) = try cache.adopt()
                if adopted > 0 || left > 0 {
                    logger.info("edge cache: \(adopted) object(s) kept from earlier reads\(left > 0 ? "; \(left) more unpinned object(s) do not fit and stay until `inos gc`" : "")")
                }
            } catch {
                logger.warning("edge cache: cannot list what earlier reads left: \(error.description)")
            }
        }
        if let compute {
            compute.start(on: peers)
            let policy = configuration.computePolicy
            logger.info("compute: jobs from the mesh run for \(policy == .owners ? "the owners of the data" : policy == .members ? "any member" : "nobody")")
        }
        do { _ = try peers.start(listen: [], bootstrap: configuration.manifest.bootstrap) } catch { throw InosError(.unavailable, "cannot dial", cause: error) }
        return bound
    }

    /// Runs the node until a graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`) or ``stop()``: the
    /// reactor on a thread of its own (it sleeps on the switchboard's futex) and the services' periodic work
    /// (repair) as child tasks, cancelled when the reactor returns; then stops the services and retires every plugin.
    public func run() async throws {
        // Cancelled (another service of the group failed) or shut down gracefully: either way the reactor is told
        // to return, so the node always stops.
        await withTaskCancellationHandler {
            await runUntilStopped()
        } onCancel: { [host] in
            host.requestStop()
        }
        shutdown()
    }

    private func runUntilStopped() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let replicas {
                    group.addTask { await replicas.run() }
                    group.addTask { await replicas.runBilling() }
                }
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    startThread(name: "inos.reactor") { [self] in
                        reactor()
                        finished.resume()
                    }
                }
                replicas?.stop()
                group.cancelAll()
            }
        } onGracefulShutdown: { [self] in
            logger.info("stopping")
            host.requestStop()
        }
    }

    /// Reactor callbacks that ran past a second since start, the longest (seconds), and the last one's account
    /// (where, how long, on a CPU / waiting for one / blocked): see ``ReactorStall``. Zero for a client.
    public var reactorStalls: (count: UInt64, longestSeconds: Double, last: ReactorStall?) {
        guard let figures = watchdog?.figures else { return (0, 0, nil) }
        return (figures.stalls, figures.longestSeconds, figures.last)
    }

    /// Asks the reactor to return (``run()`` then shuts the node down).
    public func stop() { host.requestStop() }

    /// Starts the reactor on a thread of its own (a client's; a member runs it in ``run()``).
    private func startReactor() {
        guard !reactorStarted.exchange(true, ordering: .relaxed) else { return }
        startThread(name: "inos.reactor") { [self] in
            reactor()
            reactorDone.signal()
        }
    }

    private func shutdown() {
        watchdog?.stop()
        replicas?.stop()
        peers?.stop()
        host.shutdown()
    }

    /// The reactor loop: transport records to the peer layer (frames are freed there, or here without one), its
    /// tick, and the status line.
    private func reactor() {
        let clock = peers?.clock ?? SystemClock()
        let interval = UInt64(max(0, configuration.statusInterval) * 1e9)
        var lastStatus = clock.now()
        let watch = peers?.reactorWatch
        watchdog?.start()
        host.run(
            tickNanoseconds: peers == nil ? 1_000_000_000 : 250_000_000,  // keepalives need a finer tick
            onInbox: { [self] type, bytes in
                guard let record = TransportRecord(type: type, payload: bytes) else {
                    logger.debug("inbox record type \(type), \(bytes.count) bytes")
                    return
                }
                if let peers {
                    watch?.begin(.transportRecord)
                    peers.handle(record, now: clock.now())
                    watch?.end()
                } else if case .frame(_, let offset, _) = record {
                    _ = host.arena.heap.free(offset)
                }
            },
            onTick: { [self] in
                watch?.begin(.tick)
                defer { watch?.end() }
                let now = clock.now()
                peers?.tick(now: now)
                guard interval > 0, now - lastStatus >= interval else { return }
                lastStatus = now
                watch?.enter(.status)
                let line = statusLine(host: host, peers: peers, replicas: replicas)
                logger.info("\(line)")
                configuration.onStatus?(line)
            })
    }
}

extension MeshNode {
    /// Builds a client node and starts its reactor; ``close()`` tears it down.
    public static func client(_ configuration: Configuration) throws(InosError) -> MeshNode {
        var configuration = configuration
        configuration.role = .client
        let node = try MeshNode(configuration)
        node.startReactor()
        return node
    }

    /// Runs a client node around `body` and tears it down afterwards.
    public static func withClient<R>(_ configuration: Configuration, _ body: (MeshNode) throws -> R) throws -> R {
        let node = try client(configuration)
        defer { node.close() }
        return try body(node)
    }

    /// Tears a client node down: stops its peer layer, waits for its reactor to return, retires every plugin.
    public func close() {
        peers?.stop()
        host.requestStop()
        if reactorStarted.load(ordering: .relaxed) { reactorDone.wait() }
        host.shutdown()
    }

    /// The node's clock in nanoseconds (the peer layer's; the system clock where there is none).
    public func clockNanoseconds() -> UInt64 { (peers?.clock ?? SystemClock()).now() }

    /// The configuration's replication options with what the manifest's `[credits]` sets (where the options
    /// leave it at its default).
    static func replicationOptions(_ configuration: Configuration) -> ReplicaService.Options {
        var options = configuration.replication
        let manifest = configuration.manifest, defaults = ReplicaService.Options()
        if options.creditIssuers.isEmpty { options.creditIssuers = manifest.creditIssuers.compactMap(NodeID.init) }
        if options.billingPeriod == defaults.billingPeriod, let period = manifest.creditPeriodSeconds { options.billingPeriod = Double(period) }
        if options.paymentGrace == defaults.paymentGrace, let grace = manifest.creditGraceSeconds { options.paymentGrace = Double(grace) }
        return options
    }

    /// A mesh client over this node's peer layer and store (put, get, locate, job submit).
    public func meshClient(label: String) throws(InosError) -> MeshClient {
        guard let peers, let identity, let store else { throw InosError(.unavailable, "a mesh client needs a transport and a store plugin") }
        let options = Self.replicationOptions(configuration)
        return MeshClient(
            peers: peers, store: store, identity: identity, allocator: host.slot("allocator").map(AllocatorHandle.init(slot:)),
            logger: Logger(label: label), lamport: lamport, balance: { [replicas, identity] in replicas?.available(to: identity.id) },
            pricing: options.pricing, billingPeriod: options.billingPeriod,
            owned: { [replicas] resource, size, budget in replicas?.own(resource, size: size, budget: budget) })
    }
}
