// SPDX-License-Identifier: Apache-2.0
import Foundation
import Identity
import Mesh
import MeshCore
import NodeTestSupport
import Testing

/// Whole meshes of real nodes (memory transport, real peer layer and services) in virtual time: what the
/// process tests take seconds to a minute of wall time for takes a few hundred milliseconds here, and asserts
/// protocol rounds, not the machine's speed.
@Suite("Mesh harness: many nodes in virtual time")
struct MeshHarnessTests {
    /// What a run ends with, for comparing two runs of one seed.
    struct Outcome: Equatable {
        var ids: [NodeID]
        var converged: Bool
        var killedSeenDead: [Bool]
        var views: [String]
    }

    static func membershipRun(nodes count: Int, seed: UInt64, kill victim: Int) throws -> Outcome {
        let mesh = try MeshHarness(nodes: count, seed: seed)
        defer { mesh.close() }
        // Every node dialed only node 0; SWIM spreads the members and sessions follow.
        let converged = mesh.run(until: { $0.allSee(alive: count - 1) }, within: 120)
        mesh.kill(victim)
        // A crashed member is suspected, then declared dead, by every survivor.
        let declared = mesh.run(until: { $0.allSee(alive: count - 2, dead: 1) }, within: 120)
        let killedSeenDead = mesh.alive.map { mesh.nodes[$0]!.peers!.membership!.status(of: mesh.ids[victim]) == .dead }
        let views = mesh.alive.map { index -> String in
            let summary = mesh.summary(index)!
            return "\(summary.alive)/\(summary.suspect)/\(summary.dead)"
        }
        #expect(declared, "views after the kill: \(views)")
        return Outcome(ids: mesh.ids, converged: converged, killedSeenDead: killedSeenDead, views: views)
    }

    @Test("20 nodes through one seed peer converge on membership, and all 19 survivors declare a killed node dead; the same seed gives the same outcome")
    func twentyNodes() throws {
        let first = try Self.membershipRun(nodes: 20, seed: 20_260, kill: 7)
        #expect(first.converged)
        #expect(first.killedSeenDead == Array(repeating: true, count: 19))
        #expect(first.views == Array(repeating: "18/0/1", count: 19))
        #expect(Set(first.ids).count == 20)
        let again = try Self.membershipRun(nodes: 20, seed: 20_260, kill: 7)
        #expect(again == first)
        // Another seed: other identities, the same protocol outcome.
        let other = try Self.membershipRun(nodes: 20, seed: 20_261, kill: 7)
        #expect(other.ids != first.ids)
        #expect(other.views == first.views)
    }

    /// The harness version of NodeProcessTests' "membership and DHT" (four processes, up to a minute of wall time
    /// per phase): membership and status gossip through one bootstrap peer, the DHT finding a provider, the
    /// killed provider declared dead and its records expiring after their TTL, and the rest going on without
    /// the bootstrap peer.
    @Test("four nodes: membership and status through one bootstrap peer, the DHT finds a provider, a killed node is declared dead and its provider records expire, the rest go on without the bootstrap peer")
    func membershipAndProviders() throws {
        let mesh = try MeshHarness(nodes: 4, seed: 4)
        defer { mesh.close() }
        let key = Array(repeating: UInt8(0xA7), count: 32)
        let provider = 3
        mesh.nodes[provider]!.peers!.provide(every: 1, ttl: 30) { [key] }
        #expect(mesh.run(until: { $0.allSee(alive: 3) }, within: 30))
        // Each node hears the other three's status gossip.
        #expect(mesh.run(until: { mesh in mesh.alive.allSatisfy { mesh.nodes[$0]!.peers!.gossip!.known.count == 3 } }, within: 30))
        // The record reaches the members closest to the key; asked through node 0, the DHT names the provider.
        #expect(mesh.run(until: { mesh in mesh.alive.filter { !mesh.nodes[$0]!.peers!.localProviders(key).isEmpty }.count >= 2 }, within: 10))
        let peers0 = mesh.nodes[0]!.peers!
        let connection = try #require(mesh.connection(0, to: 1))
        let found = try mesh.complete { try await peers0.findProviders(key, on: connection, recursive: true) }
        #expect(found.map(\.address) == [mesh.addresses[provider]])
        #expect(found.first?.member == Membership.member(mesh.ids[provider]))

        mesh.kill(provider)
        #expect(mesh.run(until: { $0.allSee(alive: 2, dead: 1) }, within: 60))
        // Nobody republishes the record now: it is gone everywhere once its 30 s are up (and not passed back).
        #expect(mesh.run(until: { mesh in mesh.alive.allSatisfy { mesh.nodes[$0]!.peers!.localProviders(key).isEmpty } }, within: 40))
        let forgotten = mesh.elapsedSeconds
        mesh.advance(seconds: 10)
        #expect(mesh.alive.allSatisfy { mesh.nodes[$0]!.peers!.localProviders(key).isEmpty }, "at \(forgotten) s")

        // After first contact no node is required: without the bootstrap peer, 1 and 2 go on together.
        mesh.kill(0)
        #expect(mesh.run(until: { $0.allSee(alive: 1, dead: 2) }, within: 60))
        #expect(mesh.connection(1, to: 2) != nil)
    }

    @Test("a partition: each side declares the other dead; the harness drops frames across it but keeps the nodes running")
    func partition() throws {
        let mesh = try MeshHarness(nodes: 6, seed: 6)
        defer { mesh.close() }
        #expect(mesh.run(until: { $0.allSee(alive: 5) }, within: 60))
        mesh.partition([[0, 1, 2], [3, 4, 5]])
        #expect(mesh.run(until: { $0.allSee(alive: 2, dead: 3) }, within: 120), "\(mesh.alive.map { mesh.summary($0)! })")
        #expect(mesh.alive.count == 6)
    }

    @Test("virtual time: a minute of mesh life is stepped without sleeping, and a quiet mesh settles in one round")
    func virtualTime() throws {
        let mesh = try MeshHarness(nodes: 3, seed: 3)
        defer { mesh.close() }
        #expect(mesh.run(until: { $0.allSee(alive: 2) }, within: 30))
        let before = mesh.elapsedSeconds
        mesh.advance(seconds: 60)
        #expect(mesh.elapsedSeconds - before >= 60)
        // Nothing is in flight between steps: the next settle finds every inbox and lane empty.
        #expect(mesh.settle() == 0)
        #expect(mesh.lastSettleRounds == 1)
        // Keepalives and SWIM kept every session over the minute.
        #expect(mesh.allSee(alive: 2))
        #expect(mesh.connection(1, to: 2) != nil)
    }
}
