// SPDX-License-Identifier: Apache-2.0
import InosTransportKit
import PluginABI
import PluginKit
import Synchronization

/// Every in-memory endpoint of this process, by listening name: the "network" of `mem://` addresses.
/// Nodes in one process (tests, the simulator) reach each other through it.
final class MemoryNetwork: Sendable {
    static let shared = MemoryNetwork()
    private let listeners = Mutex<[String: MemoryTransport]>([:])

    func register(_ name: String, _ endpoint: MemoryTransport) throws(TransportError) {
        try listeners.withLock { (listeners) throws(TransportError) in
            guard listeners[name] == nil else {
                throw TransportError(.invalidArgument, "mem://\(name) is already in use")
            }
            listeners[name] = endpoint
        }
    }

    func unregister(_ name: String, _ endpoint: MemoryTransport) {
        listeners.withLock { listeners in
            if listeners[name] === endpoint { listeners[name] = nil }
        }
    }

    func lookup(_ name: String) -> MemoryTransport? { listeners.withLock { $0[name] } }
}

/// An in-process transport: frames are copied from the sender's buffer straight into the receiver's
/// arena (or queued behind what the receiver's host has not taken yet). Same records, ordering and
/// backpressure as TCP, no sockets — for tests and the simulator.
///
/// With `delivery = "inline"` there is no delivery thread: a send (or dial, or close) puts its records into the
/// receiving host's inbox before it returns, so hosts stepped on one thread (a test harness) see a
/// deterministic order. What the receiver's host does not take at once (a full arena or ring, backpressure)
/// waits in order and goes with the next record sent to it.
final class MemoryTransport: TransportEndpoint, Sendable {
    struct Peer {
        var remote: MemoryTransport
        var remoteConnection: UInt64
        var address: String
        var inbound: Bool
    }

    private struct State {
        var name: String?
        var nextConnection: UInt64 = 1
        var connections: [UInt64: Peer] = [:]
        /// Connections refused for a full peer, waiting to be told they may send (WRITABLE).
        var refused: Set<UInt64> = []
        var closed = false
    }

    let inbound: InboundQueue
    /// Bytes this node may leave unread at a peer before its sends there get INOS_ERR_FULL.
    let sendLimit: Int
    private let state = Mutex(State())

    init(link: HostLink, sendLimit: Int, delivery: InboundQueue.Delivery = .thread) {
        inbound = InboundQueue(link: link, delivery: delivery)
        self.sendLimit = sendLimit
        inbound.start()
    }

    var address: String { state.withLock { $0.name.map { "mem://\($0)" } ?? "mem://anonymous" } }

    func listen(_ address: String) throws(TransportError) {
        let parsed = try TransportAddress(address, scheme: "mem", needsPort: false)
        try state.withLock { (state) throws(TransportError) in
            guard state.name == nil else { throw TransportError(.invalidArgument, "already listening on mem://\(state.name!)") }
            try MemoryNetwork.shared.register(parsed.host, self)
            state.name = parsed.host
        }
    }

    private func allocate(_ peer: Peer) -> UInt64? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextConnection
            state.nextConnection += 1
            state.connections[id] = peer
            return id
        }
    }

    func dial(_ address: String) throws(TransportError) -> UInt64 {
        let parsed = try TransportAddress(address, scheme: "mem", needsPort: false)
        guard let remote = MemoryNetwork.shared.lookup(parsed.host) else {
            throw TransportError(.io, "connection refused: nothing listens on \(address)")
        }
        // Reserve our id first, then the remote's; wire the two halves together before announcing them.
        guard let local = allocate(Peer(remote: remote, remoteConnection: 0, address: address, inbound: false)) else {
            throw TransportError(.closed, "this transport is shutting down")
        }
        guard let remoteID = remote.allocate(Peer(remote: self, remoteConnection: local, address: self.address, inbound: true)) else {
            state.withLock { _ = $0.connections.removeValue(forKey: local) }
            throw TransportError(.io, "connection refused: \(address) is shutting down")
        }
        state.withLock { $0.connections[local]?.remoteConnection = remoteID }
        // The acceptor's OPENED first: once ours is out, our host may send at once, and its first frame must
        // not reach the acceptor ahead of the acceptor's own OPENED record.
        remote.inbound.append(.opened(connection: remoteID, inbound: true, peer: self.address))
        inbound.append(.opened(connection: local, inbound: false, peer: address))
        return local
    }

    func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        guard let peer = state.withLock({ $0.connections[connection] }) else { throw TransportError.closed(connection) }
        guard peer.remote.inbound.queuedBytes < sendLimit else {
            // Told once the peer's host has taken enough (WRITABLE), unless an earlier refusal already asked.
            if state.withLock({ $0.refused.insert(connection).inserted }) {
                peer.remote.inbound.whenBelow(sendLimit / 2) { [self] in
                    guard state.withLock({ $0.refused.remove(connection) != nil && $0.connections[connection] != nil }) else { return }
                    inbound.append(.writable(connection: connection))
                }
            }
            throw TransportError(.full, "peer \(peer.address) has \(peer.remote.inbound.queuedBytes) bytes unread")
        }
        peer.remote.inbound.appendFrame(connection: peer.remoteConnection, bytes)
    }

    func close(_ connection: UInt64) {
        guard let peer = state.withLock({ $0.connections.removeValue(forKey: connection) }) else { return }
        inbound.append(.closed(connection: connection, reason: INOS_OK, inbound: peer.inbound, peer: peer.address))
        peer.remote.dropped(peer.remoteConnection, reason: INOS_OK)
    }

    /// The other side closed (or went away).
    func dropped(_ connection: UInt64, reason: Int32) {
        guard let peer = state.withLock({ $0.connections.removeValue(forKey: connection) }) else { return }
        inbound.append(.closed(connection: connection, reason: reason, inbound: peer.inbound, peer: peer.address))
    }

    func localAddress() throws(TransportError) -> String {
        guard state.withLock({ $0.name != nil }) else { throw TransportError(.notFound, "not listening") }
        return address
    }

    func shutdown() {
        let (name, peers) = state.withLock { state -> (String?, [(UInt64, Peer)]) in
            state.closed = true
            defer { state.connections.removeAll() }
            return (state.name, Array(state.connections))
        }
        if let name { MemoryNetwork.shared.unregister(name, self) }
        for (id, peer) in peers {
            inbound.append(.closed(connection: id, reason: INOS_ERR_CLOSED, inbound: peer.inbound, peer: peer.address))
            peer.remote.dropped(peer.remoteConnection, reason: INOS_ERR_CLOSED)
        }
        inbound.stop(drainMilliseconds: 200)
    }
}
