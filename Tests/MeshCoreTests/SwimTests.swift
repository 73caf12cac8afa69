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
