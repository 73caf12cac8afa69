// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import Identity
import PluginABI
import PluginKit
import Session
import Synchronization
import Wire

extension PeerLayer {
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

    /// A connection that lived this long resets its address's backoff.
    static let healthySeconds: UInt64 = 10

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

    // MARK: Dialing

    /// Listens on `listen` and starts dialing `bootstrap`. Listening failures are errors; a bootstrap peer
    /// that cannot be reached is retried in the background.
    func start(listen: [String], bootstrap: [String]) throws(TransportCallError) -> [String] {
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
            guard !stopped else { return }
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
    func connect(_ address: String, expecting: NodeID? = nil, timeout: Double = 10) throws(MeshError) -> (UInt64, NodeID) {
        let (connection, expected) = try dialOnce(address, expecting: expecting)
        return try checked(connection, peer: try waitForSession(connection, timeout: timeout), expected: expected, address: address)
    }

    /// ``connect(_:expecting:timeout:)`` that suspends instead of blocking its thread.
    func connect(_ address: String, expecting: NodeID? = nil, timeout: Double = 10) async throws(MeshError) -> (UInt64, NodeID) {
        let (connection, expected) = try dialOnce(address, expecting: expecting)
        return try checked(connection, peer: try await session(on: connection, timeout: timeout), expected: expected, address: address)
    }

    /// Dials `address` (a pinned `#n…` part names the node expected there); the connection and the node expected.
    private func dialOnce(_ address: String, expecting: NodeID?) throws(MeshError) -> (UInt64, NodeID?) {
        guard let target = PinnedAddress(address) else { throw MeshError(.invalidArgument, "\(address): the part after # is not a node ID (n…)") }
        do throws(TransportCallError) { return (try transport.dial(target.address), expecting ?? target.node) } catch {
            throw MeshError(.unreachable, "cannot connect to \(address): \(error.message)", cause: error)
        }
    }

    /// The session's peer, unless it proved to be another node than `expected` (then the connection is closed).
    private func checked(_ connection: UInt64, peer: NodeID, expected: NodeID?, address: String) throws(MeshError) -> (UInt64, NodeID) {
        if let expected, peer != expected {
            transport.close(connection)
            throw MeshError(.notAllowed, "\(address) proved to be node \(peer), not the expected \(expected): refused")
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

    func refusePinned(_ connection: UInt64, expected: NodeID, peer: NodeID) {
        logger.warning("closing connection \(connection): expected node \(expected), but the peer proved to be \(peer)")
        transport.close(connection)
    }

    /// Calls `finish` once: with the peer's node ID when the connection's session is up (at once if it is),
    /// or with a failure when the connection closes or `timeout` seconds pass (swept by the tick).
    func whenSessionUp(_ connection: UInt64, timeout: Double, _ finish: @escaping @Sendable (Result<NodeID, MeshError>) -> Void) {
        let deadline = clock.now() &+ UInt64(max(0, min(timeout, 86_400)) * 1e9)
        let up = state.withLock { state -> NodeID? in
            if let node = state.peers[connection]?.node { return node }
            state.sessionWaiters[connection, default: []].append(SessionWaiter(deadline: deadline, timeout: timeout, finish: finish))
            return nil
        }
        if let up { finish(.success(up)) }
    }

    /// Finishes the callers waiting for `connection`'s session.
    func finishSessionWaiters(_ connection: UInt64, _ outcome: Result<NodeID, MeshError>) {
        let waiters = state.withLock { $0.sessionWaiters.removeValue(forKey: connection) } ?? []
        for waiter in waiters { waiter.finish(outcome) }
    }

    /// Waits until the connection's handshake has completed (woken by it, not polling); the peer's node ID.
    func waitForSession(_ connection: UInt64, timeout: Double = 10) throws(MeshError) -> NodeID {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<NodeID, MeshError>?>(nil)
        whenSessionUp(connection, timeout: timeout) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        // The tick's sweep ends the wait at the deadline; this bound only guards a reactor that stopped ticking.
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            throw MeshError(.timeout, "no secure session on connection \(connection) within \(timeout) s")
        }
        return try outcome.withLock { $0! }.get()
    }

    /// Suspends until the connection's handshake has completed; the peer's node ID.
    func session(on connection: UInt64, timeout: Double = 10) async throws(MeshError) -> NodeID {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<NodeID, MeshError>, Never>) in
            whenSessionUp(connection, timeout: timeout) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    // MARK: Records from the transport

    /// Handles a transport record from the inbox (reactor thread). A frame's block is owned from here (``ArenaBlock``).
    func handle(_ record: TransportRecord, now: UInt64) {
        switch record {
        case .frame(let connection, let offset, let length):
            // From here the block has one owner: dropped (freed) when the frame is handled, or moved on with it.
            let block = ArenaBlock(adopting: offset, length: length, in: arena)
            state.withLock { $0.peers[connection]?.lastHeard = now }
            reactorWatch.enter(.transportRecord)
            receive(block, on: connection, now: now)
        case .opened(let connection, let inbound, let peer):
            reactorWatch.enter(.opened)
            var handshake = Handshake(identity: identity, role: inbound ? .responder : .initiator(expecting: nil), admission: admission)
            let admitted = state.withLock { state -> Result<Link, MeshError> in
                if inbound, let why = admissionRefusal(state, address: peer) { return .failure(MeshError(.notAllowed, why)) }
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
            reactorWatch.enter(.closed)
            let (redial, link) = state.withLock { state -> ((String, Double)?, Link?) in
                let closed = state.peers.removeValue(forKey: connection)
                let link = state.links.removeValue(forKey: connection)
                state.serving[connection] = nil
                state.pinned[connection] = nil
                guard !state.stopped, let address = state.bootstrap.first(where: { $0.value == connection })?.key else { return (nil, link) }
                state.bootstrap[address] = .some(nil)
                if let closed, now - closed.openedAt >= Self.healthySeconds * 1_000_000_000 { state.attempts[address] = 0 }
                let attempt = state.attempts[address, default: 0]
                state.attempts[address] = attempt + 1
                return ((address, state.backoff.delay(attempt: attempt)), link)
            }
            if let link { link.channel.withLock { _ in link.outbound.clear() } }
            router.closed(connection)
            finishSessionWaiters(connection, .failure(MeshError(.closed, "connection \(connection) closed before its session was up")))
            membership?.sessionDown(connection)
            logger.info("connection \(connection) with \(peer) closed (\(PluginStatus(reason)))")
            if let (address, wait) = redial {
                logger.info("redialing bootstrap peer \(address) in \(String(format: "%.1f", wait)) s")
                dial(address, after: wait)
            }
        case .writable:
            flusher.signal()  // a connection that refused frames takes them again: offer what waits
        }
    }

    // MARK: Keepalive and round-trip times

    /// Matches a PONG to this connection's keepalive ping; updates the round-trip estimate.
    func keepaliveAnswered(_ id: UInt64, on connection: UInt64, now: UInt64) -> Bool {
        state.withLock { state in
            guard let ping = state.peers[connection]?.keepalive, ping.id == id else { return false }
            let nanoseconds = now > ping.sentAt ? now - ping.sentAt : 0
            router.observer.current?.roundTrip(Double(nanoseconds) / 1e9)
            let sample = Double(nanoseconds) / 1000
            let previous = state.peers[connection]?.rttMicroseconds
            state.peers[connection]?.rttMicroseconds = previous.map { 0.8 * $0 + 0.2 * sample } ?? sample
            state.peers[connection]?.keepalive = nil
            return true
        }
    }

    /// Pings sessions that have been quiet for a keepalive interval, closes those that did not answer within
    /// three, and closes connections whose handshake did not finish in time (the tick).
    func tickConnections(now: UInt64) {
        let interval = clock.nanoseconds(keepaliveSeconds)
        let handshakeDeadline = clock.nanoseconds(Limits.handshakeSeconds)
        var ping: [UInt64] = [], dead: [(UInt64, String)] = [], silent: [(UInt64, String)] = []
        var late: [(UInt64, SessionWaiter)] = []
        state.withLock { state in
            for (connection, waiters) in state.sessionWaiters {
                let (due, left) = (waiters.filter { $0.deadline <= now }, waiters.filter { $0.deadline > now })
                late += due.map { (connection, $0) }
                state.sessionWaiters[connection] = left.isEmpty ? nil : left
            }
            for (connection, peer) in state.peers where peer.node == nil && now > peer.openedAt && now - peer.openedAt > handshakeDeadline {
                silent.append((connection, peer.address))
            }
            for (connection, peer) in state.peers where peer.node != nil {
                if let outstanding = peer.keepalive {
                    if now - outstanding.sentAt > 3 * interval { dead.append((connection, peer.address)) }
                } else if now - max(peer.lastHeard, peer.openedAt) >= interval {
                    state.peers[connection]?.keepalive = KeepalivePing(id: router.newID(), sentAt: now)
                    ping.append(connection)
                }
            }
        }
        for (connection, waiter) in late {
            waiter.finish(.failure(MeshError(.timeout, "no secure session on connection \(connection) within \(waiter.timeout) s")))
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
}
