// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import Identity
import Logging
import MeshCore
import Primitives
import Session
import Synchronization
import Wire

/// A node's mesh: the peer layer (connections, sessions, request router, frame registry) and the protocol
/// services on it — chunks, membership, gossip, providers (the DHT) and anti-entropy — each registering the
/// frame types it serves. Modules above (replication, compute) register theirs through ``register(_:)`` or
/// ``serve(_:lane:_:)``.
///
/// The facade keeps the node's one public surface: what used to be one class doing everything now forwards to
/// the part that owns it.
public final class PeerManager: Sendable {
    /// Serves chunk requests: the stored form of the object with that key, or nil.
    public typealias ChunkSource = @Sendable ([UInt8]) -> [UInt8]?
    public typealias Peer = PeerLayer.Peer
    public typealias Limits = PeerLayer.Limits
    /// Handlers for requests served above the peer layer (replication, compute): the answer's type and payload,
    /// sent with the request's id; nil answers nothing.
    public typealias Handler = @Sendable (_ payload: [UInt8], _ peer: NodeID, _ connection: UInt64) -> (FrameType, [UInt8])?

    public let layer: PeerLayer
    private let chunks: ChunkService
    private let providerService: ProviderService
    private let antiEntropy: AntiEntropyService
    private let gossipService: GossipService
    private let membershipService: MembershipService
    private let lastEpoch = Atomic<UInt64>(0)
    private let epochs = Atomic<UInt64>(0)

    public init(
        host: HostRuntime, transport: TransportHandle, identity: NodeIdentity, logger: Logger, seed: UInt64 = 1,
        chunkSource: ChunkSource? = nil, keepaliveSeconds: Double = 15, stallSeconds: Double = 10, admission: Admission = .open,
        clock: any MeshClock = SystemClock(), lamport: NodeLamport = NodeLamport(), lanes: WorkerPool.Execution = .threads
    ) {
        layer = PeerLayer(
            host: host, transport: transport, identity: identity, logger: logger, seed: seed, clock: clock, lamport: lamport,
            keepaliveSeconds: keepaliveSeconds, stallSeconds: stallSeconds, admission: admission, lanes: lanes)
        chunks = ChunkService(layer: layer, source: chunkSource)
        providerService = ProviderService(layer: layer)
        antiEntropy = AntiEntropyService(layer: layer, providers: providerService.store)
        gossipService = GossipService(layer: layer, antiEntropy: antiEntropy)
        membershipService = MembershipService(layer: layer, gossip: gossipService)
        layer.registry.register(
            chunks.registrations + membershipService.registrations + gossipService.registrations + providerService.registrations
                + antiEntropy.registrations)
    }

    // MARK: The peer layer

    public var transport: TransportHandle { layer.transport }
    public var identity: NodeIdentity { layer.identity }
    public var admission: Admission { layer.admission }
    public var clock: any MeshClock { layer.clock }
    /// The node's one Lamport clock (pass the same one to the replica service and the mesh client).
    public var lamport: NodeLamport { layer.lamport }
    public var keepaliveSeconds: Double { layer.keepaliveSeconds }
    public var stallSeconds: Double { layer.stallSeconds }
    public var registry: FrameRegistry { layer.registry }
    public var peers: [Peer] { layer.peers }
    public var listening: [String] { layer.listening }
    /// Requests one connection may have queued or running in the lanes; past it, more are answered "busy".
    public static var servingLimit: Int { PeerLayer.servingLimit }
    /// Bytes of sealed frames one connection may have waiting in its outbound queue (beyond the transport's own).
    public static var outboundLimitBytes: Int { PeerLayer.outboundLimitBytes }
    /// How many members keep each provider record (Kademlia's k).
    public static var replication: Int { ProviderService.replication }

    /// Listens on `listen` and starts dialing `bootstrap`. Listening failures are errors; a bootstrap peer
    /// that cannot be reached is retried in the background.
    public func start(listen: [String], bootstrap: [String]) throws(TransportCallError) -> [String] {
        try layer.start(listen: listen, bootstrap: bootstrap)
    }

    /// Dials `address` now (not a bootstrap peer: no redial) and returns the connection once its session is
    /// up. With `expecting`, a peer that proves to be another node is refused.
    public func connect(_ address: String, expecting: NodeID? = nil, timeout: Double = 10) throws(MeshError) -> (UInt64, NodeID) {
        try layer.connect(address, expecting: expecting, timeout: timeout)
    }

    /// ``connect(_:expecting:timeout:)`` that suspends until the session is up instead of blocking a thread.
    public func connect(_ address: String, expecting: NodeID? = nil, timeout: Double = 10) async throws(MeshError) -> (UInt64, NodeID) {
        try await layer.connect(address, expecting: expecting, timeout: timeout)
    }

    /// Waits until the connection's handshake has completed; the peer's node ID.
    public func waitForSession(_ connection: UInt64, timeout: Double = 10) throws(MeshError) -> NodeID {
        try layer.waitForSession(connection, timeout: timeout)
    }

    /// Handles a transport record from the inbox (reactor thread). Frame blocks are freed here.
    public func handle(_ record: TransportRecord, now: UInt64) { layer.handle(record, now: now) }

    /// Seals and sends a message. Never waits (see ``PeerLayer/send(_:requestID:parts:on:)``).
    public func send(_ message: WireMessage, on connection: UInt64) throws(MeshError) { try layer.send(message, on: connection) }

    public func send(_ type: FrameType, requestID: UInt64, parts: [UnsafeRawBufferPointer], on connection: UInt64) throws(MeshError) {
        try layer.send(type, requestID: requestID, parts: parts, on: connection)
    }

    /// Sends a request and waits for the response with the same request id. For callers on their own threads
    /// (the CLI, repair); code on the reactor or in a worker lane uses the completion form. An ERROR answer
    /// throws, with the peer's code (``MeshError/code``).
    public func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double = 30) throws(MeshError) -> WireMessage {
        try layer.request(type, payload: payload, on: connection, timeout: timeout)
    }

    /// Sends a request and suspends until the answer (resumed by the reactor), the deadline or the connection's
    /// close; cancelling the task fails the request at once. An ERROR answer throws with the peer's code.
    public func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double = 30) async throws(MeshError) -> WireMessage {
        try await layer.request(type, payload: payload, on: connection, timeout: timeout)
    }

    /// Sends a request without waiting: `completion` gets the answer, or the failure when the connection closes
    /// or `timeout` seconds pass (swept by the tick). It runs on the reactor or the tick's thread: it must not wait.
    public func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double,
                        completion: @escaping @Sendable (Result<WireMessage, MeshError>) -> Void) {
        layer.request(type, payload: payload, on: connection, timeout: timeout, completion: completion)
    }

    /// Registers frame types a module above serves (see ``FrameRegistry``).
    public func register(_ registrations: [FrameRegistration]) { layer.registry.register(registrations) }

    /// Serves requests of `type` with `handler` in `lane`: what it returns is sent back with the request's id.
    public func serve(_ type: FrameType, _ name: String, owner: String, lane: Lane, _ handler: @escaping Handler) {
        let layer = layer
        layer.registry.register(FrameRegistration(type, name, owner: owner, kind: .request, lane: lane) { frame in
            guard let (answer, payload) = handler(frame.payload, frame.peer, frame.connection) else { return }
            try? layer.reply(to: frame, answer, payload)
        })
    }

    /// Where ``serveAsync(_:_:owner:limit:perPeer:_:)`` runs its handlers' tasks; nil: the global concurrent
    /// executor. A test process sets its own thread here: Swift Testing runs sync tests on the cooperative pool,
    /// and two of them waiting hold both of a 2-core machine's cooperative threads.
    public static let asyncHandlerExecutor = Mutex<(any TaskExecutor)?>(nil)

    /// Starts `body` as a task of the peer layer's own (an async request handler, a lookup): on
    /// ``asyncHandlerExecutor`` when one is set, else on the global executor.
    static func spawn(_ body: @escaping @Sendable () async -> Void) {
        if let executor = asyncHandlerExecutor.withLock({ $0 }) {
            Task(executorPreference: executor) { await body() }
        } else {
            Task { await body() }
        }
    }

    /// Serves requests of `type` with an async `handler`, each in a task of its own: for a handler that asks other
    /// peers before it answers (a RELEASE confirms its census with HAVE) and so must not hold a lane's worker while
    /// it waits — four control workers each waiting on a node that waits on them is how two nodes stall each
    /// other to the timeout. At most `limit` run at once and at most `perPeer` for one peer; past either the
    /// request is answered busy, so a flood of them costs this node bounded work.
    public func serveAsync(_ type: FrameType, _ name: String, owner: String, limit: Int, perPeer: Int,
                           _ handler: @escaping @Sendable (_ payload: [UInt8], _ peer: NodeID, _ connection: UInt64) async -> (FrameType, [UInt8])?) {
        let layer = layer
        let running = AsyncAdmission()
        layer.registry.register(FrameRegistration(type, name, owner: owner, kind: .request) { frame in
            guard running.admit(frame.peer, limit: limit, perPeer: perPeer) else {
                if frame.requestID != 0 {
                    layer.replyError(frame.requestID, on: frame.connection, ErrorPayload(.busy, "too many \(name) requests in flight; retry later"))
                }
                return
            }
            @Sendable func serve() async {
                defer { running.finish(frame.peer) }
                guard let (answer, payload) = await handler(frame.payload, frame.peer, frame.connection) else { return }
                try? layer.reply(to: frame, answer, payload)
            }
            PeerManager.spawn { await serve() }
        })
    }

    /// Serves requests of `type` with `handler`, which reads the payload in place, in the received arena block
    /// (moved to `lane` within its budget, else copied): the pointer is valid only during the call.
    public func serveInPlace(_ type: FrameType, _ name: String, owner: String, lane: Lane,
                             _ handler: @escaping @Sendable (_ payload: UnsafeRawBufferPointer, _ peer: NodeID, _ connection: UInt64) -> (FrameType, [UInt8])?) {
        let layer = layer
        layer.registry.register(FrameRegistration(type, name, owner: owner, kind: .request, lane: lane, readsInPlace: true) { frame in
            guard let (answer, payload) = frame.withPayload({ handler($0, frame.peer, frame.connection) }) else { return }
            try? layer.reply(to: frame, answer, payload)
        })
    }

    // MARK: Chunks

    /// Asks a peer for the stored form of an object; nil when the peer does not have it.
    public func fetchChunk(_ key: [UInt8], from connection: UInt64, timeout: Double = 30) throws(MeshError) -> [UInt8]? {
        try chunks.fetch(key, from: connection, timeout: timeout)
    }

    /// Fetches the stored form of an object and calls `body` with its bytes where they arrived — the decrypted
    /// frame's arena block, read in place: the transport's copy into the arena is the only one. Nil when the
    /// peer does not have it.
    /// - warning: the buffer is valid only inside `body`; `body` runs on the calling task.
    public func withFetchedChunk<R>(_ key: [UInt8], from connection: UInt64, timeout: Double = 30, _ body: (UnsafeRawBufferPointer) -> R)
        async throws(MeshError) -> R?
    {
        try await chunks.fetch(key, from: connection, timeout: timeout, body)
    }

    /// Calls `observer` with the key of every chunk request this node serves (the "served" event: replication
    /// counts demand by it), on the bulk lane, before the chunk is read.
    public func onChunkServed(_ observer: @escaping @Sendable ([UInt8]) -> Void) { chunks.onServed(observer) }

    /// Chunk requests this node answered with the chunk (and those bytes), and answered "missing", since start.
    public var chunksServed: (served: UInt64, bytes: UInt64, missing: UInt64) { chunks.servedCounts }

    /// ``fetchChunk(_:from:timeout:)`` that suspends instead of blocking a thread.
    public func fetchChunk(_ key: [UInt8], from connection: UInt64, timeout: Double = 30) async throws(MeshError) -> [UInt8]? {
        try await chunks.fetch(key, from: connection, timeout: timeout)
    }

    // MARK: Membership and gossip

    public var membership: Membership? { layer.membership }
    /// The node-status topic (with membership).
    public var gossip: MeshGossip? { layer.gossip }
    func gossipRegion() -> String { gossipService.publishedRegion() }
    /// Counts each change of the members placement may use: one joined, fell under suspicion, was declared dead,
    /// came back or moved; or its first status arrived. Wait on it (``ChangeCounter/wait(beyond:)``) to act when the
    /// mesh changes instead of polling. Stays at 0 without membership.
    public var viewChanges: ChangeCounter { layer.viewChanges }
    /// This node's member ID (nil before membership is enabled).
    public var memberID: MemberID? { layer.membership?.memberID }

    /// Runs SWIM membership over the sessions, advertising `address` as where this node can be dialed.
    public func enableMembership(advertise address: String, now: UInt64, configuration: SwimConfiguration = .init()) {
        layer.enableMembership(advertise: address, now: now, configuration: configuration)
    }

    /// A session with `member`, if one is up; otherwise starts dialing its advertised address and returns nil.
    public func session(with member: MemberID) -> UInt64? { layer.route(member) }

    /// The alive members (this node first) with their addresses and last published status (MEMBERS).
    public func memberList() -> [MemberInfo] { membershipService.memberList() }

    /// Asks the peer on `connection` for its member list (MEMBERS).
    public func members(on connection: UInt64, timeout: Double = 5) throws(MeshError) -> [MemberInfo] {
        try membershipService.members(on: connection, timeout: timeout)
    }

    /// ``members(on:timeout:)`` that suspends on the answer.
    public func members(on connection: UInt64, timeout: Double = 5) async throws(MeshError) -> [MemberInfo] {
        try await membershipService.members(on: connection, timeout: timeout)
    }

    /// Publishes `provider()` on the node-status topic (needs membership): looked at every `check` seconds and
    /// published when it changed materially, else every `refresh` seconds; members that join get it at once.
    public func publishStatus(check: Double = 2, refresh: Double = 30, _ provider: @escaping @Sendable () -> NodeStatus) {
        gossipService.publishStatus(check: check, refresh: refresh, provider)
    }

    // MARK: Providers

    /// Provider records this node keeps for others (the DHT's storage).
    public var providerStore: ProviderStore { providerService.store }

    /// Announces `keys()` as provided by this node (a holder's records by default, or an edge cache's) to the
    /// members closest to each key, every `seconds` (records live `ttl` seconds, so a provider that stops is
    /// forgotten).
    /// `still`, asked after each key is republished, withdraws it again when false (it went meanwhile).
    public func provide(_ kind: ProviderRecord.Kind = .holder, every seconds: Double, ttl: UInt32,
                        still: @escaping @Sendable ([UInt8]) -> Bool = { _ in true }, _ keys: @escaping @Sendable () -> [[UInt8]]) {
        providerService.provide(kind, every: seconds, ttl: ttl, still: still, keys)
    }

    /// Announces `key` as provided by this node now (besides the periodic republishing).
    public func announceNow(_ key: [UInt8], as kind: ProviderRecord.Kind = .holder) { providerService.announceNow(key, as: kind) }

    /// Withdraws this node's record for `key` now (a TTL-0 record replaces it; an edge cache's eviction).
    public func withdraw(_ key: [UInt8], as kind: ProviderRecord.Kind) { providerService.withdraw(key, as: kind) }

    /// The provider records this node keeps for `key` (a node close to the key keeps them all).
    public func localProviders(_ key: [UInt8]) -> [ProviderRecord] { providerService.localProviders(key) }

    /// Asks the peer on `connection` for the providers of `key`; with `recursive`, the peer also asks the members
    /// closest to the key and merges what they know.
    public func findProviders(_ key: [UInt8], on connection: UInt64, recursive: Bool = true, timeout: Double = 10) throws(MeshError) -> [ProviderRecord] {
        try providerService.findProviders(key, on: connection, recursive: recursive, timeout: timeout)
    }

    /// ``findProviders(_:on:recursive:timeout:)`` that suspends on the answer.
    public func findProviders(_ key: [UInt8], on connection: UInt64, recursive: Bool = true, timeout: Double = 10) async throws(MeshError) -> [ProviderRecord] {
        try await providerService.findProviders(key, on: connection, recursive: recursive, timeout: timeout)
    }

    /// Asks the peer on `connection` for the members closest to `key`, with their addresses (FIND_NODE).
    public func findNodes(_ key: [UInt8], on connection: UInt64, timeout: Double = 5) throws(MeshError) -> [(MemberID, String)] {
        try providerService.findNodes(key, on: connection, timeout: timeout)
    }

    /// Kademlia's iterative lookup starting from the peer on `connection` (``ProviderService/lookupProviders(_:from:timeout:)``).
    public func lookupProviders(_ key: [UInt8], from connection: UInt64, timeout: Double = 5)
        throws(MeshError) -> (providers: [ProviderRecord], rounds: Int, asked: Int)
    {
        try providerService.lookupProviders(key, from: connection, timeout: timeout)
    }

    // MARK: Anti-entropy

    /// Says a synchronized tree gained items: the root goes out at the next epoch (at most one a second).
    public func treeChanged() { antiEntropy.treeChanged() }

    /// Adds a Merkle tree to anti-entropy under `id` (1…255; 0 is the provider records).
    public func synchronize(tree id: UInt8, _ access: MerkleTreeAccess) { antiEntropy.synchronize(tree: id, access) }

    /// Anti-entropy of the provider records with the peer on `connection`; returns the records that changed here.
    @discardableResult
    public func syncProviders(on connection: UInt64, timeout: Double = 5) throws(MeshError) -> Int {
        try antiEntropy.syncTree(0, on: connection, timeout: timeout)
    }

    /// Anti-entropy of tree `id` with the peer on `connection`; returns the items that changed here.
    @discardableResult
    public func syncTree(_ id: UInt8, on connection: UInt64, timeout: Double = 5) throws(MeshError) -> Int {
        try antiEntropy.syncTree(id, on: connection, timeout: timeout)
    }

    /// The root members compare on the anti-entropy topic.
    public func metadataRoot() -> UInt64 { antiEntropy.metadataRoot() }

    // MARK: Running

    /// Runs `host`'s reactor for this node until `host.requestStop()`, on the calling thread: inbox records
    /// to ``handle(_:now:)``, and ``tick(now:)`` every `tickNanoseconds` (keepalives, handshake and request
    /// deadlines, membership timers). What a client process or a test peer runs; `inos node` adds its own work.
    public func runReactor(_ host: HostRuntime, tickNanoseconds: Int64 = 100_000_000) {
        host.run(
            tickNanoseconds: tickNanoseconds,
            onInbox: { [self] type, payload in
                if let record = TransportRecord(type: type, payload: payload) { handle(record, now: clock.now()) }
            },
            onTick: { [self] in tick(now: clock.now()) })
    }

    /// Called periodically (the reactor's tick): request deadlines, relayed offers, the once-a-second epoch
    /// (provider records, anti-entropy roots), membership's timers, the status topic, keepalives.
    public func tick(now: UInt64) {
        let watch = layer.reactorWatch
        watch.enter(.requestDeadlines)
        layer.router.expire(now: now)
        watch.enter(.offers)
        layer.tickOffers(now: now)
        if now - lastEpoch.load(ordering: .relaxed) >= 1_000_000_000 {
            lastEpoch.store(now, ordering: .relaxed)
            watch.enter(.providerEpoch)
            providerService.epoch(now: now)
            watch.enter(.antiEntropyEpoch)
            antiEntropy.epoch(epochs.wrappingAdd(1, ordering: .relaxed).newValue)
        }
        watch.enter(.membership)
        membershipService.tick(now: now)
        watch.enter(.gossip)
        gossipService.tick(now: now)
        watch.enter(.connections)
        layer.tickConnections(now: now)
    }

    /// Where the reactor is and since when (the node's stall watchdog reads it).
    public var reactorWatch: ReactorWatch { layer.reactorWatch }

    /// Stops redialing and the lanes, and drops what the services registered (handlers, observers): they
    /// reference the services, which reference this manager, so a stopped node would never be freed.
    /// Connections close when the transport plugin is retired.
    public func stop() {
        layer.stop()
        layer.registry.dropHandlers()
        chunks.dropObservers()
        antiEntropy.dropTrees()
    }
}

/// The requests an async handler (``PeerManager/serveAsync(_:_:owner:limit:perPeer:_:)``) is running: in all, and
/// per peer.
final class AsyncAdmission: Sendable {
    private let running = Mutex<(total: Int, perPeer: [NodeID: Int])>((0, [:]))

    func admit(_ peer: NodeID, limit: Int, perPeer most: Int) -> Bool {
        running.withLock { running in
            guard running.total < limit, running.perPeer[peer, default: 0] < most else { return false }
            running.total += 1
            running.perPeer[peer, default: 0] += 1
            return true
        }
    }

    func finish(_ peer: NodeID) {
        running.withLock { running in
            running.total = max(0, running.total - 1)
            let left = running.perPeer[peer, default: 1] - 1
            running.perPeer[peer] = left > 0 ? left : nil
        }
    }
}
