// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import Identity
import Logging
import MeshCore
import PluginABI
import Session
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The node's connections and sessions: listens on the manifest's addresses, dials its bootstrap peers and
/// redials them with backoff when they drop, runs the secure-session handshake on every connection, and
/// then speaks the wire protocol — answering pings and chunk requests, matching responses to requests.
///
/// Every frame is read and freed here, on the reactor thread: sealed frames are decrypted in their arena
/// block. A peer that sends anything malformed, fails the handshake or sends a frame that does not open is
/// disconnected with a logged reason; nothing else on the node is affected.
public final class PeerManager: Sendable {
    public struct Peer: Sendable, Equatable {
        public var connection: UInt64
        public var address: String
        public var inbound: Bool
        public var openedAt: UInt64
        /// The peer's node ID once its session is up.
        public var node: NodeID?
        /// Smoothed round-trip time of keepalive pings, in microseconds (nil before the first answer).
        public var rttMicroseconds: Double?
        /// When the peer last sent anything.
        public var lastHeard: UInt64 = 0
        var keepalive: KeepalivePing?
    }

    struct KeepalivePing: Sendable, Equatable {
        var id: UInt64
        var sentAt: UInt64
    }

    /// Serves chunk requests: the stored form of the object with that key, or nil.
    public typealias ChunkSource = @Sendable ([UInt8]) -> [UInt8]?

    /// One connection's session: the handshake until it completes, then the channel.
    final class Link: Sendable {
        let handshake: Mutex<Handshake?>
        let channel = Mutex<SecureChannel?>(nil)
        /// Sealed frames the transport had no room for, in order. Guarded by `channel`'s lock.
        nonisolated(unsafe) var outbound = Outbound()
        init(_ handshake: Handshake) { self.handshake = Mutex(handshake) }
        deinit { outbound.clear() }
    }

    struct Outbound {
        var frames: [UnsafeMutableRawBufferPointer] = []
        var bytes = 0
        /// When a frame last left (or the queue started).
        var progressAt: UInt64 = 0
        mutating func clear() {
            for frame in frames { frame.deallocate() }
            frames = []
            bytes = 0
        }
    }

    /// One request in flight: finished once, by its answer (reactor), its deadline (the tick's sweep) or its
    /// connection's close. `completion` runs on the finishing thread: it must not wait.
    final class Waiter: Sendable {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<WireMessage, MeshError>?>(nil)
        let completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)?
        init(completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)? = nil) { self.completion = completion }
        func finish(_ outcome: Result<WireMessage, MeshError>) {
            let first = result.withLock { value -> Bool in
                guard value == nil else { return false }
                value = outcome
                return true
            }
            guard first else { return }
            completion?(outcome)
            done.signal()
        }
    }

    struct Pending {
        var connection: UInt64
        var waiter: Waiter
        /// For a chunk request, the key a CHUNK_DATA answer must carry.
        var key: [UInt8]
        var deadline: UInt64
        var timeout: Double
    }

    private struct State {
        var peers: [UInt64: Peer] = [:]
        var links: [UInt64: Link] = [:]
        var pending: [UInt64: Pending] = [:]
        /// Requests from each connection being served off the reactor (queued or running in a worker pool).
        var serving: [UInt64: Int] = [:]
        /// Bootstrap address → the connection serving it (nil while redialing).
        var bootstrap: [String: UInt64?] = [:]
        var attempts: [String: Int] = [:]
        /// Dialed bootstrap connections pinned to a node ID (`tcp://host:port#n…`).
        var pinned: [UInt64: NodeID] = [:]
        var stopped = false
        var listening: [String] = []
        var backoff: Backoff
        /// When we last asked a member, through the mesh, to dial us back.
        var offers: [UInt64: UInt64] = [:]
        /// Offers answered in the last 10 s.
        var answeredOffers: [(address: String, at: UInt64)] = []
        /// Offers to addresses no member advertises yet, with when they came.
        var pendingOffers: [(offer: MeshGossip.Offer, at: UInt64)] = []
    }

    public let transport: TransportHandle
    public let identity: NodeIdentity
    /// The mesh keys and allowlist every handshake of this node admits peers by (``Admission/open``: any node).
    public let admission: Admission
    let arena: Arena
    let logger: Logger
    let chunkSource: ChunkSource?
    private let state: Mutex<State>
    private let nextRequest = Atomic<UInt64>(1)
    /// Wakes the flusher when a connection's outbound queue gets its first frame.
    private let flusher = DispatchSemaphore(value: 0)
    private let dialer = DispatchQueue(label: "inos.mesh.dialer", attributes: .concurrent)
    /// Where requests are served off the reactor, one pool per lane so that no lane starves another: small
    /// answers from memory or one file lookup (HAVE, RELEASE, LEDGER), bulk chunk I/O (CHUNK_GET, STORE, CHALLENGE), jobs
    /// (JOB_RUN, which may run for minutes), and background anti-entropy (one sync at a time).
    let lanes: Lanes
    public struct Lanes: Sendable {
        public let control: WorkerPool
        public let bulk: WorkerPool
        public let compute: WorkerPool
        public let background: WorkerPool
        init() {
            control = WorkerPool(name: "control", threads: 4, queueLimit: 1024)
            bulk = WorkerPool(name: "bulk", threads: 8, queueLimit: 512)
            compute = WorkerPool(name: "compute", threads: 4, queueLimit: 64)
            background = WorkerPool(name: "background", threads: 1, queueLimit: 64)
        }
        func stop() { for pool in [control, bulk, compute, background] { pool.stop() } }
    }
    /// Requests one connection may have queued or running in the lanes; past it, more are answered "busy".
    public static let servingLimit = 64

    /// The resource manager's bounds on connections (after libp2p's): strangers (connections whose handshake has
    /// not completed) have their own budget, separate from established sessions, so a flood of silent
    /// connections cannot lock members out.
    public enum Limits {
        /// A connection whose session is not up this long after it opened is closed.
        public static let handshakeSeconds = 10.0
        /// Frames accepted before the session is up (handshake messages are a few hundred bytes). The TCP
        /// transport applies the same bound to a connection's first frames before it buffers them.
        public static let handshakeFrameBytes = 4096
        /// Inbound connections still in their handshake, in all and from one IP address.
        public static let strangers = 64
        public static let strangersPerAddress = 8
        /// Established sessions (inbound and outbound).
        public static let sessions = 512
        /// Connection offers (relayed signaling) this node answers per 10 s, and per address.
        public static let offersPer10Seconds = 4
        /// Offers kept until a member advertises their address, and for how long.
        public static let pendingOffers = 16
        public static let pendingOfferSeconds = 30.0
    }

    /// Why an inbound connection from `address` is refused now, or nil.
    private func admissionRefusal(_ state: State, address: String) -> String? {
        let host = Self.host(of: address)
        var strangers = 0, fromHost = 0, sessions = 0
        for peer in state.peers.values {
            if peer.node == nil {
                if peer.inbound { strangers += 1 }
                if peer.inbound && Self.host(of: peer.address) == host { fromHost += 1 }
            } else {
                sessions += 1
            }
        }
        if strangers >= Limits.strangers { return "\(strangers) connections are already in their handshake (limit \(Limits.strangers))" }
        if fromHost >= Limits.strangersPerAddress {
            return "\(fromHost) connections from \(host) are already in their handshake (limit \(Limits.strangersPerAddress))"
        }
        if sessions >= Limits.sessions { return "\(sessions) sessions are up (limit \(Limits.sessions))" }
        return nil
    }

    /// The host part of a transport address (`tcp://1.2.3.4:7400` → `1.2.3.4`, `[::1]:7400` → `::1`).
    static func host(of address: String) -> String {
        var rest = Substring(address)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        if let colon = rest.lastIndex(of: ":") { return String(rest[..<colon]) }
        return String(rest)
    }
    /// Members anti-entropy is queued or running with (a second trigger for the same member is dropped).
    private let syncing = Mutex<Set<MemberID>>([])
    /// A connection that lived this long resets its address's backoff.
    static let healthySeconds: UInt64 = 10

    /// Seconds of silence after which a session is pinged; three intervals without an answer close it.
    public let keepaliveSeconds: Double
    /// A connection whose outbound queue has not moved for this long is closed (its peer stopped reading).
    public let stallSeconds: Double
    /// SWIM membership over the sessions, once ``enableMembership(advertise:now:)`` was called.
    private let membershipBox = Mutex<Membership?>(nil)
    public var membership: Membership? { membershipBox.withLock { $0 } }
    private let gossipBox = Mutex<MeshGossip?>(nil)
    /// The node-status topic (with membership).
    public var gossip: MeshGossip? { gossipBox.withLock { $0 } }
    /// Provider records this node keeps for others (the DHT's storage).
    public let providerStore = ProviderStore()
    /// Keys this node provides, republished every interval to the members closest to each.
    private let provided = Mutex<(keys: @Sendable () -> [[UInt8]], every: UInt64, last: UInt64, ttl: UInt32)?>(nil)
    private let lastEpoch = Atomic<UInt64>(0)
    private let epochs = Atomic<UInt64>(0)
    /// Set by ``treeChanged()``: the next epoch publishes the root instead of waiting for every fifth.
    private let rootChanged = Atomic<Bool>(false)
    /// This node's Lamport clock for the records it originates (provider announcements).
    private let clock = Mutex(LamportClock())
    /// How many members keep each provider record (Kademlia's k).
    public static let replication = 20
    /// Handlers for requests served above the peer manager (replication), by frame type.
    public typealias Handler = @Sendable (_ payload: [UInt8], _ peer: NodeID, _ connection: UInt64) -> (FrameType, [UInt8])?
    private let handlers = Mutex<[FrameType: Handler]>([:])
    /// Merkle trees kept in sync by anti-entropy besides the provider records (tree 0): the ledger (tree 1).
    private let trees = Mutex<[UInt8: MerkleTreeAccess]>([:])
    /// What this node publishes on the node-status topic, and how often.
    private let statusSource = Mutex<(provider: @Sendable () -> NodeStatus, every: UInt64, last: UInt64)?>(nil)

    public init(
        host: HostRuntime, transport: TransportHandle, identity: NodeIdentity, logger: Logger, seed: UInt64 = 1,
        chunkSource: ChunkSource? = nil, keepaliveSeconds: Double = 15, stallSeconds: Double = 10, admission: Admission = .open
    ) {
        self.admission = admission
        self.keepaliveSeconds = keepaliveSeconds
        self.stallSeconds = max(0.1, stallSeconds)
        self.transport = transport
        self.identity = identity
        self.arena = host.arena
        self.logger = logger
        self.chunkSource = chunkSource
        state = Mutex(State(backoff: Backoff(seed: seed)))
        lanes = Lanes()
        startThread(name: "inos.mesh.flush") { [self] in flushLoop() }
    }

    /// Runs `job` for the request `id` from `connection` in `pool`, off the reactor. A connection that already
    /// has ``servingLimit`` requests being served, or a full pool, gets an error answer "busy" instead: the
    /// reactor never waits, and one peer's flood cannot take every worker.
    private func offload(_ pool: WorkerPool, request id: UInt64, from connection: UInt64, _ job: @escaping @Sendable () -> Void) {
        let admitted = state.withLock { state -> Bool in
            guard state.serving[connection, default: 0] < Self.servingLimit else { return false }
            state.serving[connection, default: 0] += 1
            return true
        }
        // One place gives the admission back: after the job, or at once when the lane refused it.
        @Sendable func done() {
            state.withLock { state in
                let left = state.serving[connection, default: 1] - 1
                state.serving[connection] = left > 0 ? left : nil
            }
        }
        let queued = admitted && pool.submit {
            job()
            done()
        }
        guard !queued else { return }
        if admitted { done() }
        logger.debug("busy: request \(id) on connection \(connection) refused (\(pool.name) lane full or too many requests from this peer)")
        try? send(WireMessage(.error, requestID: id, payload: Array("busy: too many requests in flight; retry later".utf8)), on: connection)
    }

    /// Serves requests of `type` (STORE, HAVE, RELEASE, LEDGER, JOB_RUN, CHALLENGE) with `handler`, on a worker thread; what it
    /// returns is sent back with the request's id. A handler that throws nothing and returns nil answers nothing.
    public func serve(_ type: FrameType, _ handler: @escaping Handler) {
        handlers.withLock { $0[type] = handler }
    }

    /// Says a synchronized tree gained items: the root goes out at the next epoch (at most one a second, however
    /// many items arrive), so members that lack them sync within about a second rather than the next fifth epoch.
    public func treeChanged() { rootChanged.store(true, ordering: .relaxed) }

    /// Adds a Merkle tree to anti-entropy under `id` (1…255; 0 is the provider records).
    public func synchronize(tree id: UInt8, _ access: MerkleTreeAccess) {
        precondition(id != 0)
        trees.withLock { $0[id] = access }
    }

    /// Runs SWIM membership over the sessions, advertising `address` as where this node can be dialed.
    public func enableMembership(advertise address: String, now: UInt64, configuration: SwimConfiguration = .init()) {
        let membership = Membership(identity: identity, advertise: address, logger: logger, now: now, configuration: configuration)
        membershipBox.withLock { $0 = membership }
        gossipBox.withLock { $0 = MeshGossip(member: membership.memberID, credentials: membership.credentials, seed: membership.memberID) }
    }

    /// Announces `keys()` as provided by this node to the members closest to each key, every `seconds`
    /// (records live `ttl` seconds, so a provider that stops is forgotten).
    public func provide(every seconds: Double, ttl: UInt32, _ keys: @escaping @Sendable () -> [[UInt8]]) {
        provided.withLock { $0 = (keys, UInt64(seconds * 1e9), 0, ttl) }
    }

    /// The members closest to `key` by XOR on the first 64 bits (member IDs are the first 8 bytes of node IDs,
    /// keys are content digests): where its provider records live. This node included.
    func closestMembers(to key: [UInt8], count: Int = PeerManager.replication) -> [MemberID] {
        guard let membership else { return [] }
        let target = key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (membership.aliveMembers + [membership.memberID]).sorted { ($0 ^ target) < ($1 ^ target) }.prefix(count).map { $0 }
    }

    private func announce(_ key: [UInt8], ttl: UInt32, now: UInt64) {
        guard let membership, let address = membership.advertisedAddress else { return }
        // Signed by this node, so every member that keeps or relays it can check that this node said it.
        let record = ProviderRecord(signing: key, address: address, ttl: ttl, lamport: clock.withLock { $0.tick() }, by: identity)
        let payload = ProviderRecord.encode(key: key, record)
        for member in closestMembers(to: key) {
            if member == membership.memberID {
                providerStore.add(key, record, now: now, verified: true)
                continue
            }
            let connection = membership.route(member) { address in dialer.async { [self] in dialMember(at: address, membership: membership) } }
            if let connection { try? send(WireMessage(.provide, payload: payload), on: connection) }
        }
    }

    /// Asks the peer on `connection` for the providers of `key`; with `recursive`, the peer also asks the members
    /// closest to the key and merges what they know.
    public func findProviders(_ key: [UInt8], on connection: UInt64, recursive: Bool = true, timeout: Double = 10) throws(MeshError) -> [ProviderRecord] {
        let answer = try request(.findProviders, payload: [recursive ? 1 : 0] + key, on: connection, timeout: timeout)
        guard answer.header.type == .providers else { throw MeshError("unexpected answer \(answer.header.type) to a provider request") }
        return Self.decodeProviders(answer.payload[...], key: key)
    }

    /// Anti-entropy with the peer on `connection`: compares the provider-record Merkle trees from the root down,
    /// only where they differ, and pulls the records of differing leaves (a record replaces the one kept only if
    /// it is a later announcement). The peer pulls from us the same way on its own schedule. Returns the records
    /// that changed here.
    @discardableResult
    public func syncProviders(on connection: UInt64, timeout: Double = 5) throws(MeshError) -> Int {
        try syncTree(0, on: connection, timeout: timeout)
    }

    /// The local side of tree `id`: the provider records, or a tree added with ``synchronize(tree:_:)``.
    private func access(_ id: UInt8) -> MerkleTreeAccess? {
        if id != 0 { return trees.withLock { $0[id] } }
        return MerkleTreeAccess(
            depth: providerStore.tree.withLock { $0.depth },
            root: { [providerStore] in providerStore.tree.withLock { $0.root() } },
            children: { [providerStore] level, node in providerStore.tree.withLock { $0.children(level: level, node: node) } },
            leaf: { [providerStore] node in providerStore.tree.withLock { $0.items(inLeaf: node).flatMap(\.1) } },
            apply: { [providerStore] bytes in
                var changed = 0, rest = bytes[...]
                let now = DispatchTime.now().uptimeNanoseconds
                while let (key, record, next) = ProviderRecord.decode(rest) {
                    if providerStore.add(key, record, now: now) { changed += 1 }
                    rest = next
                }
                return changed
            })
    }

    /// Anti-entropy of tree `id` with the peer on `connection`; returns the items that changed here.
    @discardableResult
    public func syncTree(_ id: UInt8, on connection: UInt64, timeout: Double = 5) throws(MeshError) -> Int {
        guard let tree = access(id) else { throw MeshError("no tree \(id) to synchronize") }
        func ask(_ op: UInt8, level: Int = 0, node: Int = 0) throws(MeshError) -> [UInt8] {
            var payload: [UInt8] = [op, UInt8(level)]
            withUnsafeBytes(of: UInt32(node).littleEndian) { payload += $0 }
            if id != 0 { payload.append(id) }
            return try request(.merkle, payload: payload, on: connection, timeout: timeout).payload
        }
        func hashes(_ bytes: [UInt8]) -> [UInt64] {
            stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { i in bytes[i..<(i + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        }
        guard hashes(try ask(0)).first != tree.root() else { return 0 }
        var differing = [0]
        for level in 0..<tree.depth {
            var next: [Int] = []
            for node in differing {
                let remote = hashes(try ask(1, level: level, node: node))
                guard remote.count == 16 else { throw MeshError("malformed anti-entropy answer") }
                let local = tree.children(level, node)
                for child in 0..<16 where remote[child] != local[child] { next.append(node * 16 + child) }
            }
            differing = next
        }
        var changed = 0
        for leaf in differing { changed += tree.apply(try ask(2, node: leaf)) }
        return changed
    }

    /// The root members compare on the anti-entropy topic: one hash over every synchronized tree's root, so a
    /// difference in any of them starts a sync (each tree then compares its own root first).
    public func metadataRoot() -> UInt64 {
        var bytes: [UInt8] = []
        let ids = [UInt8(0)] + trees.withLock { Array($0.keys) }.sorted()
        for id in ids { if let tree = access(id) { withUnsafeBytes(of: tree.root().littleEndian) { bytes += $0 } } }
        return ids.count == 1 ? (access(0)?.root() ?? 0) : fnv1a64(bytes)
    }

    /// The alive members (this node first) with their addresses and last published status (MEMBERS).
    public func memberList() -> [MemberInfo] {
        guard let membership else { return [] }
        let statuses = gossip?.known ?? [:]
        var out = [MemberInfo(member: membership.memberID, address: membership.advertisedAddress ?? "", status: statusSource.withLock { $0?.provider() })]
        for member in membership.aliveMembers {
            out.append(MemberInfo(member: member, address: membership.address(of: member) ?? "", status: statuses[member]))
        }
        return out
    }

    /// This node's member ID (nil before membership is enabled).
    public var memberID: MemberID? { membership?.memberID }

    /// A session with `member`, if one is up; otherwise starts dialing its advertised address and returns nil.
    public func session(with member: MemberID) -> UInt64? {
        guard let membership else { return nil }
        return membership.route(member) { address in dialer.async { [self] in dialMember(at: address, membership: membership) } }
    }

    /// Announces `key` as provided by this node now (besides the periodic republishing).
    public func announceNow(_ key: [UInt8]) {
        guard key.count == 32, let ttl = provided.withLock({ $0?.ttl }) else { return }
        announce(key, ttl: ttl, now: DispatchTime.now().uptimeNanoseconds)
    }

    /// The provider records this node keeps for `key` (a node close to the key keeps them all).
    public func localProviders(_ key: [UInt8]) -> [ProviderRecord] {
        providerStore.providers(of: key, now: DispatchTime.now().uptimeNanoseconds)
    }

    /// Asks the peer on `connection` for its member list (MEMBERS).
    public func members(on connection: UInt64, timeout: Double = 5) throws(MeshError) -> [MemberInfo] {
        let answer = try request(.members, payload: [], on: connection, timeout: timeout)
        guard answer.header.type == .membersReply, let list = MemberInfo.decodeList(answer.payload[...]) else {
            throw MeshError("malformed member list")
        }
        return list
    }

    /// Asks the peer on `connection` for the members closest to `key`, with their addresses (FIND_NODE).
    public func findNodes(_ key: [UInt8], on connection: UInt64, timeout: Double = 5) throws(MeshError) -> [(MemberID, String)] {
        let answer = try request(.findNode, payload: key, on: connection, timeout: timeout)
        var out: [(MemberID, String)] = []
        var bytes = answer.payload[...]
        while bytes.count >= 9 {
            let start = bytes.startIndex
            let member = bytes[start..<(start + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let length = Int(bytes[start + 8])
            guard bytes.count >= 9 + length else { break }
            out.append((member, String(decoding: bytes[(start + 9)..<(start + 9 + length)], as: UTF8.self)))
            bytes = bytes[(start + 9 + length)...]
        }
        return out
    }

    /// Pulls differing provider records from `member`, over its session, on a worker thread.
    /// `providers`: also the provider records (tree 0). The periodic push-pull leaves them out: a record's TTL
    /// starts again wherever it lands, so pulling them on a timer would keep a dead provider's records alive by
    /// passing them around; they travel when a gossiped root says they differ, as announcements are made.
    private func antiEntropy(with member: MemberID, providers: Bool = true) {
        guard let membership, let connection = membership.route(member, dial: { _ in }) else { return }
        // One sync per member at a time, in the background lane: a root that differs in every gossip round
        // does not pile up syncs, and syncs never hold the workers that answer requests.
        guard syncing.withLock({ $0.insert(member).inserted }) else { return }
        let queued = lanes.background.submit { [self] in
            defer { _ = syncing.withLock { $0.remove(member) } }
            do throws(MeshError) {
                if providers {
                    let changed = try syncProviders(on: connection)
                    if changed > 0 { logger.info("anti-entropy with member \(String(member, radix: 16)): \(changed) provider record(s) updated") }
                }
                for id in trees.withLock({ Array($0.keys) }).sorted() {
                    let items = try syncTree(id, on: connection)
                    if items > 0 { logger.info("anti-entropy with member \(String(member, radix: 16)): \(items) item(s) of tree \(id) added") }
                }
            } catch {
                logger.warning("anti-entropy with member \(String(member, radix: 16)) failed: \(error.message)")
            }
        }
        if !queued { _ = syncing.withLock { $0.remove(member) } }
    }

    /// Kademlia's iterative lookup over the network, starting from the peer on `connection`: each round asks
    /// α = 3 of the closest members not yet asked for their closest members (FIND_NODE) and for the key's
    /// provider records (FIND_PROVIDERS), until a round brings nothing closer. Returns the providers found, the
    /// rounds it took and the members asked.
    public func lookupProviders(_ key: [UInt8], from connection: UInt64, timeout: Double = 5)
        throws(MeshError) -> (providers: [ProviderRecord], rounds: Int, asked: Int)
    {
        func point(_ member: MemberID) -> Key256 { Key256(member, 0, 0, 0) }
        let target = Key256(key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, 0, 0, 0)
        var addresses: [Key256: String] = [:]
        var found: [MemberID: ProviderRecord] = [:]
        for (member, address) in try findNodes(key, on: connection, timeout: timeout) { addresses[point(member)] = address }
        for record in (try? findProviders(key, on: connection, recursive: false, timeout: timeout)) ?? [] { found[record.member] = record }
        var lookup = Lookup(target: target, start: Array(addresses.keys), k: Self.replication, alpha: 3)
        var asked = 1
        var sessions: [String: UInt64] = [:]
        while true {
            let round = lookup.nextRound()
            if round.isEmpty { break }
            for contact in round {
                guard let address = addresses[contact] else { lookup.answer(from: contact, nil); continue }
                asked += 1
                do throws(MeshError) {
                    let session: UInt64
                    if let known = sessions[address] { session = known } else { session = try connect(address, timeout: timeout).0 }
                    sessions[address] = session
                    let nodes = try findNodes(key, on: session, timeout: timeout)
                    for (member, address) in nodes where addresses[point(member)] == nil { addresses[point(member)] = address }
                    lookup.answer(from: contact, nodes.map { point($0.0) })
                    for record in try findProviders(key, on: session, recursive: false, timeout: timeout)
                    where record.lamport >= found[record.member]?.lamport ?? 0 { found[record.member] = record }
                } catch {
                    lookup.answer(from: contact, nil)
                }
            }
        }
        for session in sessions.values { transport.close(session) }
        return (found.values.sorted { $0.member < $1.member }, lookup.rounds, asked)
    }

    /// The records of a PROVIDERS answer for `key` that verify (``ProviderRecord/problem(key:)``): whoever
    /// relayed them, a record for another key, naming a member its public key is not, or with a bad signature
    /// is dropped.
    static func decodeProviders(_ payload: ArraySlice<UInt8>, key: [UInt8]) -> [ProviderRecord] {
        var rest = payload, out: [ProviderRecord] = []
        while let (recordKey, record, next) = ProviderRecord.decode(rest) {
            if recordKey == key && record.verifies(key: key) { out.append(record) }
            rest = next
        }
        return out
    }

    /// Publishes `provider()` on the node-status topic every `seconds` (needs membership).
    public func publishStatus(every seconds: Double, _ provider: @escaping @Sendable () -> NodeStatus) {
        statusSource.withLock { $0 = (provider, UInt64(seconds * 1e9), 0) }
    }

    // MARK: Connections

    /// Listens on `listen` and starts dialing `bootstrap`. Listening failures are errors; a bootstrap peer
    /// that cannot be reached is retried in the background.
    public func start(listen: [String], bootstrap: [String]) throws(TransportCallError) -> [String] {
        var bound: [String] = []
        for address in listen {
            try transport.listen(address)
            bound.append((try? transport.localAddress()) ?? address)
        }
        state.withLock { $0.listening += bound }
        for address in bootstrap {
            state.withLock { $0.bootstrap[address] = .some(nil) }
            dial(address, after: 0)
        }
        return bound
    }

    private func dial(_ address: String, after seconds: Double) {
        guard let target = PinnedAddress(address) else {
            return logger.error("bootstrap address \(address): the part after # is not a node ID (n…, as the node prints it): not dialed")
        }
        dialer.asyncAfter(deadline: .now() + seconds) { [self] in
            guard !state.withLock({ $0.stopped }) else { return }
            do throws(TransportCallError) {
                let connection = try transport.dial(target.address)
                state.withLock { $0.bootstrap[address] = connection }
                if let node = target.node { pin(node, on: connection) }
                logger.info("connected to bootstrap peer \(address) (connection \(connection))")
            } catch {
                let wait = state.withLock { state -> Double in
                    let attempt = state.attempts[address, default: 0]
                    state.attempts[address] = attempt + 1
                    return state.backoff.delay(attempt: attempt)
                }
                logger.warning("cannot reach bootstrap peer \(address): \(error.message); retrying in \(String(format: "%.1f", wait)) s")
                dial(address, after: wait)
            }
        }
    }

    /// Dials `address` now (not a bootstrap peer: no redial) and returns the connection once its session is
    /// up. With `expecting`, a peer that proves to be another node is refused.
    public func connect(_ address: String, expecting: NodeID? = nil, timeout: Double = 10) throws(MeshError) -> (UInt64, NodeID) {
        guard let target = PinnedAddress(address) else { throw MeshError("\(address): the part after # is not a node ID (n…)") }
        let expecting = expecting ?? target.node
        let connection: UInt64
        do throws(TransportCallError) { connection = try transport.dial(target.address) } catch {
            throw MeshError("cannot connect to \(address): \(error.message)")
        }
        let peer = try waitForSession(connection, timeout: timeout)
        if let expecting, peer != expecting {
            transport.close(connection)
            throw MeshError("\(address) proved to be node \(peer), not the expected \(expecting): refused")
        }
        return (connection, peer)
    }

    /// Pins a connection this node dialed to `node`: its handshake refuses any other identity. The transport
    /// may report the connection (OPENED) before or after its dial returns, so the pin is kept for `.opened`
    /// and applied to a handshake already under way; a session that came up first is checked when it does.
    private func pin(_ node: NodeID, on connection: UInt64) {
        let (link, established) = state.withLock { state in
            state.pinned[connection] = node
            return (state.links[connection], state.peers[connection]?.node)
        }
        link?.handshake.withLock { $0?.expect(node) }
        if let established, established != node { refusePinned(connection, expected: node, peer: established) }
    }

    private func refusePinned(_ connection: UInt64, expected: NodeID, peer: NodeID) {
        logger.warning("closing connection \(connection): expected node \(expected), but the peer proved to be \(peer)")
        transport.close(connection)
    }

    /// Waits until the connection's handshake has completed; the peer's node ID.
    public func waitForSession(_ connection: UInt64, timeout: Double = 10) throws(MeshError) -> NodeID {
        let deadline = DispatchTime.now() + timeout
        while DispatchTime.now() < deadline {
            if let peer = state.withLock({ $0.peers[connection]?.node }) { return peer }
            usleep(1_000)
        }
        throw MeshError("no secure session on connection \(connection) within \(timeout) s")
    }

    // MARK: Records from the transport

    /// Handles a transport record from the inbox (reactor thread). Frame blocks are freed here.
    public func handle(_ record: TransportRecord, now: UInt64) {
        switch record {
        case .frame(let connection, let offset, let length):
            let frame = UnsafeMutableRawBufferPointer(start: arena.base + offset, count: length)
            state.withLock { $0.peers[connection]?.lastHeard = now }
            receive(frame, on: connection, now: now)
            _ = arena.heap.free(offset)
        case .opened(let connection, let inbound, let peer):
            var handshake = Handshake(identity: identity, role: inbound ? .responder : .initiator(expecting: nil), admission: admission)
            let admitted = state.withLock { state -> Result<Link, MeshError> in
                if inbound, let why = admissionRefusal(state, address: peer) { return .failure(MeshError(why)) }
                if !inbound, let pinned = state.pinned[connection] { handshake.expect(pinned) }
                let link = Link(handshake)
                state.peers[connection] = Peer(connection: connection, address: peer, inbound: inbound, openedAt: now)
                state.links[connection] = link
                return .success(link)
            }
            let link: Link
            switch admitted {
            case .success(let admittedLink): link = admittedLink
            case .failure(let refusal):
                logger.warning("connection \(connection) from \(peer) refused: \(refusal.message)")
                transport.close(connection)
                return
            }
            logger.info("connection \(connection) \(inbound ? "from" : "to") \(peer) open")
            if !inbound {
                let hello = link.handshake.withLock { $0!.start() }
                sendPlain(hello, on: connection)
            }
        case .closed(let connection, let reason, _, let peer):
            let (redial, orphans, link) = state.withLock { state -> ((String, Double)?, [Waiter], Link?) in
                let closed = state.peers.removeValue(forKey: connection)
                let link = state.links.removeValue(forKey: connection)
                state.serving[connection] = nil
                state.pinned[connection] = nil
                let orphans = state.pending.filter { $0.value.connection == connection }
                for id in orphans.keys { state.pending[id] = nil }
                guard !state.stopped, let address = state.bootstrap.first(where: { $0.value == connection })?.key else {
                    return (nil, orphans.values.map(\.waiter), link)
                }
                state.bootstrap[address] = .some(nil)
                if let closed, now - closed.openedAt >= Self.healthySeconds * 1_000_000_000 { state.attempts[address] = 0 }
                let attempt = state.attempts[address, default: 0]
                state.attempts[address] = attempt + 1
                return ((address, state.backoff.delay(attempt: attempt)), orphans.values.map(\.waiter), link)
            }
            if let link { link.channel.withLock { _ in link.outbound.clear() } }
            for waiter in orphans { waiter.finish(.failure(MeshError("connection \(connection) closed"))) }
            membership?.sessionDown(connection)
            logger.info("connection \(connection) with \(peer) closed (\(StatusCode(reason)))")
            if let (address, wait) = redial {
                logger.info("redialing bootstrap peer \(address) in \(String(format: "%.1f", wait)) s")
                dial(address, after: wait)
            }
        }
    }

    private func receive(_ frame: UnsafeMutableRawBufferPointer, on connection: UInt64, now: UInt64) {
        guard let link = state.withLock({ $0.links[connection] }) else {
            logger.debug("frame on connection \(connection), which has no session state: dropped")
            return
        }
        do throws(MeshError) {
            if link.channel.withLock({ $0 == nil }) {
                // Before the session a peer is a stranger: its frames are handshake messages, a few hundred bytes.
                guard frame.count <= Limits.handshakeFrameBytes else {
                    throw MeshError("a \(frame.count)-byte frame before the session is up (at most \(Limits.handshakeFrameBytes))")
                }
                try advanceHandshake(link, Array(frame), on: connection)
                return
            }
            // The inner message's range within the frame (decrypted in place, in its arena block).
            let range = try link.channel.withLock { (channel) throws(MeshError) -> Range<Int> in
                do throws(SessionError) {
                    let inner = try channel!.openInPlace(frame)
                    let start = inner.baseAddress! - frame.baseAddress!
                    return start..<(start + inner.count)
                } catch { throw MeshError(error.message) }
            }
            let inner = UnsafeMutableRawBufferPointer(rebasing: frame[range])
            let header: WireHeader
            do throws(WireError) { header = try WireHeader.parse(UnsafeRawBufferPointer(inner)) } catch {
                throw MeshError("malformed message: \(error.message)")
            }
            let payload = UnsafeRawBufferPointer(rebasing: inner[WireHeader.size...])
            if header.type == .chunkData {
                // The hot path: check the key in place and copy only the chunk's bytes out of the arena block.
                guard let length = payload.first.map(Int.init), (1...64).contains(length), payload.count > length else {
                    throw MeshError("malformed chunk message")
                }
                let data = Array(payload[(1 + length)...])
                let answer = WireMessage(.chunkData, requestID: header.requestID, payload: data)
                let waiter = state.withLock { state -> Waiter? in
                    guard let entry = state.pending[header.requestID],
                        entry.key.elementsEqual(payload[1...length])
                    else { return nil }
                    state.pending[header.requestID] = nil
                    return entry.waiter
                }
                waiter?.finish(.success(answer))  // a late or mismatched answer is dropped
                return
            }
            if header.type == .pong, keepaliveAnswered(header.requestID, on: connection, now: now) { return }
            try dispatch(WireMessage(header.type, requestID: header.requestID, payload: Array(payload)), on: connection)
        } catch {
            let address = state.withLock { $0.peers[connection]?.address } ?? "?"
            logger.warning("closing connection \(connection) with \(address): \(error.message)")
            transport.close(connection)
        }
    }

    private func advanceHandshake(_ link: Link, _ bytes: [UInt8], on connection: UInt64) throws(MeshError) {
        let step = try link.handshake.withLock { (handshake) throws(MeshError) -> Handshake.Step in
            guard handshake != nil else { throw MeshError("handshake already finished") }
            do throws(SessionError) { return try handshake!.receive(bytes) } catch { throw MeshError(error.message) }
        }
        switch step {
        case .send(let reply):
            sendPlain(reply, on: connection)
        case .established(let channel, let reply):
            if let reply { sendPlain(reply, on: connection) }
            link.channel.withLock { $0 = channel }
            link.handshake.withLock { $0 = nil }
            let (peer, bootstrap, pinned) = state.withLock { state -> (Peer?, Bool, NodeID?) in
                state.peers[connection]?.node = channel.peer
                return (state.peers[connection], state.bootstrap.values.contains(connection), state.pinned[connection])
            }
            // A pin that came after RESPONSE (a dial that returned late) is checked here.
            if let pinned, pinned != channel.peer { return refusePinned(connection, expected: pinned, peer: channel.peer) }
            logger.info("secure session with node \(channel.peer) on connection \(connection) (\(channel.suite))")
            if let membership, let peer {
                membership.sessionUp(
                    channel.peer, connection: connection, dialedAddress: peer.inbound ? nil : peer.address, bootstrap: bootstrap,
                    now: DispatchTime.now().uptimeNanoseconds
                ) { connection, bytes in try? send(WireMessage(.membership, payload: bytes), on: connection) }
            }
        }
    }

    private func dispatch(_ message: WireMessage, on connection: UInt64) throws(MeshError) {
        let id = message.header.requestID
        switch message.header.type {
        case .ping:
            try send(WireMessage(.pong, requestID: id, payload: Array(message.payload.prefix(64))), on: connection)
        case .chunkGet:
            let key: [UInt8]
            do throws(WireError) { key = try WirePayload.splitKey(message.payload).key } catch { throw MeshError(error.message) }
            offload(lanes.bulk, request: id, from: connection) { [self] in
                let prefix = [UInt8(key.count)] + key
                prefix.withUnsafeBytes { head in
                    if let data = chunkSource?(key) {
                        data.withUnsafeBytes { body in try? send(.chunkData, requestID: id, parts: [head, body], on: connection) }
                    } else {
                        try? send(.chunkMissing, requestID: id, parts: [head], on: connection)
                    }
                }
            }
        case .pong, .chunkData, .chunkMissing, .error:
            let waiter = state.withLock { $0.pending.removeValue(forKey: id)?.waiter }
            waiter?.finish(.success(message))  // a late answer to a timed-out request is dropped
        case .close:
            transport.close(connection)
        case .membership:
            guard let membership, let node = state.withLock({ $0.peers[connection]?.node }) else { return }
            let out = try membership.receive(message.payload, from: node, now: DispatchTime.now().uptimeNanoseconds)
            sendMembership(out)
        case .provide:
            guard let node = state.withLock({ $0.peers[connection]?.node }),
                let (key, record, _) = ProviderRecord.decode(message.payload[...])
            else { throw MeshError("malformed provider record") }
            // A node announces only itself: a record naming another member is refused, as is one it did not sign.
            guard record.member == Membership.member(node) else { throw MeshError("provider record for another node") }
            if let problem = record.problem(key: key) { throw MeshError("provider record refused: \(problem)") }
            clock.withLock { $0.witness(record.lamport) }
            providerStore.add(key, record, now: DispatchTime.now().uptimeNanoseconds, verified: true)
        case .findProviders:
            guard message.payload.count == 33 else { throw MeshError("malformed provider request") }
            let recursive = message.payload[0] == 1, key = Array(message.payload[1...])
            let requester = state.withLock { $0.peers[connection]?.node }.map(Membership.member)
            var local: [MemberID: ProviderRecord] = [:]
            for record in providerStore.providers(of: key, now: DispatchTime.now().uptimeNanoseconds) { local[record.member] = record }
            var routes: [UInt64] = []
            if recursive, let membership {
                for member in closestMembers(to: key) where member != membership.memberID && member != requester {
                    if let route = membership.route(member, dial: { _ in }) { routes.append(route) }
                }
            }
            // Ask the members closest to the key all at once and answer when the last one has (or its 3 s
            // deadline passed): nothing waits on a thread, so slow members cost the asker time, not the node.
            let gathered = Mutex((found: local, left: routes.count))
            // A member SWIM declared dead is not named: its records outlive it by up to their TTL, and an asker
            // would spend a timeout on each (a census would list it as "no answer" until the records expire).
            let membership = self.membership
            @Sendable func reply(_ found: [MemberID: ProviderRecord]) {
                let payload = found.values.filter { membership?.isDead($0.member) != true }.sorted { $0.member < $1.member }
                    .flatMap { ProviderRecord.encode(key: key, $0) }
                try? send(WireMessage(.providers, requestID: id, payload: payload), on: connection)
            }
            if routes.isEmpty { reply(local) }
            for route in routes {
                request(.findProviders, payload: [0] + key, on: route, timeout: 3) { outcome in
                    let done = gathered.withLock { state -> [MemberID: ProviderRecord]? in
                        if case .success(let answer) = outcome, answer.header.type == .providers {
                            for record in Self.decodeProviders(answer.payload[...], key: key)
                            where record.lamport >= state.found[record.member]?.lamport ?? 0 { state.found[record.member] = record }
                        }
                        state.left -= 1
                        return state.left == 0 ? state.found : nil
                    }
                    if let done { reply(done) }
                }
            }
        case .findNode:
            guard message.payload.count == 32, let membership else { throw MeshError("malformed node request") }
            var reply: [UInt8] = []
            for member in closestMembers(to: message.payload) {
                guard let address = member == membership.memberID ? membership.advertisedAddress : membership.address(of: member),
                    !address.isEmpty
                else { continue }
                withUnsafeBytes(of: member.littleEndian) { reply += $0 }
                let bytes = Array(address.utf8.prefix(255))
                reply += [UInt8(bytes.count)] + bytes
            }
            try send(WireMessage(.nodes, requestID: id, payload: reply), on: connection)
        case .providers, .merkleReply, .nodes:
            let waiter = state.withLock { $0.pending.removeValue(forKey: id)?.waiter }
            waiter?.finish(.success(message))
        case .merkle:
            guard message.payload.count == 6 || message.payload.count == 7, let op = message.payload.first, op <= 2 else {
                throw MeshError("malformed anti-entropy question")
            }
            let level = Int(message.payload[1])
            let node = message.payload[2..<6].reversed().reduce(0) { $0 << 8 | Int($1) }
            let reply: [UInt8]
            if let tree = access(message.payload.count == 7 ? message.payload[6] : 0) {
                func bytes(_ hashes: [UInt64]) -> [UInt8] { hashes.flatMap { hash in withUnsafeBytes(of: hash.littleEndian) { Array($0) } } }
                switch op {
                case 0: reply = bytes([tree.root()])
                case 1 where level < tree.depth && node < 1 << (4 * level): reply = bytes(tree.children(level, node))
                case 2 where node < 1 << (4 * tree.depth): reply = tree.leaf(node)
                default: reply = []
                }
            } else {
                reply = []
            }
            try send(WireMessage(.merkleReply, requestID: id, payload: reply), on: connection)
        case .members:
            try send(WireMessage(.membersReply, requestID: id, payload: MemberInfo.encodeList(memberList())), on: connection)
        case .store, .have, .release, .ledger, .jobRun, .challenge:
            guard let handler = handlers.withLock({ $0[message.header.type] }), let node = state.withLock({ $0.peers[connection]?.node }) else {
                if message.header.type != .ledger {
                    try send(WireMessage(.error, requestID: id, payload: Array("this node does not serve \(message.header.type)".utf8)), on: connection)
                }
                return
            }
            let lane: WorkerPool
            switch message.header.type {
            case .store, .challenge: lane = lanes.bulk  // both read or write a piece's bytes
            case .jobRun: lane = lanes.compute
            default: lane = lanes.control
            }
            offload(lane, request: id, from: connection) { [self] in
                guard let (type, reply) = handler(message.payload, node, connection) else { return }
                try? send(WireMessage(type, requestID: id, payload: reply), on: connection)
            }
        case .stored, .haveReply, .membersReply, .jobDone, .proof:
            let waiter = state.withLock { $0.pending.removeValue(forKey: id)?.waiter }
            waiter?.finish(.success(message))
        case .gossip:
            guard let gossip, let node = state.withLock({ $0.peers[connection]?.node }) else { return }
            let (out, offer, root) = try gossip.receive(message.payload, from: Membership.member(node))
            sendGossip(out)
            if let offer { answer(offer) }
            if let root, root.root != metadataRoot() { antiEntropy(with: root.member) }
        case .handshakeInit, .handshakeResponse, .handshakeFinish, .sealed:
            throw MeshError("\(message.header.type) inside a sealed frame")
        }
    }

    // MARK: Keepalive and round-trip times

    /// Matches a PONG to this connection's keepalive ping; updates the round-trip estimate.
    private func keepaliveAnswered(_ id: UInt64, on connection: UInt64, now: UInt64) -> Bool {
        state.withLock { state in
            guard let ping = state.peers[connection]?.keepalive, ping.id == id else { return false }
            let sample = Double(now - ping.sentAt) / 1000
            let previous = state.peers[connection]?.rttMicroseconds
            state.peers[connection]?.rttMicroseconds = previous.map { 0.8 * $0 + 0.2 * sample } ?? sample
            state.peers[connection]?.keepalive = nil
            return true
        }
    }

    /// Sends SWIM's messages over the sessions to their members, dialing members without a session (the
    /// message itself is dropped then: SWIM tolerates loss, and the next one finds the session).
    private func sendMembership(_ out: [SwimNode.Outbound]) {
        guard let membership else { return }
        for message in out {
            let connection = membership.route(message.to) { address in
                dialer.async { [self] in dialMember(at: address, membership: membership) }
            }
            if let connection { try? send(WireMessage(.membership, payload: SwimCodec.encode(message.message)), on: connection) }
        }
    }

    private func sendGossip(_ out: [GossipNode.Outbound]) {
        guard let membership else { return }
        for message in out {
            let connection = membership.route(message.to) { address in
                dialer.async { [self] in dialMember(at: address, membership: membership) }
            }
            if let connection { try? send(WireMessage(.gossip, payload: GossipCodec.encode(message.message)), on: connection) }
        }
    }

    /// Dials a member's advertised address; when that fails, asks the member through the mesh (the signaling
    /// topic) to dial back — it may reach us where we cannot reach it.
    private func dialMember(at address: String, membership: Membership) {
        do throws(TransportCallError) {
            _ = try transport.dial(address)
        } catch {
            membership.dialFailed(address)
            guard let gossip, let target = membership.member(at: address), let mine = membership.advertisedAddress, !mine.isEmpty else { return }
            let due = state.withLock { state -> Bool in
                let now = DispatchTime.now().uptimeNanoseconds
                guard now - (state.offers[target] ?? 0) > 10_000_000_000 || state.offers[target] == nil else { return false }
                state.offers[target] = now
                return true
            }
            guard due else { return }
            logger.info("cannot dial member \(String(target, radix: 16)) at \(address); asking it through the mesh to dial \(mine)")
            sendGossip(gossip.offer(MeshGossip.Offer(target: target, address: mine)))
        }
    }

    /// A member that cannot reach us asked us to dial it.
    private func answer(_ offer: MeshGossip.Offer) {
        // Only to where a member said it can be reached, and only a few per 10 s: an offer must not turn this
        // node into a tool that dials arbitrary addresses for whoever gossips.
        guard let membership else { return }
        guard membership.member(at: offer.address) != nil else {
            // The offer may outrun the membership update that names its address: keep it a while (bounded) and
            // answer it once a member advertises that address (``tick(now:)``); drop it otherwise.
            let kept = state.withLock { state -> Bool in
                guard !state.pendingOffers.contains(where: { $0.offer.address == offer.address }) else { return true }
                guard state.pendingOffers.count < Limits.pendingOffers else { return false }
                state.pendingOffers.append((offer, DispatchTime.now().uptimeNanoseconds))
                return true
            }
            if !kept { logger.warning("relayed connection offer to \(offer.address) dropped: \(Limits.pendingOffers) offers already wait") }
            return
        }
        let due = state.withLock { state -> Bool in
            let now = DispatchTime.now().uptimeNanoseconds
            state.answeredOffers = state.answeredOffers.filter { now - $0.at < 10_000_000_000 }
            guard state.answeredOffers.count < Limits.offersPer10Seconds, !state.answeredOffers.contains(where: { $0.address == offer.address }) else {
                return false
            }
            state.answeredOffers.append((offer.address, now))
            return true
        }
        guard due else {
            logger.debug("relayed connection offer to \(offer.address) dropped: rate limit")
            return
        }
        logger.info("relayed connection offer: dialing \(offer.address)")
        dialer.async { [self] in
            do throws(TransportCallError) { _ = try transport.dial(offer.address) } catch {
                logger.warning("cannot answer a connection offer from \(offer.address): \(error.message)")
            }
        }
    }

    /// Runs `host`'s reactor for this peer layer until `host.requestStop()`, on the calling thread: inbox records
    /// to ``handle(_:now:)``, and ``tick(now:)`` every `tickNanoseconds` (keepalives, handshake and request
    /// deadlines, membership timers). What a client process or a test peer runs; `inos node` adds its own work.
    public func runReactor(_ host: HostRuntime, tickNanoseconds: Int64 = 100_000_000) {
        host.run(
            tickNanoseconds: tickNanoseconds,
            onInbox: { type, payload in
                if let record = TransportRecord(type: type, payload: payload) { handle(record, now: DispatchTime.now().uptimeNanoseconds) }
            },
            onTick: { tick(now: DispatchTime.now().uptimeNanoseconds) })
    }

    /// Called periodically (the reactor's tick): runs membership's timers, publishes this node's status when
    /// due, pings sessions that have been quiet for a keepalive interval and closes those that did not answer
    /// within three.
    public func tick(now: UInt64) {
        expireRequests(now: now)
        if let membership {
            let waiting = state.withLock { state -> [MeshGossip.Offer] in
                let limit = UInt64(Limits.pendingOfferSeconds * 1e9)
                state.pendingOffers.removeAll { now > $0.at && now - $0.at > limit }
                return state.pendingOffers.map(\.offer)
            }
            // Checked outside the state lock (membership has its own).
            let ready = waiting.filter { membership.member(at: $0.address) != nil }
            if !ready.isEmpty {
                state.withLock { state in state.pendingOffers.removeAll { entry in ready.contains { $0.address == entry.offer.address } } }
                for offer in ready { answer(offer) }
            }
        }
        // The epoch: once a second, expire provider records and republish what this node provides when due.
        if now - lastEpoch.load(ordering: .relaxed) >= 1_000_000_000 {
            lastEpoch.store(now, ordering: .relaxed)
            providerStore.expire(now: now)
            let due = provided.withLock { current -> (keys: @Sendable () -> [[UInt8]], ttl: UInt32)? in
                guard let value = current, now - value.last >= value.every || value.last == 0 else { return nil }
                current?.last = now
                return (value.keys, value.ttl)
            }
            if let due { for key in due.keys() where key.count == 32 { announce(key, ttl: due.ttl, now: now) } }
            // Every fifth epoch, publish the root of the synchronized trees; members whose root differs sync
            // with us (and we with them when theirs arrives). Counted in epochs, not read off the clock, so a
            // late tick does not skip a round.
            let epoch = epochs.wrappingAdd(1, ordering: .relaxed).newValue
            let changed = rootChanged.exchange(false, ordering: .relaxed)
            if let gossip, membership != nil, epoch % 5 == 0 || changed {
                sendGossip(gossip.publishRoot(metadataRoot()))
            }
            // Every tenth, also a push-pull of the other trees (the ledger: immutable entries) with one member picked
            // at random, whatever the gossip said (memberlist's push-pull): gossip is fire-and-forget, and a root
            // lost on the way must not leave a difference for good.
            if let membership, epoch % 10 == 5, let member = membership.aliveMembers.randomElement() {
                antiEntropy(with: member, providers: false)
            }
        }
        if let membership {
            sendMembership(membership.tick(now: now))
            if let gossip {
                gossip.setMembers(membership.aliveMembers)
                let due = statusSource.withLock { source -> NodeStatus? in
                    guard let current = source, now - current.last >= current.every else { return nil }
                    source?.last = now
                    return current.provider()
                }
                if let due { sendGossip(gossip.publish(due)) }
            }
        }
        let interval = UInt64(keepaliveSeconds * 1e9)
        let handshakeDeadline = UInt64(Limits.handshakeSeconds * 1e9)
        var ping: [UInt64] = [], dead: [(UInt64, String)] = [], silent: [(UInt64, String)] = []
        state.withLock { state in
            for (connection, peer) in state.peers where peer.node == nil && now > peer.openedAt && now - peer.openedAt > handshakeDeadline {
                silent.append((connection, peer.address))
            }
            for (connection, peer) in state.peers where peer.node != nil {
                if let outstanding = peer.keepalive {
                    if now - outstanding.sentAt > 3 * interval { dead.append((connection, peer.address)) }
                } else if now - max(peer.lastHeard, peer.openedAt) >= interval {
                    let id = nextRequest.wrappingAdd(1, ordering: .relaxed).oldValue
                    state.peers[connection]?.keepalive = KeepalivePing(id: id, sentAt: now)
                    ping.append(connection)
                }
            }
        }
        for connection in ping {
            guard let id = state.withLock({ $0.peers[connection]?.keepalive?.id }) else { continue }
            try? send(WireMessage(.ping, requestID: id), on: connection)
        }
        for (connection, address) in dead {
            logger.warning("closing connection \(connection) with \(address): no answer to keepalive pings for \(3 * keepaliveSeconds) s")
            transport.close(connection)
        }
        for (connection, address) in silent {
            logger.warning("closing connection \(connection) with \(address): no secure session within \(Limits.handshakeSeconds) s")
            transport.close(connection)
        }
    }

    // MARK: Sending

    private func sendPlain(_ bytes: [UInt8], on connection: UInt64) {
        do throws(TransportCallError) { try transport.send(connection, bytes) } catch {
            logger.warning("handshake on connection \(connection) failed to send: \(error.message)")
            transport.close(connection)
        }
    }

    /// Seals and sends a message. Never waits: see ``send(_:requestID:parts:on:)``.
    public func send(_ message: WireMessage, on connection: UInt64) throws(MeshError) {
        var failure: MeshError?
        message.payload.withUnsafeBytes { payload in
            do throws(MeshError) {
                try send(message.header.type, requestID: message.header.requestID, parts: [payload], on: connection)
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Seals and sends a message whose payload is `parts` in order. The parts are copied once, straight into
    /// the frame that is then sealed in place — the hot path of serving chunks.
    ///
    /// Never waits, so the reactor and the workers may call it: when the transport's queue for the connection is
    /// full (the peer reads slower than we write), the sealed frame waits in the connection's own outbound queue
    /// (frames keep their order: later ones queue behind it) and ``flushOutbound(now:)`` offers it again. A queue
    /// over ``outboundLimitBytes``, or one that made no progress for ``stallSeconds``, closes the connection:
    /// a peer that stops reading loses its connection, and nobody else waits for it.
    public func send(_ type: FrameType, requestID: UInt64, parts: [UnsafeRawBufferPointer], on connection: UInt64) throws(MeshError) {
        guard let link = state.withLock({ $0.links[connection] }) else { throw MeshError("connection \(connection) is closed") }
        let innerLength = WireHeader.size + parts.reduce(0) { $0 + $1.count }
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: innerLength + SecureChannel.overhead, alignment: 16)
        WireHeader(type: type, requestID: requestID).write(into: UnsafeMutableRawBufferPointer(rebasing: frame[WireHeader.size...]))
        var offset = 2 * WireHeader.size
        for part in parts where !part.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: frame[offset..<(offset + part.count)]).copyMemory(from: part)
            offset += part.count
        }
        enum Outcome { case sent, queued(startedStall: Bool), noSession, failed(String), overflow }
        let outcome = link.channel.withLock { channel -> Outcome in
            guard channel != nil else { return .noSession }
            _ = channel!.sealInPlace(frame, messageLength: innerLength)
            // Sealed and sent (or queued) under the channel's lock: frames leave in counter order.
            if link.outbound.frames.isEmpty {
                do throws(TransportCallError) {
                    try transport.send(connection, UnsafeRawBufferPointer(frame))
                    return .sent
                } catch where error.status == INOS_ERR_FULL {
                    // fall through to the queue
                } catch {
                    return .failed(error.message)
                }
            }
            guard link.outbound.bytes + frame.count <= Self.outboundLimitBytes else { return .overflow }
            let first = link.outbound.frames.isEmpty
            link.outbound.frames.append(frame)
            link.outbound.bytes += frame.count
            if first { link.outbound.progressAt = DispatchTime.now().uptimeNanoseconds }
            return .queued(startedStall: first)
        }
        switch outcome {
        case .sent:
            frame.deallocate()
        case .queued(let first):
            if first { flusher.signal() }
        case .noSession:
            frame.deallocate()
            throw MeshError("cannot send on connection \(connection): no session")
        case .failed(let why):
            frame.deallocate()
            throw MeshError("cannot send on connection \(connection): \(why)")
        case .overflow:
            frame.deallocate()
            let address = state.withLock { $0.peers[connection]?.address } ?? "?"
            logger.warning("closing connection \(connection) with \(address): more than \(Self.outboundLimitBytes >> 20) MiB waiting to be sent (the peer does not read)")
            transport.close(connection)
            throw MeshError("connection \(connection): the peer does not read; closed")
        }
    }

    /// Bytes of sealed frames one connection may have waiting in its outbound queue (beyond the transport's own).
    public static let outboundLimitBytes = 8 << 20

    /// Offers every waiting outbound frame to the transport again, in order, until the transport is full;
    /// closes connections whose queue is stalled. Returns whether frames still wait.
    @discardableResult
    func flushOutbound(now: UInt64) -> Bool {
        let links = state.withLock { state in state.links.map { ($0.key, $0.value, state.peers[$0.key]?.address ?? "?") } }
        var waiting = false
        for (connection, link, address) in links {
            enum Result { case idle, drained, waiting, stalled, failed(String) }
            let result = link.channel.withLock { _ -> Result in
                guard !link.outbound.frames.isEmpty else { return .idle }
                while let frame = link.outbound.frames.first {
                    do throws(TransportCallError) {
                        try transport.send(connection, UnsafeRawBufferPointer(frame))
                    } catch where error.status == INOS_ERR_FULL {
                        return now - link.outbound.progressAt > UInt64(stallSeconds * 1e9) ? .stalled : .waiting
                    } catch {
                        link.outbound.clear()
                        return .failed(error.message)
                    }
                    link.outbound.frames.removeFirst()
                    link.outbound.bytes -= frame.count
                    link.outbound.progressAt = now
                    frame.deallocate()
                }
                return .drained
            }
            switch result {
            case .idle: break
            case .drained: break
            case .waiting: waiting = true
            case .stalled:
                link.channel.withLock { _ in link.outbound.clear() }
                logger.warning("closing connection \(connection) with \(address): the peer read nothing for \(stallSeconds) s")
                transport.close(connection)
            case .failed(let why):
                logger.warning("closing connection \(connection) with \(address): send failed: \(why)")
                transport.close(connection)
            }
        }
        return waiting
    }

    /// The flusher: sleeps until a connection's outbound queue has frames, then offers them every 2 ms until
    /// every queue is empty (the transport has no "writable again" event to wait for).
    private func flushLoop() {
        while !state.withLock({ $0.stopped }) {
            _ = flusher.wait(timeout: .now() + 1)
            while flushOutbound(now: DispatchTime.now().uptimeNanoseconds), !state.withLock({ $0.stopped }) { usleep(2_000) }
        }
    }

    /// Sends a request and waits for the response with the same request id. For callers on their own threads
    /// (the CLI, repair); code on the reactor or in a worker lane uses the completion form.
    public func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double = 30) throws(MeshError) -> WireMessage {
        try request(type, payload: payload, on: connection, timeout: timeout, key: [])
    }

    /// `key`: for a chunk request, the key a CHUNK_DATA answer must carry (its payload is then the chunk alone).
    func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8]) throws(MeshError) -> WireMessage {
        let waiter = Waiter()
        start(type, payload: payload, on: connection, timeout: timeout, key: key, waiter: waiter)
        // The tick's sweep finishes it at its deadline too; the wait's own bound is a second guard.
        _ = waiter.done.wait(timeout: .now() + timeout + 1)
        waiter.finish(.failure(MeshError("no answer to a \(type) request within \(timeout) s")))
        return try waiter.result.withLock { $0! }.get()
    }

    /// Sends a request without waiting: `completion` gets the answer, or the failure when the connection closes
    /// or `timeout` seconds pass (swept by the tick). It runs on the reactor or the tick's thread: it must not wait.
    public func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double,
                        completion: @escaping @Sendable (Result<WireMessage, MeshError>) -> Void) {
        start(type, payload: payload, on: connection, timeout: timeout, key: [], waiter: Waiter(completion: completion))
    }

    private func start(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8], waiter: Waiter) {
        let id = nextRequest.wrappingAdd(1, ordering: .relaxed).oldValue
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, min(timeout, 86_400)) * 1e9)
        state.withLock { $0.pending[id] = Pending(connection: connection, waiter: waiter, key: key, deadline: deadline, timeout: timeout) }
        do throws(MeshError) {
            try send(WireMessage(type, requestID: id, payload: payload), on: connection)
        } catch {
            state.withLock { _ = $0.pending.removeValue(forKey: id) }
            waiter.finish(.failure(error))
        }
    }

    /// Fails requests whose deadline passed (the tick).
    private func expireRequests(now: UInt64) {
        let expired = state.withLock { state -> [(UInt64, Pending)] in
            let due = state.pending.filter { $0.value.deadline <= now }
            for id in due.keys { state.pending[id] = nil }
            return Array(due)
        }
        for (id, entry) in expired {
            entry.waiter.finish(.failure(MeshError("no answer to request \(id) within \(entry.timeout) s")))
        }
    }

    /// Asks a peer for the stored form of an object; nil when the peer does not have it.
    public func fetchChunk(_ key: [UInt8], from connection: UInt64, timeout: Double = 30) throws(MeshError) -> [UInt8]? {
        let answer = try request(.chunkGet, payload: WirePayload.key(key), on: connection, timeout: timeout, key: key)
        switch answer.header.type {
        case .chunkData:
            return answer.payload  // the key was checked on arrival; the payload is the chunk
        case .chunkMissing: return nil
        default: throw MeshError("unexpected answer \(answer.header.type) to a chunk request")
        }
    }

    // MARK: State

    public var peers: [Peer] { state.withLock { Array($0.peers.values).sorted { $0.connection < $1.connection } } }
    public var listening: [String] { state.withLock { $0.listening } }

    /// Stops redialing. Connections close when the transport plugin is retired.
    public func stop() {
        state.withLock { $0.stopped = true }
        lanes.stop()
        flusher.signal()
    }
}

/// A mesh operation that failed: a closed connection, a refused session, no answer.
public struct MeshError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
