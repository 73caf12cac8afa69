// SPDX-License-Identifier: Apache-2.0
import Mesh
import MeshCore

/// GOSSIP bodies fed into a ``GossipNode`` subscribed to the node's topics, and what it delivers into those
/// topics' decoders (node status, connection offers, anti-entropy roots). Structure-aware: a flag re-signs the
/// message with its origin's simulated credentials, or the node would only ever count forgeries.
///
/// Records: op (u8) ‖ fields. op % 3 = 0: sender (u8) ‖ GOSSIP body (bit 7: re-sign); 1: publish (topic
/// length u8 ‖ topic ‖ payload); 2: members (count u8 ‖ member u8 each). After every step: a delivered message
/// is the one received, forwards go to at most `fanout` members other than the sender and origin, with one hop
/// more, and survive the codec; forgeries only count up; the seen set is bounded.
enum GossipTarget {
    static let fanout = 3, maxHops: UInt8 = 5

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let node = GossipNode(simulated: 1, fanout: fanout, maxHops: maxHops, seenCapacity: 16, seed: 9)
        for topic in [NodeStatus.topic, "signaling", "anti-entropy"] { node.subscribe(topic) }
        node.members = [1, 2, 3, 4, 5, 6]
        var forgeries = 0, steps = 0
        while let record = input.record(), steps < 256 {
            steps += 1
            var step = FuzzInput(record)
            let op = step.byte()
            switch op % 3 {
            case 0:
                let sender = MemberID(step.byte())
                guard var message = GossipCodec.decode(step.rest()) else { continue }
                if op & 0x80 != 0 { message.signature = MemberCredentials.simulated(member: message.origin).sign(message.signedBytes) }
                let (deliver, out) = node.receive(message, from: sender)
                if let deliver {
                    require(deliver == message, "GossipNode delivered something other than what it received")
                    require(node.subscriptions.contains(deliver.topic), "GossipNode delivered an unsubscribed topic")
                    topicBody(deliver.topic, deliver.payload)
                }
                check(out, of: message, except: sender)
            case 1:
                let topic = String(decoding: step.take(Int(step.byte())), as: UTF8.self)
                let out = node.publish(topic, step.rest())
                require(out.count <= fanout, "a publish went to more than fanout members")
                for outbound in out { require(outbound.message.origin == node.id && outbound.message.hops == 1, "a publish is not this node's first hop") }
            default:
                node.members = (0..<Int(step.byte() % 16)).map { _ in MemberID(step.byte()) }
            }
            require(node.forgeries >= forgeries, "the forgery count went down")
            forgeries = node.forgeries
        }
    }

    static func check(_ out: [GossipNode.Outbound], of message: GossipMessage, except sender: MemberID) {
        require(out.count <= fanout, "GossipNode forwarded to \(out.count) members, above its fanout")
        require(out.isEmpty || message.hops < maxHops, "GossipNode forwarded a message that used up its hops")
        for outbound in out {
            require(outbound.to != sender && outbound.to != message.origin && outbound.to != 1, "GossipNode forwarded back to the sender, origin or itself")
            require(outbound.message.hops == message.hops + 1, "a forward does not count its hop")
            require(GossipCodec.decode(GossipCodec.encode(outbound.message)) != nil, "a forward does not survive the codec")
        }
    }

    /// The decoders of the topics a node subscribes to (Mesh's MeshGossip).
    static func topicBody(_ topic: String, _ payload: [UInt8]) {
        switch topic {
        case NodeStatus.topic:
            if let status = NodeStatus(decoding: payload) {
                require(NodeStatus(decoding: status.encoded) == status, "node status does not round-trip")
                require((0...1).contains(status.load), "node status load outside 0…1")
            }
        case "signaling":
            if let (target, address) = MeshFrameCodecs.decodeOffer(payload) {
                require(MeshFrameCodecs.decodeOffer(MeshFrameCodecs.encodeOffer(target: target, address: address))?.target == target, "an offer does not round-trip")
            }
        default: break
        }
    }
}
