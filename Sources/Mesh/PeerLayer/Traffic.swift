// SPDX-License-Identifier: Apache-2.0
import Identity
import Synchronization
import Wire

/// What crossed the node's sessions since start: frames and bytes (as sealed on the wire) in each direction, by
/// frame type and by peer node. Read by the operator plane (`inos stats`, `/metrics`); every frame the peer
/// layer opens or seals is counted once, on the thread that handles it.
///
/// Bounded: 256 frame types (the type is one byte) and at most ``peerLimit`` peer nodes — past it, the peer
/// with the least traffic is folded into ``otherPeers``, so a churn of strangers cannot grow the table.
public final class Traffic: Sendable {
    public struct Counts: Sendable, Equatable {
        public var framesIn: UInt64 = 0
        public var bytesIn: UInt64 = 0
        public var framesOut: UInt64 = 0
        public var bytesOut: UInt64 = 0
        public init() {}

        mutating func add(_ direction: Direction, bytes: Int) {
            switch direction {
            case .in:
                framesIn &+= 1
                bytesIn &+= UInt64(bytes)
            case .out:
                framesOut &+= 1
                bytesOut &+= UInt64(bytes)
            }
        }

        public static func + (a: Counts, b: Counts) -> Counts {
            var sum = a
            sum.framesIn &+= b.framesIn
            sum.bytesIn &+= b.bytesIn
            sum.framesOut &+= b.framesOut
            sum.bytesOut &+= b.bytesOut
            return sum
        }

        var volume: UInt64 { bytesIn &+ bytesOut }
    }

    public enum Direction: Sendable { case `in`, out }

    /// Peers tracked one by one.
    public static let peerLimit = 1024

    private struct State {
        var byType = [Counts](repeating: Counts(), count: 256)
        var byPeer: [NodeID: Counts] = [:]
        /// Peers folded together once the table was full, and frames before a session (handshakes).
        var otherPeers = Counts()
    }

    private let state = Mutex(State())

    public init() {}

    /// Counts one frame of `type` (the inner message's; `.sealed`'s handshake types before the session).
    func record(_ direction: Direction, type: FrameType, bytes: Int, peer: NodeID?) {
        state.withLock { state in
            state.byType[Int(type.rawValue)].add(direction, bytes: bytes)
            guard let peer else { return state.otherPeers.add(direction, bytes: bytes) }
            if state.byPeer[peer] == nil, state.byPeer.count >= Self.peerLimit,
               let quietest = state.byPeer.min(by: { $0.value.volume < $1.value.volume }) {
                state.otherPeers = state.otherPeers + quietest.value
                state.byPeer[quietest.key] = nil
            }
            state.byPeer[peer, default: Counts()].add(direction, bytes: bytes)
        }
    }

    public struct Snapshot: Sendable {
        public var byType: [(type: FrameType, counts: Counts)]
        public var byPeer: [(node: NodeID, counts: Counts)]
        public var otherPeers: Counts
        public init(byType: [(type: FrameType, counts: Counts)], byPeer: [(node: NodeID, counts: Counts)], otherPeers: Counts) {
            self.byType = byType
            self.byPeer = byPeer
            self.otherPeers = otherPeers
        }
        public var total: Counts { byType.reduce(Counts()) { $0 + $1.counts } }
    }

    /// The counts now: the types that carried anything, and every tracked peer.
    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                byType: state.byType.enumerated().compactMap { index, counts in
                    counts == Counts() ? nil : (FrameType(rawValue: UInt8(index)), counts)
                },
                byPeer: state.byPeer.map { ($0.key, $0.value) }.sorted { $0.node < $1.node },
                otherPeers: state.otherPeers)
        }
    }
}
