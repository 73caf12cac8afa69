// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import Logging
import PluginABI
import Synchronization

/// The node's connections: listens on the manifest's addresses, dials its bootstrap peers and redials them
/// with backoff when they drop, and keeps the table of open connections from the transport's records.
/// Frames are handed to `onFrame`, which owns (and frees) the arena block.
public final class PeerManager: Sendable {
    public struct Peer: Sendable, Equatable {
        public var connection: UInt64
        public var address: String
        public var inbound: Bool
        public var openedAt: UInt64
    }

    private struct State {
        var peers: [UInt64: Peer] = [:]
        /// Bootstrap address → the connection serving it (nil while redialing).
        var bootstrap: [String: UInt64?] = [:]
        var attempts: [String: Int] = [:]
        var stopped = false
        var listening: [String] = []
        var backoff: Backoff
    }

    public let transport: TransportHandle
    let logger: Logger
    private let state: Mutex<State>
    private let dialer = DispatchQueue(label: "inos.mesh.dialer", attributes: .concurrent)
    /// A connection that lived this long resets its address's backoff.
    static let healthySeconds: UInt64 = 10

    public init(transport: TransportHandle, logger: Logger, seed: UInt64 = 1) {
        self.transport = transport
        self.logger = logger
        state = Mutex(State(backoff: Backoff(seed: seed)))
    }

    /// Listens on `listen` and starts dialing `bootstrap`. Listening failures are errors; a bootstrap peer
    /// that cannot be reached is retried in the background.
    public func start(listen: [String], bootstrap: [String]) throws(TransportCallError) -> [String] {
        var bound: [String] = []
        for address in listen {
            try transport.listen(address)
            bound.append((try? transport.localAddress()) ?? address)
        }
        state.withLock { $0.listening = bound }
        for address in bootstrap {
            state.withLock { $0.bootstrap[address] = .some(nil) }
            dial(address, after: 0)
        }
        return bound
    }

    private func dial(_ address: String, after seconds: Double) {
        dialer.asyncAfter(deadline: .now() + seconds) { [self] in
            guard !state.withLock({ $0.stopped }) else { return }
            do throws(TransportCallError) {
                let connection = try transport.dial(address)
                state.withLock { $0.bootstrap[address] = connection }
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

    /// Handles a transport record from the inbox. Frames go to `onFrame`; returns true if the record was a
    /// transport record.
    @discardableResult
    public func handle(_ record: TransportRecord, now: UInt64, onFrame: (UInt64, Int, Int) -> Void) -> Bool {
        switch record {
        case .frame(let connection, let offset, let length):
            onFrame(connection, offset, length)
        case .opened(let connection, let inbound, let peer):
            state.withLock { $0.peers[connection] = Peer(connection: connection, address: peer, inbound: inbound, openedAt: now) }
            logger.info("connection \(connection) \(inbound ? "from" : "to") \(peer) open")
        case .closed(let connection, let reason, _, let peer):
            let redial = state.withLock { state -> (String, Double)? in
                let closed = state.peers.removeValue(forKey: connection)
                guard !state.stopped,
                    let address = state.bootstrap.first(where: { $0.value == connection })?.key
                else { return nil }
                state.bootstrap[address] = .some(nil)
                if let closed, now - closed.openedAt >= Self.healthySeconds * 1_000_000_000 { state.attempts[address] = 0 }
                let attempt = state.attempts[address, default: 0]
                state.attempts[address] = attempt + 1
                return (address, state.backoff.delay(attempt: attempt))
            }
            logger.info("connection \(connection) with \(peer) closed (\(StatusCode(reason)))")
            if let (address, wait) = redial {
                logger.info("redialing bootstrap peer \(address) in \(String(format: "%.1f", wait)) s")
                dial(address, after: wait)
            }
        }
        return true
    }

    public var peers: [Peer] { state.withLock { Array($0.peers.values).sorted { $0.connection < $1.connection } } }
    public var listening: [String] { state.withLock { $0.listening } }

    /// Stops redialing. Connections close when the transport plugin is retired.
    public func stop() { state.withLock { $0.stopped = true } }
}
