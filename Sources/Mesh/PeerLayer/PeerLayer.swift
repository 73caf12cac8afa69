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

/// The part of a node every protocol service sits on: connections (dial, redial, admission, keepalive), the
/// secure session on each (handshake, open and seal in place, the outbound queue), the request router and the
/// frame registry that hands each message to the service that registered its type.
///
/// Every frame is read and freed on the reactor thread: sealed frames are decrypted in their arena block. A
/// peer that sends anything malformed, fails the handshake or sends a frame that does not open is
/// disconnected with a logged reason; nothing else on the node is affected. A request of a type no service
/// registered is answered ERROR `unknownType`, and the session stays.
public final class PeerLayer: Sendable {
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

    struct State {
        var peers: [UInt64: Peer] = [:]
        var links: [UInt64: Link] = [:]
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
        /// Callers waiting for a connection's session: finished when it comes up, the connection closes, or the
        /// deadline passes (the tick's sweep).
        var sessionWaiters: [UInt64: [SessionWaiter]] = [:]
    }

    struct SessionWaiter {
        var deadline: UInt64
        var timeout: Double
        var finish: @Sendable (Result<NodeID, MeshError>) -> Void
    }

    public let transport: TransportHandle
    public let identity: NodeIdentity
    /// The mesh keys and allowlist every handshake of this node admits peers by (``Admission/open``: any node).
    public let admission: Admission
    public let clock: any MeshClock
    /// The node's one Lamport clock: SWIM, gossip and provider records stamp with it (so does the ledger, above).
    public let lamport: NodeLamport
    public let registry = FrameRegistry()
    /// Frames and bytes in and out, by type and by peer (the operator plane reads it).
    public let traffic = Traffic()
    /// Where the reactor is and since when: the node's watchdog reads it to report a reactor that stalls.
    public let reactorWatch = ReactorWatch()
    /// Watches requests finish and keepalive round trips (the operator plane's metrics).
    public func observe(_ observer: MeshObserver) { router.observer.install(observer) }
    let arena: Arena
    let logger: Logger
    let router: RequestRouter
    let state: Mutex<State>
    /// Wakes the flusher when a connection's outbound queue gets its first frame.
    let flusher = DispatchSemaphore(value: 0)
    /// Lane pools and the dialer: threads of the node's own, or (queued) run by whoever steps the node.
    package let lanes: Lanes
    var dialer: Dialer { lanes.dialer }
    /// Seconds of silence after which a session is pinged; three intervals without an answer close it.
    public let keepaliveSeconds: Double
    /// A connection whose outbound queue has not moved for this long is closed (its peer stopped reading).
    public let stallSeconds: Double
    /// SWIM membership over the sessions, once ``enableMembership(advertise:now:configuration:)`` was called.
    let membershipBox = Mutex<Membership?>(nil)
    let gossipBox = Mutex<MeshGossip?>(nil)
    public var membership: Membership? { membershipBox.withLock { $0 } }
    /// The gossip topics (node status, anti-entropy roots, connection offers), with membership.
    public var gossip: MeshGossip? { gossipBox.withLock { $0 } }
    /// Counts changes of what placement sees: membership's alive members and their addresses, and each member's
    /// first status. Repair waits on it (``PeerManager/viewChanges``).
    let viewChanges = ChangeCounter()

    init(host: HostRuntime, transport: TransportHandle, identity: NodeIdentity, logger: Logger, seed: UInt64, clock: any MeshClock, lamport: NodeLamport,
         keepaliveSeconds: Double, stallSeconds: Double, admission: Admission, lanes: WorkerPool.Execution = .threads) {
        self.admission = admission
        self.keepaliveSeconds = keepaliveSeconds
        self.stallSeconds = max(0.1, stallSeconds)
        self.transport = transport
        self.identity = identity
        self.arena = host.arena
        self.logger = logger
        self.clock = clock
        router = RequestRouter(clock: clock)
        self.lamport = lamport
        self.lanes = Lanes(execution: lanes, clock: clock)
        state = Mutex(State(backoff: Backoff(seed: seed)))
        registry.register(linkFrames())
        // Queued lanes: no flusher thread either; whoever steps the node calls flushQueued().
        if lanes == .threads { startThread(name: "inos.mesh.flush") { [self] in flushLoop() } }
    }

    /// Offers the outbound queues to the transport again now (what the flusher thread does every 2 ms while
    /// frames wait); for a node whose lanes are queued. Returns whether frames still wait.
    @discardableResult
    package func flushQueued() -> Bool { flushOutbound(now: clock.now()) }

    /// Runs SWIM membership over the sessions, advertising `address` as where this node can be dialed.
    func enableMembership(advertise address: String, now: UInt64, configuration: SwimConfiguration) {
        let membership = Membership(identity: identity, advertise: address, logger: logger, now: now, configuration: configuration,
                                    lamport: lamport, viewChanges: viewChanges,
                                    incarnation: SwimNode.startingIncarnation(wallSeconds: clock.wallSeconds()))
        membershipBox.withLock { $0 = membership }
        gossipBox.withLock {
            $0 = MeshGossip(member: membership.memberID, credentials: membership.credentials, seed: membership.memberID, lamport: lamport,
                            viewChanges: viewChanges)
        }
    }

    /// The node on `connection`, once its session is up.
    func node(on connection: UInt64) -> NodeID? { state.withLock { $0.peers[connection]?.node } }

    // MARK: Requests

    /// Sends a request and waits for the answer with its id. For callers on their own threads (the CLI, repair);
    /// code on the reactor or in a worker lane uses the completion form.
    func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8] = []) throws(MeshError) -> WireMessage {
        let waiter = RequestRouter.Waiter()
        start(type, payload: payload, on: connection, timeout: timeout, key: key, waiter: waiter)
        // The tick's sweep finishes it at its deadline too; the wait's own bound is a second guard. (Queued lanes
        // step the harness while they wait: see ``Lanes/whileBlocked(_:)``.)
        if !lanes.wait(waiter.done, seconds: timeout + 1) { waiter.finish(.failure(MeshError(.timeout, "no answer to a \(type) request within \(timeout) s"))) }
        return try waiter.result.withLock { $0! }.get()
    }

    /// Sends a request without waiting: `completion` gets the answer, or the failure when the connection closes
    /// or `timeout` seconds pass (swept by the tick). It runs on the reactor or the tick's thread: it must not wait.
    func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double,
                 completion: @escaping @Sendable (Result<WireMessage, MeshError>) -> Void) {
        start(type, payload: payload, on: connection, timeout: timeout, key: [], waiter: RequestRouter.Waiter(completion: completion))
    }

    /// Sends a request and suspends until its answer, its deadline (the tick's sweep) or its connection's close
    /// — resumed by the reactor, no thread waits. Cancelling the task fails the request at once.
    func request(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8] = []) async throws(MeshError) -> WireMessage {
        try await suspended(type) { resume in
            start(type, payload: payload, on: connection, timeout: timeout, key: key, waiter: RequestRouter.Waiter(completion: resume))
        }
    }

    /// ``request(_:payload:on:timeout:key:)`` whose answer is read where it arrived: the arena block is handed
    /// over, not copied (for chunks: the reader verifies and stores from it).
    func requestInPlace(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8] = []) async throws(MeshError)
        -> InPlaceAnswer
    {
        try await suspended(type) { resume in
            start(type, payload: payload, on: connection, timeout: timeout, key: key, waiter: RequestRouter.Waiter(inPlace: resume))
        }
    }

    /// Suspends on a request `begin` starts (returning its id) until its waiter resumes the task; cancelling the
    /// task fails the request at once.
    private func suspended<Answer: Sendable>(
        _ type: FrameType, _ begin: (@escaping @Sendable (Result<Answer, MeshError>) -> Void) -> UInt64
    ) async throws(MeshError) -> Answer {
        let opened = Mutex<UInt64?>(nil)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Answer, MeshError>, Never>) in
                let id = begin { continuation.resume(returning: $0) }
                opened.withLock { $0 = id }
                // Cancelled before the id was known (also: already cancelled when the request began): the
                // handler below found nothing to fail. Without this the request waited for the tick's sweep —
                // forever once the reactor had stopped: a node told to stop during a repair round never exited.
                // (`fail` of a finished request does nothing, so failing it twice is harmless.)
                if Task.isCancelled { router.fail(id, MeshError(.cancelled, "\(type) request cancelled")) }
            }
        } onCancel: { [router] in
            if let id = opened.withLock({ $0 }) { router.fail(id, MeshError(.cancelled, "\(type) request cancelled")) }
        }
        return try result.get()
    }

    @discardableResult
    private func start(_ type: FrameType, payload: [UInt8], on connection: UInt64, timeout: Double, key: [UInt8], waiter: RequestRouter.Waiter) -> UInt64 {
        let id = router.open(type, on: connection, key: key, timeout: timeout, now: clock.now(), waiter: waiter)
        do throws(MeshError) { try send(WireMessage(type, requestID: id, payload: payload), on: connection) } catch { router.fail(id, error) }
        return id
    }

    /// Answers `request` with `type` and `payload`.
    public func reply(to request: InboundFrame, _ type: FrameType, _ payload: [UInt8]) throws(MeshError) {
        try send(WireMessage(type, requestID: request.requestID, payload: payload), on: request.connection)
    }

    /// Answers request `id` on `connection` with ERROR.
    func replyError(_ id: UInt64, on connection: UInt64, _ error: ErrorPayload) {
        try? send(WireMessage(.error, requestID: id, payload: error.encoded), on: connection)
    }

    // MARK: State

    public var peers: [Peer] { state.withLock { Array($0.peers.values).sorted { $0.connection < $1.connection } } }
    public var listening: [String] { state.withLock { $0.listening } }
    var stopped: Bool { state.withLock { $0.stopped } }

    /// Stops redialing and the lanes. Connections close when the transport plugin is retired.
    func stop() {
        state.withLock { $0.stopped = true }
        lanes.stop()
        flusher.signal()
    }
}
