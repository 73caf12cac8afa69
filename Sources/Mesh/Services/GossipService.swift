// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization
import Wire

extension FrameType {
    /// A gossip message (MeshCore.GossipCodec), inside a sealed frame.
    public static let gossip = FrameType(rawValue: 0x51)
}

/// The gossip topics over the sessions (GOSSIP): node status (published on a timer), anti-entropy roots (a
/// differing one starts a sync) and relayed connection offers.
final class GossipService: Sendable {
    private let layer: PeerLayer
    private let antiEntropy: AntiEntropyService
    /// What this node publishes on the node-status topic, and how often.
    private let statusSource = Mutex<(provider: @Sendable () -> NodeStatus, every: UInt64, last: UInt64)?>(nil)

    init(layer: PeerLayer, antiEntropy: AntiEntropyService) {
        self.layer = layer
        self.antiEntropy = antiEntropy
    }

    var registrations: [FrameRegistration] {
        [
            FrameRegistration(.gossip, "GOSSIP", owner: "gossip", kind: .oneWay) { [self] frame throws(MeshError) in
                guard let gossip = layer.gossip else { return }
                let (out, offer, root) = try gossip.receive(frame.payload, from: Membership.member(frame.peer))
                layer.sendGossip(out)
                if let offer { layer.answer(offer) }
                if let root, root.root != antiEntropy.metadataRoot() { antiEntropy.synchronize(with: root.member) }
            }
        ]
    }

    /// Publishes `provider()` on the node-status topic every `seconds` (needs membership).
    func publishStatus(every seconds: Double, _ provider: @escaping @Sendable () -> NodeStatus) {
        statusSource.withLock { $0 = (provider, UInt64(seconds * 1e9), 0) }
    }

    /// This node's status now, if it publishes one.
    func ownStatus() -> NodeStatus? { statusSource.withLock { $0?.provider() } }

    /// Keeps the topic's member set current and publishes the status when due (the tick).
    func tick(now: UInt64) {
        guard let gossip = layer.gossip, let membership = layer.membership else { return }
        gossip.setMembers(membership.aliveMembers)
        let due = statusSource.withLock { source -> NodeStatus? in
            guard let current = source, now - current.last >= current.every else { return nil }
            source?.last = now
            return current.provider()
        }
        if let due { layer.sendGossip(gossip.publish(due)) }
    }
}
