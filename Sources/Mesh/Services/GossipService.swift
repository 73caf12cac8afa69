// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization
import Wire

extension FrameType {
    /// A gossip message (MeshCore.GossipCodec), inside a sealed frame.
    public static let gossip = FrameType(rawValue: 0x51)
}

/// The gossip topics over the sessions (GOSSIP): node status (published when it changes, refreshed on a slow
/// timer), anti-entropy roots (a differing one starts a sync) and relayed connection offers.
final class GossipService: Sendable {
    private let layer: PeerLayer
    private let antiEntropy: AntiEntropyService
    /// What this node publishes on the node-status topic, how often it looks and refreshes, and what it last published.
    private let statusSource = Mutex<StatusSource?>(nil)
    /// Alive members this node has greeted (its status and root, sent straight once their session was up).
    private let greeted = Mutex<Set<MemberID>>([])

    private struct StatusSource {
        var provider: @Sendable () -> NodeStatus
        var check: UInt64
        var refresh: UInt64
        var checked: UInt64 = 0
        var published: NodeStatus?
        var publishedAt: UInt64 = 0
    }

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

    /// Publishes `provider()` on the node-status topic (needs membership): checked every `check` seconds and
    /// published when it differs materially from what was last published (``NodeStatus/differsMaterially(from:)``),
    /// and at least every `refresh` seconds. Each publication costs the mesh N × fanout frames, so an idle node
    /// publishes once per refresh; members that join get the status at once, straight (``tick(now:)``).
    func publishStatus(check: Double, refresh: Double, _ provider: @escaping @Sendable () -> NodeStatus) {
        statusSource.withLock {
            $0 = StatusSource(provider: provider, check: layer.clock.nanoseconds(check), refresh: layer.clock.nanoseconds(max(check, refresh)))
        }
    }

    /// This node's status now, if it publishes one.
    func ownStatus() -> NodeStatus? { statusSource.withLock { $0?.provider() } }

    /// The region this node's last published status named ("" for none, or before the first).
    func publishedRegion() -> String { statusSource.withLock { $0?.published?.regionName ?? "" } }

    /// Keeps the topic's member set current, greets members that joined since the last tick (this node's status
    /// and root, straight to them), and publishes the status when it changed or its refresh is due (the tick).
    func tick(now: UInt64) {
        guard let gossip = layer.gossip, let membership = layer.membership else { return }
        let alive = membership.aliveMembers
        gossip.setMembers(alive)
        // Greeted once a session carries the greeting (a member learned by gossip may not have one yet: it is
        // greeted at the first tick after its session is up); forgotten when it leaves the alive members.
        let joined = greeted.withLock { greeted -> Set<MemberID> in
            let current = Set(alive)
            greeted.formIntersection(current)
            let ready = current.subtracting(greeted).filter { membership.connection(to: $0) != nil }
            greeted.formUnion(ready)
            return ready
        }
        let due = statusSource.withLock { source -> NodeStatus? in
            guard var current = source, now &- current.checked >= current.check || current.published == nil else { return nil }
            current.checked = now
            let status = current.provider()
            defer { source = current }
            if let last = current.published, now &- current.publishedAt < current.refresh, !status.differsMaterially(from: last) { return nil }
            current.published = status
            current.publishedAt = now
            return status
        }
        if let due { layer.sendGossip(gossip.publish(due)) }
        if !joined.isEmpty { layer.sendGossip(gossip.greet(joined, status: due ?? ownStatus(), root: antiEntropy.metadataRoot())) }
    }
}
