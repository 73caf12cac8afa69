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
        let updates = [
            MemberUpdate(member: 0xDEAD_BEEF_0000_0001, status: .suspect, incarnation: 7, lamport: 99, address: "tcp://127.0.0.1:7400"),
            MemberUpdate(member: 2, status: .dead, incarnation: 1, lamport: 3),
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

    @Test("a Lamport clock saturates at UInt64.max: witness and tick never trap, and time never goes back")
    func lamportSaturates() {
        var clock = LamportClock()
        #expect(clock.witness(0) == 1)
        #expect(clock.witness(1) == 2)
        #expect(clock.witness(.max - 1) == .max)
        #expect(clock.tick() == .max)
        #expect(clock.witness(.max) == .max)
        #expect(clock.witness(5) == .max)
        var fresh = LamportClock()
        #expect(fresh.witness(.max) == .max)
        var atMax = LamportClock(.max)
        #expect(atMax.tick() == .max)
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

    @Test("refutation increments the incarnation: 0 → 1, 1 → 2, max − 1 → max")
    func refutationBounds() {
        for incarnation in [UInt32(0), 1, UInt32.max - 1] {
            let node = SwimNode(id: 1, seed: 1, now: 0)
            _ = node.receive(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [MemberUpdate(member: 1, status: .suspect, incarnation: incarnation, lamport: 1)]), from: 2, now: 0)
            #expect(node.incarnation == incarnation + 1)
            #expect(node.status(of: 1) == .alive)
        }
    }

    @Test("told it is suspect or dead at incarnation UInt32.max with Lamport UInt64.max, a node answers alive at UInt32.max and keeps running")
    func saturatedRefutation() {
        for status in [MemberStatus.suspect, .dead] {
            let node = SwimNode(id: 1, seed: 1, now: 0)
            node.assumeMembers([1, 2, 3])
            let forged = SwimMessage(.ping(sequence: 7), lamport: .max, updates: [MemberUpdate(member: 1, status: status, incarnation: .max, lamport: .max)])
            let out = node.receive(forged, from: 2, now: 0)
            #expect(node.incarnation == .max)
            #expect(node.clock.time == .max)
            #expect(node.status(of: 1) == .alive)
            #expect(node.events.contains(.refuted(incarnation: .max, at: 0)))
            let ack = out.first { $0.to == 2 }
            #expect(ack?.message.kind == .ack(sequence: 7))
            #expect(ack?.message.lamport == .max)
            #expect(ack?.message.updates.contains { $0.member == 1 && $0.status == .alive && $0.incarnation == .max } == true)
            // Again, and time moving on: the same defined state, no trap.
            _ = node.receive(forged, from: 3, now: 1)
            for second in 1...30 { _ = node.tick(now: UInt64(second) * SwimTests.second) }
            #expect(node.incarnation == .max)
            #expect(node.clock.time == .max)
        }
    }

    @Test("relayed through a third node: max − 1 is refuted everywhere; at UInt32.max the refutation cannot override, and nobody traps")
    func relayedSuspicion() {
        let cases: [(UInt32, MemberStatus)] = [(.max - 1, .alive), (.max, .suspect)]
        for (incarnation, expected) in cases {
            let a = SwimNode(id: 1, seed: 1, now: 0), c = SwimNode(id: 3, seed: 3, now: 0)
            a.assumeMembers([1, 2, 3])
            c.assumeMembers([1, 2, 3])
            // B (2) tells C that A is suspect; C passes it on to A in its answer to A's ping.
            let slander = MemberUpdate(member: 1, status: .suspect, incarnation: incarnation, lamport: 1 << 62)
            _ = c.receive(SwimMessage(.ping(sequence: 1), lamport: 1 << 62, updates: [slander]), from: 2, now: 0)
            #expect(c.status(of: 1) == .suspect)
            let toA = c.receive(SwimMessage(.ping(sequence: 2), lamport: 1, updates: []), from: 1, now: 0)
            #expect(toA.first?.message.updates.contains(slander) == true)
            for outbound in toA { _ = a.receive(outbound.message, from: 3, now: 0) }
            #expect(a.incarnation == incarnation.saturatingIncrement)
            // A's refutation reaches C piggybacked on its answer to C's ping.
            let toC = a.receive(SwimMessage(.ping(sequence: 3), lamport: 1, updates: []), from: 3, now: 0)
            for outbound in toC { _ = c.receive(outbound.message, from: 1, now: 0) }
            #expect(c.status(of: 1) == expected)
        }
    }
}

extension UInt32 {
    fileprivate var saturatingIncrement: UInt32 { self == .max ? .max : self + 1 }
}
