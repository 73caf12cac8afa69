// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

@Suite("SWIM membership")
struct SwimTests {
    static let second: UInt64 = 1_000_000_000

    static func simulator(nodes: Int, seed: UInt64, loss: Double = 0) -> SwimSimulator {
        var configuration = SwimSimulator.Configuration()
        configuration.nodes = nodes
        configuration.seed = seed
        configuration.loss = loss
        return SwimSimulator(configuration)
    }

    @Test("Lamport time: a receive moves past the sender's time, so causally later events carry larger stamps")
    func lamport() {
        var a = LamportClock(), b = LamportClock()
        let sent = a.tick()
        let received = b.witness(sent)
        #expect(received > sent)
        b.tick()
        let reply = b.tick()
        #expect(a.witness(reply) > reply)
        var c = LamportClock(100)
        #expect(c.witness(5) == 101)  // a late old stamp does not move time backwards
        #expect(LamportStamp(time: 3, node: 1) < LamportStamp(time: 3, node: 2))
    }

    @Test("update precedence: suspect beats alive of the same incarnation, alive needs a newer one, dead beats both")
    func precedence() {
        func update(_ status: MemberStatus, _ incarnation: UInt32) -> MemberUpdate {
            MemberUpdate(member: 1, status: status, incarnation: incarnation, lamport: 0)
        }
        #expect(update(.suspect, 3).overrides(.alive, 3))
        #expect(!update(.alive, 3).overrides(.suspect, 3))
        #expect(update(.alive, 4).overrides(.suspect, 3))
        #expect(update(.dead, 3).overrides(.suspect, 3))
        #expect(!update(.suspect, 2).overrides(.alive, 3))
        #expect(!update(.dead, 2).overrides(.alive, 3))
    }

    @Test("a crashed node is suspected, then declared dead by every live node; no live node is declared dead")
    func crashDetection() {
        let sim = Self.simulator(nodes: 64, seed: 11)
        sim.run(until: 5 * Self.second)
        sim.crash(7)
        sim.run(until: 60 * Self.second)
        #expect(sim.count(believing: .dead, about: 7) == 63)
        #expect(sim.metrics.falseDeaths == 0)
        for member in 0..<64 where member != 7 { #expect(sim.count(believing: .alive, about: MemberID(member)) == 62) }
    }

    @Test("refute: a node suspected while cut off takes a newer incarnation and is alive again everywhere")
    func refute() {
        let sim = Self.simulator(nodes: 32, seed: 5)
        sim.run(until: 3 * Self.second)
        sim.partition { $0 == 3 }  // node 3 alone on one side
        // Long enough to be suspected by many, too short to be declared dead (suspicion ≥ 4·log10(32)·1 s ≈ 6 s).
        sim.run(until: 6 * Self.second)
        #expect(sim.count(believing: .suspect, about: 3) > 0)
        sim.heal()
        sim.run(until: 30 * Self.second)
        #expect(sim.count(believing: .alive, about: 3) == 31)
        #expect(sim.metrics.refutations >= 1)
        #expect(sim.nodes[3]!.incarnation >= 1)
    }

    @Test("partition: each side declares the other dead, and keeps its own members alive")
    func partitionHeal() {
        let sim = Self.simulator(nodes: 20, seed: 3)
        sim.run(until: 2 * Self.second)
        sim.partition { $0 < 10 }
        sim.run(until: 90 * Self.second)
        #expect(sim.count(believing: .dead, about: 15) == 10)  // the left side's view of a right member
        #expect(sim.count(believing: .alive, about: 15) == 9)  // its own side still sees it
        #expect(sim.metrics.falseDeaths == 0)  // across a partition, "dead" is the right call for the other side
    }

    @Test("partition heal: after each side declared the other dead, healing brings every member back alive everywhere within 30 s (found by the netns chaos harness)")
    func partitionHealRejoins() {
        let sim = Self.simulator(nodes: 20, seed: 3)
        sim.run(until: 2 * Self.second)
        sim.partition { $0 < 10 }
        sim.run(until: 60 * Self.second)
        #expect(sim.count(believing: .dead, about: 15) == 10)
        #expect(sim.count(believing: .dead, about: 4) == 10)
        sim.heal()
        // Nobody probes a member it holds dead, so before the fix neither side ever spoke to the other again.
        sim.run(until: 90 * Self.second)
        for member in 0..<20 { #expect(sim.count(believing: .alive, about: MemberID(member)) == 19, "member \(member)") }
        #expect(sim.metrics.refutations >= 20)
    }

    @Test("a crashed member stays dead: pinging the dead to let them refute does not bring it back")
    func crashedStaysDead() {
        let sim = Self.simulator(nodes: 12, seed: 8)
        sim.run(until: 2 * Self.second)
        sim.crash(5)
        sim.run(until: 120 * Self.second)
        #expect(sim.count(believing: .dead, about: 5) == 11)
        #expect(sim.count(believing: .alive, about: 5) == 0)
    }

    @Test("dogpile: with 5% message loss, 200 nodes declare nobody dead falsely over 120 s")
    func lossWithoutFalsePositives() {
        let sim = Self.simulator(nodes: 200, seed: 99, loss: 0.05)
        sim.run(until: 120 * Self.second)
        #expect(sim.metrics.lost > 0)
        #expect(sim.metrics.falseDeaths == 0, "false deaths: \(sim.metrics.falseDeaths) of \(sim.metrics.declarations)")
    }

    @Test("a join through one seed is known to every node within 2·log2(N) protocol rounds")
    func joinSpread() {
        let sim = Self.simulator(nodes: 256, seed: 21)
        sim.run(until: 2 * Self.second)
        let newcomer = sim.join(through: 0)
        let start = sim.now
        var rounds = 0
        while sim.count(believing: .alive, about: newcomer) < 256 && rounds < 40 {
            rounds += 1
            sim.run(until: start + UInt64(rounds) * Self.second)
        }
        #expect(sim.count(believing: .alive, about: newcomer) == 256)
        #expect(rounds <= 16, "took \(rounds) rounds")  // 2·log2(256)
        #expect(sim.nodes[Int(newcomer)]!.aliveCount == 257)  // and it knows everyone
    }

    @Test("degraded awareness: a node cut off misses acks and slows itself down; healthy nodes do not; it recovers after healing")
    func awareness() {
        let sim = Self.simulator(nodes: 16, seed: 13)
        sim.run(until: 2 * Self.second)
        sim.partition { $0 == 5 }
        sim.run(until: 6 * Self.second)
        #expect(sim.nodes[5]!.awareness >= 2)  // its probes go unanswered: it suspects its own health
        #expect(sim.nodes.enumerated().filter { $0.offset != 5 }.allSatisfy { ($0.element?.awareness ?? 0) <= 1 })
        sim.heal()
        sim.run(until: 60 * Self.second)
        #expect(sim.nodes[5]!.awareness == 0)  // successful probes bring it back
        #expect(sim.count(believing: .alive, about: 5) == 15)
    }

    @Test("the same seed replays the same run")
    func deterministic() {
        let a = Self.simulator(nodes: 50, seed: 8, loss: 0.1), b = Self.simulator(nodes: 50, seed: 8, loss: 0.1)
        a.run(until: 20 * Self.second)
        b.run(until: 20 * Self.second)
        #expect(a.metrics.messages == b.metrics.messages && a.metrics.lost == b.metrics.lost)
        #expect(a.metrics.declarations == b.metrics.declarations)
    }
}

@Suite("SWIM wire codec")
struct SwimCodecTests {
    @Test("every message kind round-trips with its updates and addresses; junk decodes to nil, never a trap")
    func codec() {
        let signature = MemberSignature(publicKey: Array(repeating: 0x11, count: 32), signature: Array(repeating: 0x22, count: 64))
        let updates = [
            MemberUpdate(member: 0xDEAD_BEEF_0000_0001, status: .suspect, incarnation: 7, lamport: 99, address: "tcp://127.0.0.1:7400"),
            MemberUpdate(member: 2, status: .dead, incarnation: 1, lamport: 3),
            MemberUpdate(member: 3, status: .alive, incarnation: 4, lamport: 5, address: "tcp://10.0.0.3:7400", signature: signature),
        ]
        let kinds: [SwimMessage.Kind] = [.ping(sequence: 1), .ack(sequence: 2), .pingRequest(sequence: 3, target: 42), .nack(sequence: 4), .join]
        for kind in kinds {
            let message = SwimMessage(kind, lamport: 12, updates: updates)
            #expect(SwimCodec.decode(SwimCodec.encode(message)) == message)
        }
        let list = SwimMessage(.members(updates), lamport: 5)
        #expect(SwimCodec.decode(SwimCodec.encode(list)) == list)
        var state: UInt64 = 77
        var decoded = 0
        for round in 0..<50_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            var bytes = SwimCodec.encode(SwimMessage(kinds[round % kinds.count], lamport: state, updates: updates))
            if round % 2 == 0 { bytes[Int(state % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: state >> 8) | 1 }
            else { bytes = Array(bytes.prefix(Int(state % UInt64(bytes.count)))) }
            if SwimCodec.decode(bytes) != nil { decoded += 1 }
        }
        #expect(decoded < 50_000)
        #expect(SwimCodec.decode([]) == nil && SwimCodec.decode([9]) == nil)
    }
}

/// Values a hostile peer can send, at their bounds (docs/wire.md, "Values from peers").
@Suite("SWIM and Lamport time at their bounds")
struct SwimBoundsTests {
    static let lamportLimit: UInt64 = 1 << 62

    @Test("a Lamport clock saturates at 2^62, what the wire carries: witness and tick never trap, never pass it, time never goes back, and a time past it is not witnessed")
    func lamportSaturates() {
        let top = Self.lamportLimit
        #expect(LamportClock.maximum == top)
        var clock = LamportClock()
        #expect(clock.witness(0) == 1)
        #expect(clock.witness(1) == 2)
        #expect(clock.witness(top - 2) == top - 1)
        #expect(clock.tick() == top)
        #expect(clock.tick() == top)
        #expect(clock.witness(top) == top)
        #expect(clock.witness(.max) == top && clock.refused == 1)  // above the ceiling (2^62 by default): not witnessed
        #expect(clock.witness(5) == top)
        #expect(clock.tick(atLeast: .max) == top)
        var fresh = LamportClock()
        #expect(fresh.witness(.max) == 1 && fresh.refused == 1)
        #expect(fresh.witness(top) == top)
        var atMax = LamportClock(.max)
        #expect(atMax.time == top && atMax.tick() == top)
    }

    @Test("codec: Lamport 0, 1, 2^62 − 1, 2^62 round-trip in the message and its updates; 2^62 + 1, max − 1, max are malformed")
    func lamportBounds() {
        for value in [UInt64(0), 1, Self.lamportLimit - 1, Self.lamportLimit] {
            let message = SwimMessage(.ping(sequence: 1), lamport: value, updates: [MemberUpdate(member: 2, status: .alive, incarnation: 0, lamport: value)])
            #expect(SwimCodec.decode(SwimCodec.encode(message)) == message)
        }
        for value in [Self.lamportLimit + 1, UInt64.max - 1, UInt64.max] {
            #expect(SwimCodec.decode(SwimCodec.encode(SwimMessage(.ping(sequence: 1), lamport: value))) == nil)
            let update = MemberUpdate(member: 2, status: .suspect, incarnation: 0, lamport: value)
            #expect(SwimCodec.decode(SwimCodec.encode(SwimMessage(.ack(sequence: 1), lamport: 1, updates: [update]))) == nil)
        }
    }

    @Test("codec: incarnations, sequences and members 0, 1, max − 1 and max round-trip")
    func integerBounds() {
        for incarnation in [UInt32(0), 1, .max - 1, .max] {
            let update = MemberUpdate(member: UInt64(incarnation) << 32, status: .dead, incarnation: incarnation, lamport: 3)
            let message = SwimMessage(.nack(sequence: incarnation), lamport: 4, updates: [update])
            #expect(SwimCodec.decode(SwimCodec.encode(message)) == message)
        }
        for target in [UInt64(0), 1, .max - 1, .max] {
            let message = SwimMessage(.pingRequest(sequence: .max, target: target), lamport: 0)
            #expect(SwimCodec.decode(SwimCodec.encode(message)) == message)
        }
    }

    @Test("codec: an update count the bytes cannot hold is malformed (0 and 4096 are fine, 4097 and 65535 are not)")
    func countBounds() {
        func frame(count: UInt16, updates: Int) -> [UInt8] {
            let update = MemberUpdate(member: 9, status: .alive, incarnation: 1, lamport: 1)
            var bytes = SwimCodec.encode(SwimMessage(.join, lamport: 1, updates: Array(repeating: update, count: updates)))
            bytes[9] = UInt8(count & 0xFF)  // kind (1) ‖ lamport (8) ‖ count (2)
            bytes[10] = UInt8(count >> 8)
            return bytes
        }
        #expect(SwimCodec.decode(frame(count: 0, updates: 0))?.updates.isEmpty == true)
        #expect(SwimCodec.decode(frame(count: 1, updates: 1))?.updates.count == 1)
        #expect(SwimCodec.decode(frame(count: 4096, updates: 4096))?.updates.count == 4096)
        #expect(SwimCodec.decode(frame(count: 4096, updates: 1)) == nil)
        #expect(SwimCodec.decode(frame(count: 4097, updates: 4096)) == nil)
        #expect(SwimCodec.decode(frame(count: .max, updates: 0)) == nil)
    }

    @Test("refutation increments the incarnation: 0 → 1, 1 → 2, 16 → 17 (the window's edge); a suspicion beyond the window gets no answer")
    func refutationBounds() {
        for incarnation in [UInt32(0), 1, 16] {
            let node = SwimNode(simulated: 1, seed: 1, now: 0)
            _ = node.receive(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [MemberUpdate(member: 1, status: .suspect, incarnation: incarnation, lamport: 1)]), from: 2, now: 0)
            #expect(node.incarnation == incarnation + 1)
            #expect(node.status(of: 1) == .alive)
        }
        for incarnation in [UInt32(17), 1 << 31, .max - 1, .max] {
            let node = SwimNode(simulated: 1, seed: 1, now: 0)
            _ = node.receive(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [MemberUpdate(member: 1, status: .dead, incarnation: incarnation, lamport: 1)]), from: 2, now: 0)
            #expect(node.incarnation == 0)
            #expect(node.events.isEmpty)
        }
    }

    @Test("told a stale death (below its incarnation) after its refutation stopped spreading, a node answers with its current claim")
    func staleDeathGetsTheClaim() {
        let node = SwimNode(simulated: 1, seed: 1, now: 0)
        _ = node.receive(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [MemberUpdate(member: 1, status: .suspect, incarnation: 0, lamport: 1)]), from: 2, now: 0)
        #expect(node.incarnation == 1)
        // Acks carry the refutation until its retransmissions are used up.
        for sequence in UInt32(2)..<40 { _ = node.receive(SwimMessage(.ping(sequence: sequence), lamport: 1, updates: []), from: 2, now: 0) }
        let quiet = node.receive(SwimMessage(.ping(sequence: 40), lamport: 1, updates: []), from: 2, now: 0)
        #expect(!quiet.flatMap(\.message.updates).contains { $0.member == 1 })
        // Member 3 declared node 1 dead at incarnation 0 and now pings it (carrying that death).
        let answer = node.receive(SwimMessage(.ping(sequence: 41), lamport: 1, updates: [MemberUpdate(member: 1, status: .dead, incarnation: 0, lamport: 1)]), from: 3, now: 0)
        #expect(node.incarnation == 1)
        #expect(answer.count == 1 && answer[0].to == 3)
        #expect(answer.flatMap(\.message.updates).contains { $0.member == 1 && $0.status == .alive && $0.incarnation == 1 })
    }

    @Test("the alive-view counter moves when a member joins, falls under suspicion, refutes or moves, and not when a suspect is declared dead")
    func aliveViewChanges() {
        let node = SwimNode(simulated: 1, seed: 1, now: 0)
        node.assumeMembers([2, 3])
        #expect(node.aliveViewChanges == 0)
        func signed(_ member: MemberID, incarnation: UInt32, address: String) -> MemberUpdate {
            var claim = MemberUpdate(member: member, status: .alive, incarnation: incarnation, lamport: 1, address: address)
            claim.signature = MemberCredentials.simulated(member: member).sign(claim.claimBytes)
            return claim
        }
        var sequence: UInt32 = 0
        func tell(_ updates: [MemberUpdate], from sender: MemberID = 2) {
            sequence += 1
            _ = node.receive(SwimMessage(.ping(sequence: sequence), lamport: 1, updates: updates), from: sender, now: 0)
        }
        tell([])  // a ping from a known member changes nothing
        #expect(node.aliveViewChanges == 0)
        tell([MemberUpdate(member: 3, status: .suspect, incarnation: 0, lamport: 1)])
        #expect(node.status(of: 3) == .suspect && node.aliveViewChanges == 1)
        tell([MemberUpdate(member: 3, status: .suspect, incarnation: 0, lamport: 1)], from: 4)  // a confirmation; 4 joins
        #expect(node.aliveViewChanges == 2)
        // Nobody answers its probes, so 2 and 4 fall under suspicion too (each a change); 3's death is none.
        var declared = false
        _ = node.takeEvents()
        for second in 1...60 where !declared {
            let before = node.aliveViewChanges
            _ = node.tick(now: UInt64(second) * SwimTests.second)
            let suspected = node.takeEvents().filter { if case .suspected = $0 { true } else { false } }.count
            #expect(node.aliveViewChanges - before == UInt64(suspected), "second \(second)")
            declared = node.status(of: 3) == .dead
        }
        #expect(declared)
        let afterDeath = node.aliveViewChanges
        tell([signed(3, incarnation: 1, address: "tcp://10.0.0.3:7400")])  // back, with an address
        #expect(node.status(of: 3) == .alive && node.aliveViewChanges > afterDeath)
        let back = node.aliveViewChanges
        tell([signed(3, incarnation: 2, address: "tcp://10.0.0.3:7400")])  // a newer claim, same place: no change
        #expect(node.aliveViewChanges == back)
        tell([signed(3, incarnation: 3, address: "tcp://10.0.0.9:7400")])  // moved
        #expect(node.aliveViewChanges == back + 1)
    }

    @Test("a message from the node's own ID (a session with itself) is ignored: no answer, nothing learned (found by fuzzing)")
    func messageFromItself() {
        let node = SwimNode(simulated: 1, seed: 1, now: 0)
        node.assumeMembers([2])
        for kind in [SwimMessage.Kind.ping(sequence: 1), .join, .pingRequest(sequence: 2, target: 2)] {
            let out = node.receive(SwimMessage(kind, lamport: 9, updates: [MemberUpdate(member: 3, status: .alive, incarnation: 0, lamport: 9)]), from: 1, now: 0)
            #expect(out.isEmpty, "\(kind): \(out)")
        }
        #expect(node.status(of: 3) == nil)
        #expect(node.view.count == 2)
    }

    @Test("told it is suspect or dead at incarnation UInt32.max with Lamport UInt64.max, a node does not follow, does not witness the time, answers with one the wire carries, and keeps running")
    func saturatedSlander() {
        for status in [MemberStatus.suspect, .dead] {
            let node = SwimNode(simulated: 1, seed: 1, now: 0)
            node.assumeMembers([1, 2, 3])
            let forged = SwimMessage(.ping(sequence: 7), lamport: .max, updates: [MemberUpdate(member: 1, status: status, incarnation: .max, lamport: .max)])
            let out = node.receive(forged, from: 2, now: 0)
            #expect(node.incarnation == 0)
            #expect(node.clock.time < 10 && node.clock.refused == 1, "a time past the ceiling (2^62 by default) is not witnessed")
            #expect(node.status(of: 1) == .alive)
            let ack = out.first { $0.to == 2 }
            #expect(ack?.message.kind == .ack(sequence: 7))
            #expect((ack?.message.lamport ?? .max) < 10)
            #expect(ack.map { SwimCodec.decode(SwimCodec.encode($0.message)) != nil } == true, "the answer must be one the wire carries")
            _ = node.receive(forged, from: 3, now: 1)
            for second in 1...30 { _ = node.tick(now: UInt64(second) * SwimTests.second) }
            #expect(node.incarnation == 0)
            #expect(node.clock.time < Self.lamportLimit && node.clock.refused == 2)
        }
    }

    @Test("a node whose own signed claim says UInt32.max − 1 refutes to UInt32.max, and at UInt32.max answers UInt32.max without trapping")
    func saturatedRefutation() {
        let node = SwimNode(simulated: 1, seed: 1, now: 0)
        var own = MemberUpdate(member: 1, status: .alive, incarnation: .max - 2, lamport: 1)
        own.signature = MemberCredentials.simulated(member: 1).sign(own.claimBytes)
        _ = node.receive(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [own]), from: 2, now: 0)
        #expect(node.incarnation == UInt32.max - 1)  // its claim from a previous life, relayed back: it claims past it
        for incarnation in [UInt32.max - 1, .max] {
            let out = node.receive(SwimMessage(.ping(sequence: 2), lamport: 1, updates: [MemberUpdate(member: 1, status: .suspect, incarnation: incarnation, lamport: 1)]), from: 2, now: 0)
            #expect(node.incarnation == .max)
            #expect(out.first?.message.updates.contains { $0.member == 1 && $0.status == .alive && $0.incarnation == .max && $0.signature != nil } == true)
        }
        #expect(node.events.contains(.refuted(incarnation: .max, at: 0)))
    }

    @Test("relayed through a third node: a suspicion within the window is refuted everywhere; one beyond it stops at the relay")
    func relayedSuspicion() {
        let cases: [(UInt32, relayed: Bool)] = [(16, true), (17, false), (.max - 1, false), (.max, false)]
        for (incarnation, relayed) in cases {
            let a = SwimNode(simulated: 1, seed: 1, now: 0), c = SwimNode(simulated: 3, seed: 3, now: 0)
            a.assumeMembers([1, 2, 3])
            c.assumeMembers([1, 2, 3])
            // B (2) tells C that A is suspect; C passes it on to A in its answer to A's ping.
            let slander = MemberUpdate(member: 1, status: .suspect, incarnation: incarnation, lamport: 1 << 62)
            _ = c.receive(SwimMessage(.ping(sequence: 1), lamport: 1 << 62, updates: [slander]), from: 2, now: 0)
            #expect(c.status(of: 1) == (relayed ? .suspect : .alive))
            let toA = c.receive(SwimMessage(.ping(sequence: 2), lamport: 1, updates: []), from: 1, now: 0)
            #expect(toA.first?.message.updates.contains(slander) == relayed)
            for outbound in toA { _ = a.receive(outbound.message, from: 3, now: 0) }
            #expect(a.incarnation == (relayed ? incarnation + 1 : 0))
            // A's refutation reaches C piggybacked on its answer to C's ping.
            let toC = a.receive(SwimMessage(.ping(sequence: 3), lamport: 1, updates: []), from: 3, now: 0)
            for outbound in toC { _ = c.receive(outbound.message, from: 1, now: 0) }
            #expect(c.status(of: 1) == .alive)
            #expect(c.incarnationForTesting(of: 1) == a.incarnation)
        }
    }
}

extension UInt32 {
    fileprivate var saturatingIncrement: UInt32 { self == .max ? .max : self + 1 }
}

/// What one hostile member with one connection tries (docs/security.md, "Signed membership and gossip").
@Suite("SWIM against hostile members")
struct SwimHostileTests {
    /// `member`'s alive claim, signed with `signer`'s simulated credentials (the member's own unless forged).
    static func claim(_ member: MemberID, _ incarnation: UInt32, _ address: String, signedBy signer: MemberID? = nil) -> MemberUpdate {
        var update = MemberUpdate(member: member, status: .alive, incarnation: incarnation, lamport: 1, address: address)
        update.signature = MemberCredentials.simulated(member: signer ?? member).sign(update.claimBytes)
        return update
    }

    static func ping(_ updates: [MemberUpdate], sequence: UInt32 = 1) -> SwimMessage {
        SwimMessage(.ping(sequence: sequence), lamport: 1, updates: updates)
    }

    /// A node (1) that knows member 2 from 2's own claim at incarnation 5, reachable at "tcp://two".
    static func nodeKnowingTwo() -> SwimNode {
        let node = SwimNode(simulated: 1, seed: 1, now: 0)
        _ = node.receive(ping([claim(2, 5, "tcp://two")]), from: 2, now: 0)
        return node
    }

    @Test("a forged alive claim for another member is ignored: unsigned, signed by the attacker, or with a signature over other bytes")
    func forgedClaim() {
        let node = Self.nodeKnowingTwo()
        #expect(node.addresses[2] == "tcp://two" && node.incarnationForTesting(of: 2) == 5)
        var unsigned = Self.claim(2, 9, "tcp://evil")
        unsigned.signature = nil
        let byAttacker = Self.claim(2, 9, "tcp://evil", signedBy: 3)
        var reused = Self.claim(2, 9, "tcp://evil")  // 2's genuine signature of incarnation 6 at its real address
        reused.signature = Self.claim(2, 6, "tcp://two").signature
        var attackersKey = byAttacker  // the attacker's key, claiming it is 2's
        attackersKey.signature?.publicKey = Self.claim(2, 0, "").signature!.publicKey
        for forged in [unsigned, byAttacker, reused, attackersKey] {
            _ = node.receive(Self.ping([forged]), from: 3, now: 0)
            #expect(node.addresses[2] == "tcp://two")
            #expect(node.incarnationForTesting(of: 2) == 5)
        }
        // The real thing moves it.
        _ = node.receive(Self.ping([Self.claim(2, 9, "tcp://two-moved")]), from: 3, now: 0)
        #expect(node.addresses[2] == "tcp://two-moved" && node.incarnationForTesting(of: 2) == 9)
    }

    @Test("an update that loses on precedence never moves an address, signed or not; a winning suspicion does not either")
    func losingUpdateKeepsAddress() {
        let node = Self.nodeKnowingTwo()
        let older = Self.claim(2, 4, "tcp://old")  // genuine, but an older incarnation
        let sameIncarnation = Self.claim(2, 5, "tcp://other")  // genuine, but does not beat what is held
        let suspicion = MemberUpdate(member: 2, status: .suspect, incarnation: 6, lamport: 1, address: "tcp://evil")  // wins
        let dead = MemberUpdate(member: 2, status: .dead, incarnation: 6, lamport: 1, address: "tcp://evil", signature: older.signature)
        for update in [older, sameIncarnation, suspicion, dead] {
            _ = node.receive(Self.ping([update]), from: 3, now: 0)
            #expect(node.addresses[2] == "tcp://two")
        }
        #expect(node.status(of: 2) == .dead)
    }

    @Test("slander at a huge incarnation is dropped, slander within the window cannot ratchet, and the subject refutes it")
    func boundedSlander() {
        let victim = SwimNode(simulated: 2, seed: 2, now: 0)
        let node = Self.nodeKnowingTwo()  // knows 2 at its signed incarnation 5
        _ = victim.receive(Self.ping([Self.claim(2, 5, "")]), from: 1, now: 0)  // the victim is at 5 too
        for incarnation: UInt32 in [.max, .max - 1, 1 << 31, 22] {
            _ = node.receive(Self.ping([MemberUpdate(member: 2, status: .dead, incarnation: incarnation, lamport: 1)]), from: 3, now: 0)
            #expect(node.status(of: 2) == .alive)
        }
        // Within the window (5 + 16 = 21) it is accepted; stepping on from there is not (the bound is the signed 5).
        _ = node.receive(Self.ping([MemberUpdate(member: 2, status: .suspect, incarnation: 21, lamport: 1)]), from: 3, now: 0)
        #expect(node.status(of: 2) == .suspect && node.incarnationForTesting(of: 2) == 21)
        _ = node.receive(Self.ping([MemberUpdate(member: 2, status: .dead, incarnation: 22, lamport: 1)]), from: 3, now: 0)
        #expect(node.status(of: 2) == .suspect && node.incarnationForTesting(of: 2) == 21)
        // The suspicion reaches the victim (buddy system: a message to a suspect carries it); it refutes.
        let buddy = node.receive(SwimMessage(.ping(sequence: 9), lamport: 1), from: 2, now: 0)
        for outbound in buddy { _ = victim.receive(outbound.message, from: 1, now: 0) }
        #expect(victim.incarnation == 22)
        let answer = victim.receive(SwimMessage(.ping(sequence: 10), lamport: 1), from: 1, now: 0)
        for outbound in answer { _ = node.receive(outbound.message, from: 2, now: 0) }
        #expect(node.status(of: 2) == .alive && node.incarnationForTesting(of: 2) == 22)
    }

    @Test("a message introducing 200 members adds at most 8; a member list answering this node's own join may add them all")
    func introductionCap() {
        let signed = (100..<300).map { Self.claim(MemberID($0), 0, "tcp://m\($0)") }
        let unsigned = (300..<500).map { MemberUpdate(member: MemberID($0), status: .alive, incarnation: 0, lamport: 1) }
        let suspected = (500..<700).map { MemberUpdate(member: MemberID($0), status: .suspect, incarnation: 0, lamport: 1) }
        for updates in [signed, unsigned, suspected] {
            let node = SwimNode(simulated: 1, seed: 1, now: 0)
            _ = node.receive(Self.ping(updates), from: 2, now: 0)
            #expect(node.view.count == 2 + 8)  // itself, the sender, eight introductions
            _ = node.receive(SwimMessage(.members(updates), lamport: 1), from: 2, now: 0)  // unasked for
            #expect(node.view.count == 2 + 16)
        }
        let joiner = SwimNode(simulated: 1, seed: 1, now: 0)
        _ = joiner.join(seeds: [2], now: 0)
        _ = joiner.receive(SwimMessage(.members(signed), lamport: 1), from: 2, now: 0)
        #expect(joiner.view.count == 2 + 200)
        #expect(joiner.addresses[150] == "tcp://m150")
        _ = joiner.receive(SwimMessage(.members(unsigned), lamport: 1), from: 2, now: 0)  // only once per join
        #expect(joiner.view.count == 2 + 200 + 8)
    }

    @Test("the view cap holds against many senders, a join answer included, and the events table stays bounded")
    func viewCap() {
        var configuration = SwimConfiguration()
        configuration.maximumMembers = 50
        configuration.maximumEvents = 10
        let node = SwimNode(simulated: 1, configuration: configuration, seed: 1, now: 0)
        var next: MemberID = 1000
        for sender in MemberID(2)..<MemberID(40) {
            let updates = (0..<8).map { _ -> MemberUpdate in
                next += 1
                return MemberUpdate(member: next, status: .suspect, incarnation: 0, lamport: 1)
            }
            _ = node.receive(Self.ping(updates), from: sender, now: 0)
            #expect(node.view.count <= 50)
        }
        #expect(node.view.count == 50)
        _ = node.join(seeds: [2], now: 0)
        _ = node.receive(SwimMessage(.members((5000..<6000).map { Self.claim(MemberID($0), 0, "") }), lamport: 1), from: 2, now: 0)
        #expect(node.view.count == 50)
        #expect(node.events.count <= 10 && node.droppedEvents > 0)
        for second in 1...60 { _ = node.tick(now: UInt64(second) * SwimTests.second) }  // the suspicions expire
        #expect(node.events.count <= 10)
        #expect(node.takeEvents().count <= 10 && node.events.isEmpty)
    }

    @Test("a full view makes room: a member held dead goes first, then one random alive member per 10 protocol rounds; each eviction is reported, its address forgotten, and the view is partial")
    func fullViewRenews() {
        var configuration = SwimConfiguration()
        configuration.maximumMembers = 6
        configuration.maxAwareness = 0  // unanswered probes do not stretch the rounds: one a second
        let node = SwimNode(simulated: 1, configuration: configuration, seed: 1, now: 0)
        // Five members with addresses fill the view (this node is the sixth).
        _ = node.receive(Self.ping((2...6).map { Self.claim(MemberID($0), 1, "tcp://\($0)") }), from: 2, now: 0)
        #expect(node.view.count == 6 && !node.isPartial)
        // Messages come from a member in the view (a sender outside it would take the round's room itself).
        func sender() -> MemberID { node.view.keys.filter { $0 != 1 }.min()! }
        // A protocol round whose probe is answered (no member falls under suspicion).
        func round(_ second: Int) {
            let now = UInt64(second) * SwimTests.second
            for out in node.tick(now: now) {
                if case .ping(let sequence) = out.message.kind { _ = node.receive(SwimMessage(.ack(sequence: sequence), lamport: 1), from: out.to, now: now) }
            }
        }
        // A seventh comes: one alive member makes room (none is dead), and no second in the same round.
        _ = node.receive(Self.ping([Self.claim(7, 1, "tcp://7"), Self.claim(8, 1, "tcp://8")]), from: sender(), now: 0)
        #expect(node.view.count == 6 && node.isPartial && node.evictions == 1)
        #expect(node.status(of: 7) == .alive && node.status(of: 8) == nil)
        let evicted = node.takeEvents().compactMap { event -> MemberID? in if case .evicted(let member, _) = event { member } else { nil } }
        #expect(evicted.count == 1 && evicted[0] != 1 && evicted[0] != 7)
        #expect(node.addresses[evicted[0]] == nil && node.status(of: evicted[0]) == nil)
        // The next replacement waits `replacementRounds` (10) protocol rounds.
        for second in 1...5 { round(second) }
        _ = node.receive(Self.ping([Self.claim(8, 1, "tcp://8")]), from: sender(), now: 5 * SwimTests.second)
        #expect(node.status(of: 8) == nil && node.evictions == 1)
        for second in 6...12 { round(second) }
        _ = node.receive(Self.ping([Self.claim(8, 1, "tcp://8")]), from: sender(), now: 12 * SwimTests.second)
        #expect(node.status(of: 8) == .alive && node.view.count == 6 && node.evictions == 2)
        // A member held dead (its death spread) goes before any alive one, even within the same round.
        let victim = node.view.keys.filter { $0 != 1 }.max()!
        _ = node.receive(Self.ping([MemberUpdate(member: victim, status: .dead, incarnation: 1, lamport: 2)]), from: sender(), now: 12 * SwimTests.second)
        #expect(node.status(of: victim) == .dead)
        for _ in 0..<20 { _ = node.receive(Self.ping([]), from: sender(), now: 12 * SwimTests.second) }  // the death spreads
        // Not before it has been dead for `deadRetention` (30 s: time to refute a slander), and then first.
        _ = node.receive(Self.ping([Self.claim(9, 1, "tcp://9")]), from: sender(), now: 12 * SwimTests.second)
        #expect(node.status(of: 9) == nil && node.status(of: victim) == .dead)
        for second in 13...44 { round(second) }
        for _ in 0..<20 { _ = node.receive(Self.ping([]), from: sender(), now: 44 * SwimTests.second) }
        let alive = Set(node.view.filter { $0.value == .alive }.keys)
        _ = node.receive(Self.ping([Self.claim(9, 1, "tcp://9")]), from: sender(), now: 44 * SwimTests.second)
        #expect(node.status(of: 9) == .alive && node.status(of: victim) == nil)
        #expect(alive.isSubset(of: Set(node.view.keys)), "only the dead member left")
        // Evicted dead, it is remembered: its old claim (a zombie relayed late) is refused, a newer one let in.
        for second in 45...56 { round(second) }
        _ = node.receive(Self.ping([Self.claim(victim, 1, "tcp://old")]), from: sender(), now: 56 * SwimTests.second)
        #expect(node.status(of: victim) == nil)
        _ = node.receive(Self.ping([Self.claim(victim, 2, "tcp://new")]), from: sender(), now: 56 * SwimTests.second)
        #expect(node.status(of: victim) == .alive && node.addresses[victim] == "tcp://new")
    }

    @Test("a full view makes room only for proven newcomers: suspect, dead or unsigned updates about unknown members evict nobody and do not make the view partial")
    func fullViewRefusesHearsay() {
        var configuration = SwimConfiguration()
        configuration.maximumMembers = 6
        let node = SwimNode(simulated: 1, configuration: configuration, seed: 1, now: 0)
        _ = node.receive(Self.ping((2...6).map { Self.claim(MemberID($0), 1, "tcp://\($0)") }), from: 2, now: 0)
        let before = Set(node.view.keys)
        for batch in 0..<50 {
            let updates = (0..<8).map { i -> MemberUpdate in
                let member = MemberID(1000 + batch * 8 + i)
                switch i % 3 {
                case 0: return MemberUpdate(member: member, status: .dead, incarnation: 99, lamport: 1)  // beyond the window
                case 1: return MemberUpdate(member: member, status: .suspect, incarnation: 0, lamport: 1)
                default: return MemberUpdate(member: member, status: .alive, incarnation: 0, lamport: 1)  // unsigned
                }
            }
            _ = node.receive(Self.ping(updates), from: 2, now: UInt64(batch) * SwimTests.second)
        }
        #expect(Set(node.view.keys) == before && node.evictions == 0 && !node.isPartial)
    }

    @Test("a flood of newcomers into a full view evicts at most one alive member per 10 rounds, whatever the senders")
    func fullViewChurnBounded() {
        var configuration = SwimConfiguration()
        configuration.maximumMembers = 20
        let node = SwimNode(simulated: 1, configuration: configuration, seed: 3, now: 0)
        var next: MemberID = 100
        for round in 0..<10 {
            let now = UInt64(round) * SwimTests.second
            _ = node.tick(now: now)
            for sender in MemberID(2)..<MemberID(40) {
                let updates = (0..<8).map { _ -> MemberUpdate in
                    next += 1
                    return Self.claim(next, 1, "tcp://\(next)")
                }
                _ = node.receive(Self.ping(updates), from: sender, now: now)
                #expect(node.view.count <= 20)
            }
        }
        #expect(node.view.count == 20 && node.isPartial)
        #expect(node.evictions == 1, "\(node.evictions) evictions in 10 rounds")
    }

    @Test("a probe carries the prober's signed claim: a member that missed its join learns its address from the first ping")
    func pingCarriesClaim() {
        let prober = SwimNode(simulated: 7, seed: 7, now: 0, address: "tcp://seven")
        prober.assumeMembers([1])
        let probed = SwimNode(simulated: 1, seed: 1, now: 0, address: "tcp://one")
        var ping: SwimNode.Outbound?
        for second in 1...5 where ping == nil {
            ping = prober.tick(now: UInt64(second) * SwimTests.second).first { if case .ping = $0.message.kind { $0.to == 1 } else { false } }
        }
        guard let ping else { Issue.record("the prober pings its only member"); return }
        #expect(ping.message.updates.filter { $0.member == 7 }.count == 1, "one claim of its own, not two")
        #expect(probed.addresses[7] == nil)
        _ = probed.receive(ping.message, from: 7, now: 5 * SwimTests.second)
        #expect(probed.addresses[7] == "tcp://seven" && probed.status(of: 7) == .alive)
        // A claim signed by someone else for the prober's ID is not taken (the claim must verify).
        let stranger = SwimNode(simulated: 9, seed: 9, now: 0, address: "tcp://evil")
        stranger.assumeMembers([1])
        var forged = ping.message
        for second in 1...5 {
            if let other = stranger.tick(now: UInt64(second) * SwimTests.second).first(where: { if case .ping = $0.message.kind { $0.to == 1 } else { false } }) {
                forged.updates = other.message.updates.map { var u = $0; if u.member == 9 { u.member = 7; u.address = "tcp://evil" }; return u }
                break
            }
        }
        let fresh = SwimNode(simulated: 1, seed: 1, now: 0, address: "tcp://one")
        _ = fresh.receive(forged, from: 7, now: 5 * SwimTests.second)
        #expect(fresh.addresses[7] == nil, "a claim whose signature is not the member's is ignored")
    }

    @Test("a restarted node claims past its previous life: started above it, its first ping overrides its death; started at 0 (a clock gone back), the old claim in its join answer moves it past it")
    func restartClaimsPastDeath() {
        // Member 7's previous life claimed incarnation 3 at tcp://seven, and the mesh declared it dead there.
        func meshHoldingSevenDead() -> SwimNode {
            let node = SwimNode(simulated: 1, seed: 1, now: 0, address: "tcp://one")
            _ = node.receive(Self.ping([Self.claim(7, 3, "tcp://seven")]), from: 2, now: 0)
            _ = node.receive(Self.ping([MemberUpdate(member: 7, status: .dead, incarnation: 3, lamport: 2)]), from: 2, now: 0)
            return node
        }
        func firstPing(of node: SwimNode) -> SwimMessage? {
            for second in 1...5 {
                if let ping = node.tick(now: UInt64(second) * SwimTests.second).first(where: { if case .ping = $0.message.kind { true } else { false } }) {
                    return ping.message
                }
            }
            return nil
        }
        let mesh = meshHoldingSevenDead()
        #expect(mesh.status(of: 7) == .dead)
        let restarted = SwimNode(simulated: 7, seed: 7, now: 0, address: "tcp://seven", incarnation: SwimNode.startingIncarnation(wallSeconds: 1_800_000_000))
        restarted.assumeMembers([1])
        guard let ping = firstPing(of: restarted) else { Issue.record("the restarted node pings its member"); return }
        _ = mesh.receive(ping, from: 7, now: 5 * SwimTests.second)
        #expect(mesh.status(of: 7) == .alive && mesh.incarnationForTesting(of: 7) == 64_310_400, "the first claim of the new life wins")

        // Started at 0: its own claim at 3 comes back in the join answer (the seed's record of the previous life).
        let seed = meshHoldingSevenDead(), elsewhere = meshHoldingSevenDead()
        let backwards = SwimNode(simulated: 7, seed: 7, now: 0, address: "tcp://seven")
        for join in backwards.join(seeds: [1], now: 0) {
            for answer in seed.receive(join.message, from: 7, now: 0) { _ = backwards.receive(answer.message, from: 1, now: 0) }
        }
        #expect(backwards.incarnation == 4, "past the claim the mesh may hold dead")
        backwards.assumeMembers([1])
        guard let later = firstPing(of: backwards) else { Issue.record("it pings"); return }
        _ = elsewhere.receive(later, from: 7, now: 5 * SwimTests.second)
        #expect(elsewhere.status(of: 7) == .alive && elsewhere.incarnationForTesting(of: 7) == 4)
        // Its own current claim echoed back moves nothing.
        _ = backwards.receive(Self.ping([Self.claim(7, 4, "tcp://seven")]), from: 1, now: 6 * SwimTests.second)
        #expect(backwards.incarnation == 4)
    }

    @Test("the starting incarnation: seconds since 2025-01-01, 0 before it and for NaN or infinity, at most UInt32.max − 2^24")
    func startingIncarnation() {
        #expect(SwimNode.startingIncarnation(wallSeconds: 1_735_689_600) == 0)
        #expect(SwimNode.startingIncarnation(wallSeconds: 1_735_689_601.7) == 1)
        #expect(SwimNode.startingIncarnation(wallSeconds: 1_800_000_000) == 64_310_400)
        #expect(SwimNode.startingIncarnation(wallSeconds: 0) == 0)
        #expect(SwimNode.startingIncarnation(wallSeconds: -1e300) == 0)
        for odd in [Double.nan, .infinity, -.infinity] { #expect(SwimNode.startingIncarnation(wallSeconds: odd) == 0) }
        #expect(SwimNode.startingIncarnation(wallSeconds: 1e300) == UInt32.max - (1 << 24))
    }

    @Test("a join answer carries members' signed claims, so the joiner learns addresses it can check")
    func joinCarriesClaims() {
        let seed = Self.nodeKnowingTwo()
        let joiner = SwimNode(simulated: 7, seed: 7, now: 0, address: "tcp://seven")
        let join = joiner.join(seeds: [1], now: 0)
        let answer = join.flatMap { seed.receive($0.message, from: 7, now: 0) }
        #expect(seed.addresses[7] == "tcp://seven")
        for outbound in answer { _ = joiner.receive(outbound.message, from: 1, now: 0) }
        #expect(joiner.addresses[2] == "tcp://two" && joiner.incarnationForTesting(of: 2) == 5)
    }
}
