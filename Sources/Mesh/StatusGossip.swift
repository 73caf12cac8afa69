// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization

/// Gossip topics over the sessions, and the one topic every node uses now: `node-status`, where each node
/// publishes its load, capacity, free storage and region for the allocator and the router. Keeps the latest
/// status per member (by Lamport time).
public final class StatusGossip: Sendable {
    private let node: Mutex<GossipNode>
    private let statuses = Mutex<[MemberID: (status: NodeStatus, lamport: UInt64)]>([:])

    init(member: MemberID, seed: UInt64) {
        let gossip = GossipNode(id: member, fanout: 6, seed: seed)
        gossip.subscribe(NodeStatus.topic)
        node = Mutex(gossip)
    }

    /// The latest status heard from each member.
    public var known: [MemberID: NodeStatus] { statuses.withLock { $0.mapValues(\.status) } }

    func setMembers(_ members: [MemberID]) { node.withLock { $0.members = members } }

    func publish(_ status: NodeStatus) -> [GossipNode.Outbound] {
        node.withLock { $0.publish(NodeStatus.topic, status.encoded) }
    }

    func receive(_ payload: [UInt8], from member: MemberID) throws(MeshError) -> [GossipNode.Outbound] {
        guard let message = GossipCodec.decode(payload) else { throw MeshError("malformed gossip message") }
        let (deliver, out) = node.withLock { $0.receive(message, from: member) }
        if let deliver, deliver.topic == NodeStatus.topic, let status = NodeStatus(decoding: deliver.payload) {
            statuses.withLock { statuses in
                if (statuses[deliver.origin]?.lamport ?? 0) < deliver.lamport { statuses[deliver.origin] = (status, deliver.lamport) }
            }
        }
        return out
    }
}
