// SPDX-License-Identifier: Apache-2.0
import Identity
import Logging
import MeshCore
import Primitives
import Testing

@testable import Mesh

/// Membership and gossip given a node's clock stamp with it and move it on receipt, so one node's services
/// share one Lamport scale (design node-library §5.5); without one they keep their own, as before.
@Suite("One Lamport clock per node: membership and gossip")
struct NodeLamportWiringTests {
    @Test("gossip published with the node clock carries its time; a received message moves the receiver's node clock past it")
    func gossip() throws {
        let a = NodeIdentity.ephemeral(), c = NodeIdentity.ephemeral()
        let originClock = NodeLamport(1_000), receiverClock = NodeLamport(5)
        let origin = MeshGossip(member: Membership.member(a.id), credentials: MemberCredentials(identity: a), seed: 2, lamport: originClock)
        let receiver = MeshGossip(member: Membership.member(c.id), credentials: MemberCredentials(identity: c), seed: 1, lamport: receiverClock)
        origin.setMembers([Membership.member(c.id)])
        originClock.tick()  // another service of the origin node stamps something first
        // Publishing ticks twice: the message's own time (1002), then the send (1003).
        let message = try #require(origin.publish(NodeStatus(load: 0.5, capacityBytes: 1, freeBytes: 1, regionName: "")).first?.message)
        #expect(message.lamport == 1_003)
        #expect(originClock.time == 1_003)
        _ = try receiver.receive(GossipCodec.encode(message), from: Membership.member(a.id))
        #expect(receiverClock.time == 1_005)  // witnessed (max + 1 = 1004), then its forward ticks

        // Without a node clock, gossip keeps its own, from 0.
        let alone = MeshGossip(member: Membership.member(a.id), credentials: MemberCredentials(identity: a), seed: 3)
        alone.setMembers([Membership.member(c.id)])
        #expect(try #require(alone.publish(NodeStatus(load: 0, capacityBytes: 1, freeBytes: 1, regionName: "")).first?.message).lamport == 2)
        #expect(originClock.time == 1_003)
    }

    @Test("a SWIM join sent with the node clock carries its next time")
    func membership() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let clock = NodeLamport(7_000)
        let membership = Membership(identity: a, advertise: "tcp://a", logger: Logger(label: "test"), now: 0, lamport: clock)
        var sent: [[UInt8]] = []
        membership.sessionUp(b.id, connection: 1, dialedAddress: "tcp://b", bootstrap: true, now: 0) { _, bytes in sent.append(bytes) }
        let join = try #require(sent.first.flatMap(SwimCodec.decode))
        #expect(join.lamport > 7_000)
        #expect(clock.time == join.lamport)
    }
}
