// SPDX-License-Identifier: Apache-2.0
import Foundation
import Identity
import Mesh
import MeshCore
import NodeTestSupport
import Testing

/// Nodes whose SWIM view is bounded (`[mesh] max_members`): the view stays a renewing sample of the mesh, the
/// Kademlia routing table keeps what the view let go, and the DHT's records still land at — and are found
/// through — the members truly closest to their keys, from any node.
@Suite("Partial views in the node: bounded SWIM, k-bucket routing")
struct PartialViewNodeTests {
    static let nodes = 48
    static let view = 8

    @Test("48 nodes with views of 8: every view stays within 8, the routing tables outgrow it, a provider record reaches the 20 members closest to its key (and, once early records expire, only members near it) and is found from every node")
    func boundedViewsRouteLookups() throws {
        let mesh = try MeshHarness(nodes: Self.nodes, seed: 19_019) { configuration, _ in
            configuration.manifest.mesh.maxMembers = Self.view
        }
        defer { mesh.close() }
        let key = Array(repeating: UInt8(0x5C), count: 32)
        let provider = 29
        mesh.advance(seconds: 60)
        for index in mesh.alive {
            let membership = mesh.nodes[index]!.peers!.membership!
            #expect(membership.view.count <= Self.view, "node \(index) holds \(membership.view.count) members")
        }
        let partial = mesh.alive.filter { mesh.nodes[$0]!.peers!.membership!.isPartial }
        #expect(partial.count == Self.nodes, "views partial at \(partial.count) of \(Self.nodes) nodes")
        let contacts = mesh.alive.map { mesh.nodes[$0]!.peers!.membership!.contacts.count }
        #expect(contacts.allSatisfy { $0 >= 2 * Self.view }, "routing contacts per node: \(contacts)")

        // The five members truly closest to the key (of all 48, by XOR on member IDs) end up holding the record.
        let target = key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let members = mesh.ids.map(Membership.member)
        let closest = members.indices.sorted { (members[$0] ^ target) < (members[$1] ^ target) }.prefix(5)
        mesh.nodes[provider]!.peers!.provide(every: 10, ttl: 120) { [key] }
        let reached = mesh.run(until: { mesh in closest.allSatisfy { !mesh.nodes[$0]!.peers!.localProviders(key).isEmpty } }, within: 120)
        let holding = mesh.alive.filter { !mesh.nodes[$0]!.peers!.localProviders(key).isEmpty }
        #expect(reached, "closest \(Array(closest)), holding the record: \(holding)")
        // And, once the records of the first rounds (sent while the tables were young, to the closest known then)
        // have expired, only members near the key hold it: every holder among the 24 closest (k = 20, and a lookup
        // that missed one of them — it did not answer in time — takes the next), the 20 closest all among them.
        // Without routing the record went to the provider's view: 8 members anywhere in the ID space.
        let ranked = members.indices.sorted { (members[$0] ^ target) < (members[$1] ^ target) }
        mesh.advance(seconds: 130)
        let holdingNow = mesh.alive.filter { !mesh.nodes[$0]!.peers!.localProviders(key).isEmpty }
        let ranks = holdingNow.map { ranked.firstIndex(of: $0)! }.sorted()
        #expect(ranks.count >= 20 && ranks.allSatisfy { $0 < 24 } && Set(0..<20).isSubset(of: Set(ranks)), "holders' ranks by distance to the key: \(ranks)")

        // Asked through any member of its view, every node finds the provider (the recursive answer routes).
        var missed: [Int] = []
        for index in mesh.alive where index != provider {
            let peers = mesh.nodes[index]!.peers!
            guard let other = mesh.alive.first(where: { $0 != index && mesh.connection(index, to: $0) != nil }),
                let connection = mesh.connection(index, to: other)
            else {
                missed.append(index)
                continue
            }
            let found = try mesh.complete { try await peers.findProviders(key, on: connection, recursive: true) }
            if found.first?.member != members[provider] { missed.append(index) }
        }
        #expect(missed.isEmpty, "nodes that did not find the provider: \(missed)")
    }
}
