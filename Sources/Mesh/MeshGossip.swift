// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives
import Synchronization
import Wire

/// Gossip topics over the sessions. `node-status`: each node publishes its load, capacity, free storage and
/// region for the allocator and the router; the latest status per member is kept (by Lamport time).
/// `signaling`: connection offers — a node that cannot dial a member asks it, through the mesh, to dial back.
public final class MeshGossip: Sendable {
    /// A request to dial `address` (the sender's), meant for `target`.
    public struct Offer: Sendable, Equatable {
        public var target: MemberID
        public var address: String

        public static let topic = "signaling"

        var encoded: [UInt8] {
            var out: [UInt8] = []
            withUnsafeBytes(of: target.littleEndian) { out += $0 }
            let bytes = Array(address.utf8.prefix(255))
            return out + [UInt8(bytes.count)] + bytes
        }

        init(target: MemberID, address: String) {
            self.target = target
            self.address = address
        }

        init?(decoding bytes: [UInt8]) {
            var reader = ByteReader(bytes)
            guard let target = reader.read(MemberID.self), let address = reader.prefixed(UInt8.self), reader.atEnd else { return nil }
            self.target = target
            self.address = String(decoding: address, as: UTF8.self)
        }
    }

    private let node: Mutex<GossipNode>
    private let lamport: NodeLamport?
    let member: MemberID
    private let statuses = Mutex<[MemberID: (status: NodeStatus, lamport: UInt64)]>([:])
    private let viewChanges: ChangeCounter?

    /// Publishes signed with `credentials` (this node's) and checks every origin's signature with them. With
    /// `lamport`, stamps with the node's one clock (loaded before each call, stored back after); without, with
    /// a clock of its own.
    /// `viewChanges` counts each member's first status heard (it makes the member placeable).
    init(member: MemberID, credentials: MemberCredentials, seed: UInt64, lamport: NodeLamport? = nil, viewChanges: ChangeCounter? = nil) {
        self.viewChanges = viewChanges
        let gossip = GossipNode(id: member, credentials: credentials, fanout: 6, seed: seed)
        gossip.subscribe(NodeStatus.topic)
        gossip.subscribe(Offer.topic)
        gossip.subscribe(Self.rootTopic)
        node = Mutex(gossip)
        self.member = member
        self.lamport = lamport
    }

    /// A call that may tick or witness the gossip clock: under the node lock, then the node clock's (a leaf).
    private func withClockedNode<R: Sendable>(_ body: @Sendable (inout GossipNode) -> R) -> R {
        node.withLock { node in
            guard let lamport else { return body(&node) }
            return lamport.stamping(&node, clock: \.clock, body)
        }
    }

    /// The latest status heard from each member.
    public var known: [MemberID: NodeStatus] { statuses.withLock { $0.mapValues(\.status) } }

    func setMembers(_ members: [MemberID]) { node.withLock { $0.members = members } }

    func publish(_ status: NodeStatus) -> [GossipNode.Outbound] {
        withClockedNode { $0.publish(NodeStatus.topic, status.encoded) }
    }

    /// Anti-entropy: members tell others the root of their synchronized trees; one whose root differs syncs with
    /// the teller.
    static let rootTopic = "anti-entropy"

    /// This node's root, straight to `members` and forwarded by nobody (``GossipNode/direct(_:_:to:)``).
    func tellRoot(_ root: UInt64, to members: [MemberID]) -> [GossipNode.Outbound] {
        withClockedNode { $0.direct(Self.rootTopic, withUnsafeBytes(of: root.littleEndian) { Array($0) }, to: members) }
    }

    /// This node's status and tree root, straight to `members` (ones that just joined), forwarded by nobody.
    func greet(_ members: Set<MemberID>, status: NodeStatus?, root: UInt64) -> [GossipNode.Outbound] {
        withClockedNode { node in
            (status.map { node.direct(NodeStatus.topic, $0.encoded, to: members) } ?? [])
                + node.direct(Self.rootTopic, withUnsafeBytes(of: root.littleEndian) { Array($0) }, to: members)
        }
    }

    func offer(_ offer: Offer) -> [GossipNode.Outbound] {
        withClockedNode { $0.publish(Offer.topic, offer.encoded) }
    }

    /// Handles a gossip message; returns the forwards, an offer addressed to this node if it was one, and a
    /// member's published tree root if it was one.
    func receive(_ payload: [UInt8], from sender: MemberID) throws(MeshError)
        -> (out: [GossipNode.Outbound], offer: Offer?, root: (member: MemberID, root: UInt64)?)
    {
        guard let message = GossipCodec.decode(payload) else { throw MeshError(.malformed, "malformed gossip message") }
        let (deliver, out) = withClockedNode { $0.receive(message, from: sender) }
        if let deliver, deliver.topic == Offer.topic, let offer = Offer(decoding: deliver.payload), offer.target == member {
            return (out, offer, nil)
        }
        if let deliver, deliver.topic == Self.rootTopic, deliver.payload.count == 8 {
            var reader = ByteReader(deliver.payload)
            if let root = reader.read(UInt64.self) { return (out, nil, (deliver.origin, root)) }
        }
        if let deliver, deliver.topic == NodeStatus.topic, let status = NodeStatus(decoding: deliver.payload) {
            let first = statuses.withLock { statuses -> Bool in
                let first = statuses[deliver.origin] == nil
                if (statuses[deliver.origin]?.lamport ?? 0) < deliver.lamport { statuses[deliver.origin] = (status, deliver.lamport) }
                return first
            }
            if first { viewChanges?.increment() }
        }
        return (out, nil, nil)
    }
}
