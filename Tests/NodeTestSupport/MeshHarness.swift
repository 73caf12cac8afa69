// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport
import Identity
import Logging
import Mesh
import Node
import Primitives
import Replication
import Synchronization

/// Many real nodes in one process, on one thread and one virtual clock (after Storj's testplanet and NIO's
/// `EmbeddedEventLoop`): each is a ``MeshNode`` with the in-memory transport plugin delivering inline, lanes
/// that run only when stepped, and a shared ``ManualClock``. Nothing runs unless the harness steps it, so a
/// minute of keepalives, SWIM probes and record expiry takes milliseconds, and the same seed gives the same
/// node identities and the same schedule.
///
/// ```swift
/// let mesh = try MeshHarness(nodes: 20, seed: 7)
/// defer { mesh.close() }
/// #expect(mesh.run(until: { $0.allSee(alive: 19) }, within: 60))
/// mesh.kill(3)
/// ```
///
/// What is virtual: everything the nodes time by their injected clock — keepalives, handshake and request
/// deadlines, SWIM periods and suspicion, gossip, provider epochs and TTLs, redial backoff (the dialer's delays
/// count on the clock), repair rounds and their rate limit, demand, owner-ticket validity, hedged reads. With
/// `storage: true` every node has a pack store, the LZ4 and erasure codecs, the adaptive allocator and the
/// example job runner (run in process, on the compute lane: no child process), so puts, gets, repair and jobs
/// run here as between processes; ``clients`` are client nodes (the CLI's put/get/job submit) stepped with
/// the rest. What is not virtual: the blocking (`throws`, non-`async`) request forms wait on a semaphore with
/// a real-time bound — call the `async` forms from a task (``complete(realSeconds:_:)``) and step the harness
/// until they finish.
///
/// Not `Sendable`: one thread drives it.
public final class MeshHarness {
    /// How the nodes find each other at start.
    public enum Bootstrap: Sendable {
        /// Every node but the first dials the first (one seed peer, as `inos node --bootstrap`).
        case first
        /// Nobody dials: the test connects nodes itself (``connect(_:_:)``).
        case none
    }

    public let clock: ManualClock
    public let seed: UInt64
    /// The member nodes by index, then the clients; nil once killed.
    public private(set) var nodes: [MeshNode?]
    /// How many of ``nodes`` are members (the rest, from this index on, are clients).
    public let memberCount: Int
    /// Whether the nodes have stores, codecs, an allocator and a job runner.
    public let storage: Bool
    /// Each member's `mem://` listening address (clients listen nowhere).
    public let addresses: [String]
    /// Each node's ID (derived from the seed), killed nodes included.
    public private(set) var ids: [NodeID]
    /// Virtual seconds between two ticks of ``advance(seconds:)`` (the reactor ticks every 0.25 s).
    public let tickSeconds: Double
    /// Pump/run rounds in the last ``settle()`` (for tests of the harness itself).
    public private(set) var lastSettleRounds = 0
    private let root: String
    private let started: UInt64
    /// Per node: its connections and the node at their other end.
    private var links: [[UInt64: Int]]
    /// Partition group per node (nil: one network). Frames between groups are dropped at the receiver.
    private var groups: [Int]?
    private var closed = false
    /// Mesh clients (put, get, locate, jobs) over nodes' peer layers, with their pins, made on first use.
    private var meshClients: [Int: (MeshClient, PinSet)] = [:]
    /// Repair loops started by ``startRepairLoops()``.
    private var repairLoops: [Task<Void, Never>] = []

    /// Builds `count` member nodes on the memory transport, listening on `mem://` addresses unique to this
    /// harness, with identities derived from `seed`; starts them (listen, membership, bootstrap dials queued).
    /// `configure` adjusts each node's configuration (index given) before it is built.
    /// Builds `count` member nodes on the memory transport, listening on `mem://` addresses unique to this
    /// harness, and `clients` client nodes after them, with identities derived from `seed`; starts the members
    /// (listen, membership, bootstrap dials queued). `storage` gives every node a store, codecs, an allocator
    /// and a job runner. `configure` adjusts each node's configuration (index given) before it is built.
    public init(
        nodes count: Int, clients: Int = 0, seed: UInt64, storage: Bool = false, bootstrap: Bootstrap = .first, tickSeconds: Double = 0.25,
        configure: (inout MeshNode.Configuration, Int) -> Void = { _, _ in }
    ) throws {
        precondition(count > 0 && clients >= 0 && tickSeconds > 0)
        // RELEASE's handler tasks run where the harness's tasks do, not on a cooperative pool sync tests hold.
        PeerManager.asyncHandlerExecutor.withLock { $0 = Self.taskExecutor }
        self.seed = seed
        self.tickSeconds = tickSeconds
        self.memberCount = count
        self.storage = storage
        clock = ManualClock()
        started = clock.now()
        let tag = "harness-\(seed)-\(UUID().uuidString.prefix(8))"
        root = PluginFixtures.directory.appendingPathComponent(tag).path
        addresses = (0..<count).map { "mem://\(tag)-\($0)" }
        links = Array(repeating: [:], count: count + clients)
        nodes = []
        ids = []
        let transport = try PluginFixtures.builtPlugin("InosMemoryTransport")
        let stored = try storage ? Self.storagePlugins() : []
        var random = SeededRandom(seed: seed)
        for index in 0..<(count + clients) {
            let member = index < count
            let directory = root + "/\(index)"
            try Self.writeIdentity(seed: (0..<4).flatMap { _ in withUnsafeBytes(of: random.next().littleEndian, Array.init) }, in: directory)
            var plugins = [PluginSpec(location: .path(transport), kind: .transport, config: ["delivery": "inline"])]
            for var plugin in stored {
                if plugin.kind == .store { plugin.config["path"] = directory + "/store" }
                plugins.append(plugin)
            }
            var manifest = Manifest(
                nodeName: "\(tag)-\(index)",
                arena: ArenaConfiguration(totalSize: storage ? 64 << 20 : 4 << 20, inboxCapacity: 256 << 10, outboxCapacity: 16 << 10),
                plugins: plugins)
            if member { manifest.listen = [addresses[index]] }
            if member, case .first = bootstrap, index > 0 { manifest.bootstrap = [addresses[0]] }
            var configuration = MeshNode.Configuration(role: member ? .member : .client, manifest: manifest, dataDirectory: directory, logger: quietLogger)
            configuration.clock = clock
            configuration.lanes = .queued
            configuration.jobsInProcess = true
            configuration.seed = seed &+ UInt64(index)
            configure(&configuration, index)
            let node: MeshNode
            do { node = try MeshNode(configuration) } catch {
                close()
                throw error
            }
            nodes.append(node)
            ids.append(node.identity!.id)
            let unblock = Unblock(harness: self)
            node.whileBlocked { unblock.step() }
            // A client is never started: its reactor would be a thread of its own; the harness steps it instead.
            guard member else { continue }
            do { try node.start() } catch {
                close()
                throw error
            }
        }
    }

    deinit { close() }

    /// The plugins a storing node loads besides its transport (the store's path is set per node).
    private static func storagePlugins() throws -> [PluginSpec] {
        [
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec, id: "inos.compression.lz4"),
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosErasure")), kind: .erasureCodec),
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosAdaptiveAllocator")), kind: .allocator, id: "inos.allocator.adaptive"),
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosExampleJobs")), kind: .jobRunner, id: "inos.jobs.examples"),
            PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosPackStore")), kind: .store, id: "inos.store.pack"),
        ]
    }

    /// The key file `NodeIdentity.loadOrCreate` reads (magic, the 32-byte seed, its checksum), so a seed
    /// fixes the node ID.
    private static func writeIdentity(seed: [UInt8], in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var file = ByteWriter(capacity: 44)
        file.bytes(Array("INOSKEY1".utf8))
        file.bytes(seed)
        var digest = ByteReader(Sodium.sha256(seed))
        file.u32(digest.read(UInt32.self)!)
        let path = directory + "/" + NodeIdentity.fileName
        guard FileManager.default.createFile(atPath: path, contents: Data(file.bytes), attributes: [.posixPermissions: 0o600]) else {
            throw InosError(.io, "cannot write \(path)")
        }
    }

    /// Shuts every node down and removes their folders.
    public func close() {
        guard !closed else { return }
        closed = true
        for loop in repairLoops { loop.cancel() }
        for index in nodes.indices { nodes[index]?.shutdownStepped() }
        nodes = nodes.map { _ in nil }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Stepping

    /// The indexes of nodes not killed (members and clients).
    public var alive: [Int] { nodes.indices.filter { nodes[$0] != nil } }
    /// The indexes of members not killed.
    public var aliveMembers: [Int] { alive.filter { $0 < memberCount } }
    /// The indexes of the client nodes.
    public var clients: Range<Int> { memberCount..<nodes.count }

    /// Pumps every node's inbox and runs its queued lanes, node by node in index order, until a whole round
    /// does nothing (every message sent in this instant has been handled; virtual time does not move).
    /// Returns the records and jobs handled.
    @discardableResult
    public func settle(maximumRounds: Int = 10_000) -> Int {
        var total = 0
        lastSettleRounds = 0
        while lastSettleRounds < maximumRounds {
            lastSettleRounds += 1
            var progress = 0
            for index in alive { progress += pump(index) + nodes[index]!.runQueued() }
            total += progress
            if progress == 0 { break }
        }
        return total
    }

    /// One reactor step of the whole mesh at the clock's time: every node ticks, then everything settles.
    public func step() {
        for index in alive { nodes[index]!.tick() }
        settle()
    }

    /// Moves the clock on by `seconds` in ``tickSeconds`` steps, stepping the mesh at each.
    public func advance(seconds: Double) {
        let steps = max(1, Int((seconds / tickSeconds).rounded(.up)))
        for _ in 0..<steps {
            clock.advance(seconds: tickSeconds)
            step()
        }
    }

    /// Steps the mesh until `condition` holds or `seconds` of virtual time passed; whether it held. Virtual
    /// time: a test bounds protocol rounds, not the machine's speed.
    @discardableResult
    public func run(until condition: (MeshHarness) -> Bool, within seconds: Double) -> Bool {
        settle()
        let deadline = clock.now() &+ UInt64(seconds * 1e9)
        while !condition(self) {
            guard clock.now() < deadline else { return false }
            advance(seconds: tickSeconds)
        }
        return true
    }

    /// What a node's blocking wait does meanwhile (a lane job on this thread waiting for an answer): the rest
    /// of the mesh goes on — settles, and when nothing is left in this instant, moves one tick on, so the wait
    /// ends with its answer or at its deadline, as it would with its own thread.
    fileprivate func unblock() {
        if settle() == 0 { advance(seconds: tickSeconds) }
    }

    private func pump(_ index: Int) -> Int {
        nodes[index]!.pump { record in
            switch record {
            case .opened(let connection, _, let peer):
                links[index][connection] = addresses.firstIndex(of: peer)
            case .closed(let connection, _, _, _):
                links[index][connection] = nil
            case .frame(let connection, _, _):
                if let groups, let other = links[index][connection], groups[other] != groups[index] { return false }
            case .writable: break
            }
            return true
        }
    }

    // MARK: Replication

    /// A mesh client over node `index`'s peer layer and store (a client node's, usually), and the pins its puts
    /// and gets keep, in the node's folder.
    public func meshClient(_ index: Int) throws -> (client: MeshClient, pins: PinSet) {
        if let made = meshClients[index] { return made }
        let node = try nodes[index] ?? { throw InosError(.notFound, "node \(index) was killed") }()
        let made = (try node.meshClient(label: "harness.client.\(index)"), try PinSet(folder: root + "/\(index)/client-pins"))
        meshClients[index] = made
        return made
    }

    /// One repair round on every live member, one after another in index order, each to its end (census, pushes,
    /// releases) before the next starts: deterministic, and without moving virtual time.
    public func repairRound() throws {
        for index in aliveMembers {
            guard let replicas = nodes[index]!.replicas else { continue }
            try complete { await replicas.repairRound() }
        }
    }

    /// Starts every live member's repair loop (``ReplicaService/run()``) as a task, as ``MeshNode/run()`` does:
    /// it sleeps on the harness's clock between rounds, so ``advance(seconds:)`` past an interval starts a round.
    /// The rounds run on the harness's task thread, beside the stepping thread.
    public func startRepairLoops() {
        for index in aliveMembers {
            guard let replicas = nodes[index]!.replicas else { continue }
            repairLoops.append(Task(executorPreference: Self.taskExecutor) { await replicas.run() })
        }
    }

    /// Which live members hold `piece` in their store.
    public func holders(of piece: ContentID) -> [Int] {
        aliveMembers.filter { nodes[$0]!.store?.contains(piece) == true }
    }

    // MARK: Faults

    /// Kills node `index` as a crash would: its transport closes every connection (peers see them drop, as
    /// with a killed process over TCP) and it never answers again.
    public func kill(_ index: Int) {
        guard let node = nodes[index] else { return }
        nodes[index] = nil
        node.shutdownStepped()
        links[index] = [:]
        settle()
    }

    /// Splits the network: frames between nodes of different groups are dropped (connections stay open, as
    /// over a cut link, until keepalives or SWIM give up on them). Nodes in no group form one more group.
    public func partition(_ parts: [Set<Int>]) {
        groups = nodes.indices.map { index in parts.firstIndex { $0.contains(index) } ?? parts.count }
    }

    /// Joins the partitions again.
    public func heal() { groups = nil }

    /// Dials `to` from `from` now (a connection that is not a bootstrap one: no redial, no SWIM join).
    public func connect(_ from: Int, _ to: Int) throws {
        _ = try nodes[from]!.peers!.transport.dial(addresses[to])
        settle()
    }

    // MARK: Looking

    /// Node `index`'s membership summary (alive counts this node's view of others only).
    public func summary(_ index: Int) -> Membership.Summary? { nodes[index]?.peers?.membership?.summary }

    /// Whether every live member sees `alive` others alive, `suspect` suspect and `dead` dead.
    public func allSee(alive: Int, suspect: Int = 0, dead: Int = 0) -> Bool {
        aliveMembers.allSatisfy { index in
            guard let seen = summary(index) else { return false }
            return (seen.alive, seen.suspect, seen.dead) == (alive, suspect, dead)
        }
    }

    /// Seconds of virtual time since the harness started.
    public var elapsedSeconds: Double { Double(clock.now() - started) / 1e9 }
}

extension MeshHarness {
    /// The connection node `from` has with node `to` whose session is up, if any.
    public func connection(_ from: Int, to: Int) -> UInt64? {
        nodes[from]?.peers?.peers.first { $0.node == ids[to] }?.connection
    }

    /// Where ``complete(realSeconds:_:)`` runs its tasks (one thread, shared by every harness of the process).
    static let taskExecutor = ThreadExecutor(name: "inos.harness.tasks")

    /// Runs `body` (an `async` request on a node, say) in a task and settles the mesh — without moving virtual
    /// time — until it finishes: the request's frames are handled in the same virtual instant. Real time only
    /// bounds a body that never finishes (`realSeconds`, a guard against a hung test, not a timing check).
    public func complete<T: Sendable>(realSeconds: Double = 30, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let task = Task(executorPreference: Self.taskExecutor) { box.set(await Result(catching: body)) }
        let deadline = Date().addingTimeInterval(realSeconds)
        while box.value == nil {
            if settle() == 0 {
                guard Date() < deadline else {
                    task.cancel()
                    throw InosError(.timeout, "the task did not finish within \(realSeconds) s of real time")
                }
                usleep(200)  // the task runs on its own thread: give it the processor
            }
        }
        return try box.value!.get()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// The harness's ``MeshHarness/unblock()`` for a node's lanes, which want a `Sendable` closure.
// @unchecked: only ever called on the thread that steps the harness (a blocking wait inside one of its steps).
private struct Unblock: @unchecked Sendable {
    unowned let harness: MeshHarness
    func step() { harness.unblock() }
}

/// One result handed from a task to the stepping thread.
final class ResultBox<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    var value: Result<T, any Error>? { result.withLock { $0 } }
    func set(_ value: Result<T, any Error>) { result.withLock { $0 = value } }
}
