// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

@Suite("Gossip topics")
struct GossipTests {
    /// Delivers messages breadth-first between in-process nodes; returns deliveries per node and sends.
    static func spread(_ nodes: [GossipNode], _ first: [GossipNode.Outbound], from origin: MemberID) -> (delivered: [Int], sends: Int) {
        var delivered = [Int](repeating: 0, count: nodes.count)
        var queue = first.map { ($0, origin) }
        var sends = first.count
        while !queue.isEmpty {
            let (outbound, sender) = queue.removeFirst()
            let (deliver, out) = nodes[Int(outbound.to)].receive(outbound.message, from: sender)
            if deliver != nil { delivered[Int(outbound.to)] += 1 }
            sends += out.count
            queue += out.map { ($0, outbound.to) }
        }
        return (delivered, sends)
    }

    @Test("a message reaches every subscriber of 1,000 nodes at most once, for at most N·fanout sends")
    func coverage() {
        let n = 1000
        let nodes = (0..<n).map { GossipNode(simulated: MemberID($0), fanout: 9, seed: UInt64($0) + 1) }
        for node in nodes {
            node.members = (0..<n).map(MemberID.init)
            node.subscribe("news")
        }
        let (delivered, sends) = Self.spread(nodes, nodes[0].publish("news", [1, 2, 3]), from: 0)
        #expect(delivered[0] == 0)  // no echo to the publisher
        #expect(delivered.dropFirst().filter { $0 == 1 }.count >= 995)  // all but a tiny share
        #expect(delivered.allSatisfy { $0 <= 1 })  // duplicates suppressed
        #expect(sends <= n * 9)
    }

    @Test("unsubscribed nodes forward without delivering; hop limits stop forwarding")
    func topicsAndHops() {
        let nodes = (0..<50).map { GossipNode(simulated: MemberID($0), fanout: 4, maxHops: 2, seed: UInt64($0) + 9) }
        for node in nodes { node.members = (0..<50).map(MemberID.init) }
        nodes[3].subscribe("a")
        let first = nodes[0].publish("a", [])
        let (delivered, sends) = Self.spread(nodes, first, from: 0)
        #expect(sends == 4 + 4 * 4)  // the publisher's 4, then each first-hop receiver's 4; second-hop receivers stop
        #expect(delivered.enumerated().allSatisfy { $0.offset == 3 || $0.element == 0 })  // only the subscriber delivers
        #expect(delivered[3] <= 1)
    }

    @Test("a direct message reaches only the members it names, once each, signed; none forwards it, and a copy back is a duplicate")
    func direct() {
        let nodes = (0..<20).map { GossipNode(simulated: MemberID($0), fanout: 6, seed: UInt64($0) + 3) }
        for node in nodes {
            node.members = (0..<20).map(MemberID.init)
            node.subscribe("node-status")
        }
        let first = nodes[0].direct("node-status", [7], to: [3, 5, 5, 0])  // itself and a repeat dropped
        #expect(first.map(\.to) == [3, 5])
        #expect(first.allSatisfy { $0.message.signature != nil })
        let (delivered, sends) = Self.spread(nodes, first, from: 0)
        #expect(sends == 2)
        #expect(delivered.enumerated().allSatisfy { $0.element == ([3, 5].contains($0.offset) ? 1 : 0) })
        #expect(nodes[3].receive(first[0].message, from: 5).deliver == nil)
        #expect(nodes[0].direct("node-status", [7], to: [0]).isEmpty)
    }

    @Test("a status differs materially on region, capacity, a load step of 0.05, or free space moved by 1% of capacity and 64 MiB")
    func materialStatus() {
        let base = NodeStatus(load: 0.2, capacityBytes: 100 << 30, freeBytes: 50 << 30, regionName: "r1")
        func with(_ body: (inout NodeStatus) -> Void) -> NodeStatus {
            var status = base
            body(&status)
            return status
        }
        #expect(!base.differsMaterially(from: base))
        #expect(with { $0.regionName = "r2" }.differsMaterially(from: base))
        #expect(with { $0.capacityBytes += 1 }.differsMaterially(from: base))
        #expect(!with { $0.load = 0.24 }.differsMaterially(from: base))
        #expect(with { $0.load = 0.26 }.differsMaterially(from: base))
        #expect(!with { $0.freeBytes -= 512 << 20 }.differsMaterially(from: base))  // 0.5 GiB of 100: under 1%
        #expect(with { $0.freeBytes -= 2 << 30 }.differsMaterially(from: base))
        #expect(with { $0.freeBytes += 2 << 30 }.differsMaterially(from: base))
        // A small store: 64 MiB is the floor, not 1%.
        let small = NodeStatus(load: 0, capacityBytes: 1 << 30, freeBytes: 1 << 29, regionName: "")
        #expect(!NodeStatus(load: 0, capacityBytes: 1 << 30, freeBytes: (1 << 29) - (60 << 20), regionName: "").differsMaterially(from: small))
        #expect(NodeStatus(load: 0, capacityBytes: 1 << 30, freeBytes: (1 << 29) - (64 << 20), regionName: "").differsMaterially(from: small))
        #expect(NodeStatus(load: 0, capacityBytes: 0, freeBytes: 0, regionName: "").differsMaterially(from: small))
    }

    @Test("node status round-trips through its encoding (25 bytes and the region name); bad loads are refused")
    func status() {
        let status = NodeStatus(load: 0.375, capacityBytes: 1 << 40, freeBytes: 123_456_789, regionName: "eu-west.2_b")
        #expect(status.encoded.count == 25 + 11)
        #expect(NodeStatus(decoding: status.encoded) == status)
        #expect(NodeStatus(decoding: NodeStatus(load: 2, capacityBytes: 1, freeBytes: 1, regionName: "").encoded) == nil)
        #expect(NodeStatus(decoding: [1, 2]) == nil)
    }

    @Test("region names: a stable placement key per name (0 only for none), and a peer's name is range-checked at decode")
    func regionNames() {
        #expect(NodeStatus.regionKey("") == 0)
        #expect(NodeStatus.regionKey("eu") == NodeStatus.regionKey("eu") && NodeStatus.regionKey("eu") != 0)
        #expect(Set(["eu", "us", "ap", "eu-west", "eu-east", "1", "2", "3"].map(NodeStatus.regionKey)).count == 8)
        #expect(NodeStatus(load: 0, capacityBytes: 0, freeBytes: 0, regionName: "us").region == NodeStatus.regionKey("us"))
        for name in ["", "a", "eu-west", "A.b_c-9", String(repeating: "x", count: 32)] { #expect(NodeStatus.isValidRegionName(name), "\(name)") }
        for name in ["eu west", "é", "a/b", "a\u{0}", String(repeating: "x", count: 33), "<script>"] { #expect(!NodeStatus.isValidRegionName(name), "\(name)") }
        let good = NodeStatus(load: 0.5, capacityBytes: 1, freeBytes: 1, regionName: "ap").encoded
        // The name's length claims more than 32 bytes, more than is there, or the bytes are not a name.
        var long = Array(good.prefix(24)) + [33] + Array(repeating: 0x61, count: 33)
        #expect(NodeStatus(decoding: long) == nil)
        long = Array(good.prefix(24)) + [5, 0x61]
        #expect(NodeStatus(decoding: long) == nil)
        #expect(NodeStatus(decoding: Array(good.prefix(24)) + [2, 0x61, 0x20]) == nil)
        #expect(NodeStatus(decoding: Array(good.prefix(24)) + [2, 0xc3, 0xa9]) == nil)
        #expect(NodeStatus(decoding: good + [0]) == nil)
    }

    @Test("gossip messages round-trip through their codec; truncated or oversized ones decode to nil")
    func codec() {
        let signature = MemberSignature(publicKey: Array(repeating: 0xAB, count: 32), signature: Array(repeating: 0xCD, count: 64))
        let message = GossipMessage(
            origin: 0xFFEE_DDCC_BBAA_9988, sequence: 7, topic: NodeStatus.topic, payload: [1, 2, 3], lamport: 42, hops: 3, signature: signature)
        let bytes = GossipCodec.encode(message)
        #expect(GossipCodec.decode(bytes) == message)
        var unsigned = message
        unsigned.signature = nil
        #expect(GossipCodec.decode(GossipCodec.encode(unsigned)) == unsigned)
        for cut in 0..<bytes.count { #expect(GossipCodec.decode(Array(bytes.prefix(cut))) == nil) }
        var huge = bytes
        huge.replaceSubrange((bytes.count - 7)..<(bytes.count - 3), with: [0xFF, 0xFF, 0xFF, 0x7F])  // a 2 GiB payload length
        #expect(GossipCodec.decode(huge) == nil)
        #expect(GossipCodec.decode(bytes + [0]) == nil)
    }
}

@Suite("Gossip at its bounds")
struct GossipBoundsTests {
    static let lamportLimit: UInt64 = 1 << 62

    /// A message signed by its origin (with the simulator's credentials).
    static func message(sequence: UInt32 = 1, lamport: UInt64 = 1, hops: UInt8 = 0, origin: MemberID = 5) -> GossipMessage {
        var message = GossipMessage(origin: origin, sequence: sequence, topic: "t", payload: [1, 2], lamport: lamport, hops: hops)
        message.signature = MemberCredentials.simulated(member: origin).sign(message.signedBytes)
        return message
    }

    @Test("codec: Lamport 0, 1, 2^62 − 1, 2^62 round-trip; 2^62 + 1, max − 1 and max are malformed")
    func lamport() {
        for value in [UInt64(0), 1, Self.lamportLimit - 1, Self.lamportLimit] {
            #expect(GossipCodec.decode(GossipCodec.encode(Self.message(lamport: value))) == Self.message(lamport: value))
        }
        for value in [Self.lamportLimit + 1, UInt64.max - 1, UInt64.max] {
            #expect(GossipCodec.decode(GossipCodec.encode(Self.message(lamport: value))) == nil)
        }
    }

    @Test("codec: sequences, hops and origins 0, 1, max − 1 and max round-trip; a payload length past the bytes is malformed")
    func integers() {
        for sequence in [UInt32(0), 1, .max - 1, .max] {
            #expect(GossipCodec.decode(GossipCodec.encode(Self.message(sequence: sequence))) == Self.message(sequence: sequence))
        }
        for hops in [UInt8(0), 1, .max - 1, .max] {
            #expect(GossipCodec.decode(GossipCodec.encode(Self.message(hops: hops))) == Self.message(hops: hops))
        }
        for origin in [MemberID(0), 1, .max - 1, .max] {
            #expect(GossipCodec.decode(GossipCodec.encode(Self.message(origin: origin))) == Self.message(origin: origin))
        }
        var bytes = GossipCodec.encode(Self.message())
        let lengthAt = bytes.count - 2 - 4  // payload length (u32) before the 2-byte payload
        for claimed in [UInt32(3), UInt32(GossipCodec.maximumPayload) + 1, .max - 1, .max] {
            withUnsafeBytes(of: claimed.littleEndian) { for i in 0..<4 { bytes[lengthAt + i] = $0[i] } }
            #expect(GossipCodec.decode(bytes) == nil)
        }
    }

    @Test("a node fed Lamport UInt64.max delivers, saturates its clock at 2^62 (what the wire carries), and forwards; hops at the limit are not forwarded")
    func stateMachine() {
        let node = GossipNode(simulated: 1, fanout: 2, maxHops: 12, seed: 1)
        node.subscribe("t")
        node.members = [1, 2, 3, 4]
        // A time past the ceiling (2^62 unless a node sets it lower) is not witnessed; the message is still handled.
        #expect(node.receive(Self.message(sequence: 1, lamport: .max), from: 2).deliver != nil && node.clock.time < 10 && node.clock.refused == 1)
        let (deliver, out) = node.receive(Self.message(sequence: .max, lamport: Self.lamportLimit), from: 2)
        #expect(deliver?.sequence == .max)
        // Saturated at what the wire carries: what it forwards and publishes still decodes at its peers.
        #expect(node.clock.time == Self.lamportLimit)
        #expect(!out.isEmpty && out.allSatisfy { $0.message.lamport == Self.lamportLimit && $0.message.hops == 1 })
        let published = node.publish("t", [9])
        #expect(!published.isEmpty && published.allSatisfy { $0.message.lamport == Self.lamportLimit })
        #expect((out + published).allSatisfy { GossipCodec.decode(GossipCodec.encode($0.message)) != nil })
        for hops in [UInt8(12), .max - 1, .max] {
            let (delivered, forwards) = node.receive(Self.message(sequence: UInt32(hops), lamport: .max, hops: hops), from: 2)
            #expect(delivered != nil && forwards.isEmpty)
        }
        #expect(node.receive(Self.message(sequence: 11, hops: 11), from: 2).out.allSatisfy { $0.message.hops == 12 })
    }

    @Test("node status: capacities 0, 1, max − 1, max and region names of 0…32 bytes round-trip; loads outside 0…1 are refused")
    func nodeStatus() {
        for (n, value) in [UInt64(0), 1, .max - 1, .max].enumerated() {
            let status = NodeStatus(load: 1, capacityBytes: value, freeBytes: value, regionName: String(repeating: "r", count: [0, 1, 31, 32][n]))
            #expect(NodeStatus(decoding: status.encoded) == status)
        }
        for load in [-0.0000001, 1.0000001, .infinity, .nan] {
            #expect(NodeStatus(decoding: NodeStatus(load: load, capacityBytes: 1, freeBytes: 1, regionName: "r1").encoded) == nil)
        }
        #expect(NodeStatus(decoding: Array(NodeStatus(load: 0, capacityBytes: 1, freeBytes: 1, regionName: "r1").encoded.dropLast())) == nil)
    }
}

/// A member that forges what others publish (docs/security.md, "Signed membership and gossip").
@Suite("Gossip from hostile members")
struct GossipForgeryTests {
    static func status(_ load: Double) -> [UInt8] { NodeStatus(load: load, capacityBytes: 1 << 40, freeBytes: 1 << 39, regionName: "r3").encoded }

    @Test("a node status forged for another origin is neither delivered nor forwarded, and does not shadow the genuine one")
    func forgedStatus() {
        let node = GossipNode(simulated: 1, fanout: 3, seed: 1)
        node.subscribe(NodeStatus.topic)
        node.members = [1, 2, 3, 4, 5, 6]
        let attacker = MemberCredentials.simulated(member: 6)
        var genuine = GossipMessage(origin: 5, sequence: 1, topic: NodeStatus.topic, payload: Self.status(0.5), lamport: 1, hops: 0)
        genuine.signature = MemberCredentials.simulated(member: 5).sign(genuine.signedBytes)

        var unsigned = genuine
        unsigned.signature = nil
        var signedByAttacker = genuine  // member 6 signs a status that claims to come from 5
        signedByAttacker.signature = attacker.sign(signedByAttacker.signedBytes)
        var altered = genuine  // 5's real signature, someone else's numbers
        altered.payload = Self.status(0.0)
        var keySwapped = genuine  // 6's signature presented under 5's key
        keySwapped.signature = MemberSignature(publicKey: genuine.signature!.publicKey, signature: signedByAttacker.signature!.signature)
        for forged in [unsigned, signedByAttacker, altered, keySwapped] {
            let (deliver, out) = node.receive(forged, from: 6)
            #expect(deliver == nil)
            #expect(out.isEmpty)
        }
        #expect(node.forgeries == 4)
        // The genuine message with the same origin and sequence is still new to the node.
        let (deliver, out) = node.receive(genuine, from: 2)
        #expect(deliver?.payload == Self.status(0.5))
        #expect(!out.isEmpty && out.allSatisfy { $0.message.signature == genuine.signature && $0.message.hops == 1 })
    }

    @Test("a forged root sent to each of 50 nodes stops at each: none delivers or forwards it, while a genuine one reaches nearly all")
    func forgeryDoesNotSpread() {
        let nodes = (0..<50).map { GossipNode(simulated: MemberID($0), fanout: 6, seed: UInt64($0) + 3) }
        for node in nodes {
            node.members = (0..<50).map(MemberID.init)
            node.subscribe("anti-entropy")
        }
        var forged = GossipMessage(origin: 9, sequence: 1, topic: "anti-entropy", payload: [0, 0, 0, 0, 0, 0, 0, 0], lamport: 1, hops: 0)
        forged.signature = MemberCredentials.simulated(member: 7).sign(forged.signedBytes)
        for relay in nodes where relay.id != 7 && relay.id != 9 {
            let (deliver, out) = relay.receive(forged, from: 7)
            #expect(deliver == nil && out.isEmpty)
        }
        let (genuine, _) = GossipTests.spread(nodes, nodes[9].publish("anti-entropy", [1, 0, 0, 0, 0, 0, 0, 0]), from: 9)
        #expect(genuine.filter { $0 == 1 }.count >= 45)
    }
}
