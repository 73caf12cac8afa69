// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Host
import HostTestSupport
import Mesh
import Testing

@testable import Replication

/// The placement map for each strategy, with the real allocator plugin.
@Suite("Placement maps")
struct PlacementMapTests {
    static let mb: UInt64 = 1 << 20, gb: UInt64 = 1 << 30

    static func allocator() throws -> (HostRuntime, AllocatorHandle) {
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosAdaptiveAllocator")), kind: .allocator)]),
            logger: quietLogger)
        try host.start()
        return (host, AllocatorHandle(slot: try #require(host.slot("allocator"))))
    }

    static func nodes(_ count: Int, regions: UInt32 = 1) -> [PlacementNode] {
        (0..<count).map { n in
            PlacementNode(id: MemberInfo.placementKey(UInt64(n) &* 0x9E37_79B9_7F4A_7C15 &+ 1), load: 0.3, capacityBytes: 1 << 44, freeBytes: 1 << 44,
                          region: UInt32(n) % regions)
        }
    }

    static func pieces(_ count: Int) -> [(id: ContentID, storedLength: UInt64)] {
        (0..<count).map { (ContentID(hashing: Array("piece \($0)".utf8)), mb) }
    }

    @Test("erasure: the k+m shards of a stripe sit on distinct nodes")
    func erasureStripes() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = Self.nodes(40)
        let request = PlacementRequest(resourceSize: 200 * Self.mb, key: Array(repeating: 3, count: 32))
        let plan = try allocator.plan(request, nodes: nodes)
        #expect(plan.strategy == .erasure && plan.dataShards == 10 && plan.parityShards == 2)
        let pieces = Self.pieces(200 + 40)  // 20 stripes of 10 + 2
        let map = try PlacementMap.build(resource: ContentID(hashing: [1]), pieces: pieces, chunkCount: 200, plan: plan, request: request, nodes: nodes, allocator: allocator)
        for stripe in 0..<20 {
            let members = Array((stripe * 10)..<(stripe * 10 + 10)) + [200 + stripe * 2, 201 + stripe * 2]
            let holders = members.map { Set(map.holders[$0]) }
            #expect(holders.allSatisfy { $0.count == plan.copies })
            // No node holds two shards of one stripe: losing any m nodes loses at most m shards.
            #expect(holders.reduce(Set<Int>()) { $0.union($1) }.count == 12 * plan.copies)
        }
    }

    @Test("hierarchical: seeds hold every piece; each region's hubs hold a ~20% subset of chunks and all parity")
    func hierarchical() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = Self.nodes(400, regions: 4)
        let request = PlacementRequest(resourceSize: 20 * Self.gb, key: Array(repeating: 9, count: 32))
        let plan = try allocator.plan(request, nodes: nodes)
        #expect(plan.strategy == .hierarchical && (5...7).contains(plan.seeds) && plan.hubsPerRegion > 0)
        let chunkCount = 500
        let pieces = Self.pieces(chunkCount + 100)
        let map = try PlacementMap.build(resource: ContentID(hashing: [2]), pieces: pieces, chunkCount: chunkCount, plan: plan, request: request, nodes: nodes, allocator: allocator)
        let seeds = Set(map.holders[0].prefix(plan.seeds))
        #expect(seeds.count == plan.seeds)
        for holders in map.holders {
            #expect(seeds.isSubset(of: Set(holders)), "a seed lacks a piece")
            #expect(Set(holders).count == holders.count, "duplicate holder")
        }
        for region in UInt32(0)..<4 {
            let hubs = Set(map.holders[chunkCount].filter { !seeds.contains($0) && nodes[$0].region == region })
            #expect(hubs.count == plan.hubsPerRegion, "region \(region)'s hubs hold its parity")
            let carried = (0..<chunkCount).filter { !Set(map.holders[$0]).isDisjoint(with: hubs) }.count
            let share = Double(carried) / Double(chunkCount)
            #expect(share > 0.12 && share < 0.28, "region \(region) hubs carry \(share) of the chunks")
        }
    }

    @Test("hierarchical on a mesh too small for hubs (all replicas are seeds): the seeds alone hold it, no hubs")
    func hierarchicalWithoutHubs() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = Self.nodes(9, regions: 3)
        let request = PlacementRequest(resourceSize: 20 * Self.gb, key: Array(repeating: 3, count: 32))
        var plan = try allocator.plan(request, nodes: nodes)
        plan.hubsPerRegion = 0
        let map = try PlacementMap.build(resource: ContentID(hashing: [3]), pieces: Self.pieces(30), chunkCount: 24, plan: plan, request: request, nodes: nodes, allocator: allocator)
        #expect(map.allHolders.count == plan.seeds, "\(map.allHolders) for \(plan.seeds) seeds")
        #expect(map.holders.allSatisfy { Set($0) == Set(map.holders[0]) })
    }
}
