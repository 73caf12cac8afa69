// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

/// HyParView's bounded views as a state machine, and a mesh where no node knows everyone: lookups through tables
/// the nodes filled themselves still find the closest node.
@Suite("Partial views (HyParView) and lookups through them")
struct PartialViewTests {
    @Test("a join: the contact takes the newcomer and walks it through its active view; the walk's end connects back")
    func join() {
        var contact = PartialView(id: 1, seed: 1)
        for member: MemberID in 10..<13 { _ = contact.receive(.connect, from: member) }
        var newcomer = PartialView(id: 99, seed: 2)
        let asked = newcomer.join(via: 1)
        #expect(asked == [PartialView.Outbound(to: 1, message: .join)] && newcomer.active == [1])
        let walks = contact.receive(.join, from: 99)
        #expect(contact.active.contains(99))
        #expect(Set(walks.map(\.to)) == [10, 11, 12] && walks.allSatisfy { $0.message == .forwardJoin(newcomer: 99, ttl: 6) })
        // A hop in the middle forwards with one hop less (not back to the sender or to the newcomer).
        var hop = PartialView(id: 10, seed: 3)
        for member: MemberID in [1, 20, 21] { _ = hop.receive(.connect, from: member) }
        let forwarded = hop.receive(.forwardJoin(newcomer: 99, ttl: 6), from: 1)
        #expect(forwarded.count == 1 && [20, 21].contains(forwarded[0].to) && forwarded[0].message == .forwardJoin(newcomer: 99, ttl: 5))
        // At the passive walk length it also keeps the newcomer as a passive member.
        _ = hop.receive(.forwardJoin(newcomer: 98, ttl: 3), from: 1)
        #expect(hop.passive.contains(98))
        // The walk's end takes the newcomer and tells it; the newcomer takes the end.
        let end = hop.receive(.forwardJoin(newcomer: 97, ttl: 0), from: 1)
        #expect(hop.active.contains(97) && end.contains(PartialView.Outbound(to: 97, message: .connect)))
        _ = newcomer.receive(.connect, from: 10)
        #expect(Set(newcomer.active) == [1, 10])
    }

    @Test("views stay bounded whatever peers send: huge walks and samples are clamped, self-references ignored, a full view drops one to passive")
    func bounded() {
        var view = PartialView(id: 7, seed: 9)
        for member: MemberID in 100..<200 { _ = view.receive(.connect, from: member) }
        #expect(view.active.count == 5 && view.passive.count == 30)
        #expect(Set(view.active).isDisjoint(with: view.passive))
        // A walk longer than ours is cut to our length; one naming us is ignored; a message "from" us too.
        let out = view.receive(.forwardJoin(newcomer: 500, ttl: .max), from: view.active[0])
        #expect(out.allSatisfy { if case .forwardJoin(_, let ttl) = $0.message { ttl <= 5 } else { true } })
        #expect(view.receive(.forwardJoin(newcomer: 7, ttl: 0), from: 100).isEmpty && !view.active.contains(7))
        #expect(view.receive(.join, from: 7).isEmpty)
        // A shuffle carrying 10,000 members leaves the passive view at its bound.
        let flood = (1_000..<11_000).map { MemberID($0) }
        _ = view.receive(.shuffle(origin: 555, ttl: 0, sample: flood), from: view.active[0])
        _ = view.receive(.shuffleReply(sample: flood), from: view.active[1])
        #expect(view.active.count <= 5 && view.passive.count <= 30)
        // An unasked NEIGHBOR_REPLY changes nothing; DISCONNECT moves the member to passive and asks a passive one.
        let before = view.active
        #expect(view.receive(.neighborReply(accepted: true), from: 123_456).isEmpty && view.active == before)
        let dropped = view.active[0]
        let asks = view.receive(.disconnect, from: dropped)
        #expect(!view.active.contains(dropped) && view.passive.contains(dropped))
        #expect(asks.count == 1 && asks[0].message == .neighbor(highPriority: false) && asks[0].to != dropped)
        // A refusal asks another; the failure of every active member makes the request high priority.
        let next = view.receive(.neighborReply(accepted: false), from: asks[0].to)
        #expect(next.count == 1 && next[0].to != asks[0].to)
        var lonely = PartialView(id: 8, seed: 1)
        _ = lonely.receive(.connect, from: 1)
        _ = lonely.receive(.disconnect, from: 2)  // not active: ignored
        for member: MemberID in 20..<25 { _ = lonely.receive(.shuffleReply(sample: [member]), from: 1) }
        let urgent = lonely.failed(1)
        #expect(lonely.active.isEmpty && urgent.count == 1 && urgent[0].message == .neighbor(highPriority: true))
    }

    @Test("2,000 nodes that each know ≤ 5 + 30 members and their own lookups: symmetric connected active views, and lookups find the closest node")
    func mesh() {
        let sim = PartialViewSimulator(nodes: 2_000, seed: 3)
        #expect(sim.views.allSatisfy { $0.active.count >= 1 && $0.active.count <= 5 && $0.passive.count <= 30 })
        #expect(sim.asymmetricLinks() == 0)
        for _ in 0..<5 {
            let rounds = sim.spreadRounds(from: sim.randomNode())
            #expect(rounds != nil, "the active views connect the mesh")
        }
        #expect(sim.tableSizes().allSatisfy { $0 < 2_000 / 4 }, "no table holds the whole mesh")
        var found = 0
        for _ in 0..<200 {
            let target = sim.randomKey()
            let lookup = sim.lookup(from: sim.randomNode(), target: target)
            if lookup.result.first == sim.trulyClosest(to: target) { found += 1 }
        }
        #expect(found >= 196, "found the closest node in \(found) of 200 lookups")
    }
}
