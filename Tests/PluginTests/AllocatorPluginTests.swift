// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

/// The adaptive allocator plugin through the host, as a node calls it: the seed's tables, the load rules,
/// and CRUSH-style placement (no duplicate holders, minimal movement on join, leave and reweight).
@Suite("Adaptive allocator plugin")
struct AllocatorPluginTests {
    static let mb: UInt64 = 1 << 20
    static let gb: UInt64 = 1 << 30

    static func allocator(config: [String: String] = [:]) throws -> (HostRuntime, AllocatorHandle) {
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosAdaptiveAllocator")), kind: .allocator, config: config)]),
            logger: quietLogger)
        try host.start()
        return (host, AllocatorHandle(slot: try #require(host.slot("allocator"))))
    }

    static func node(_ n: Int, load: Double = 0.1, capacity: UInt64 = 1 << 50, region: UInt32 = 0, capabilities: UInt64 = 0, healthy: Bool = true) -> PlacementNode {
        var id = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: UInt64(n).bigEndian) { id.replaceSubrange(0..<8, with: $0) }
        id[31] = 0xA5
        return PlacementNode(id: id, load: load, capacityBytes: capacity, freeBytes: capacity, capabilities: capabilities, region: region, healthy: healthy)
    }

    static func key(_ n: Int) -> [UInt8] {
        var generator = SeededRandom(seed: UInt64(n) &+ 0x9E37)
        return (0..<32).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    @Test("the seed's size tiers, strategies and the 5..700 clamp on a large network")
    func sizeTiers() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = (0..<1000).map { Self.node($0) }
        let table: [(UInt64, Int, PlacementPlan.Strategy)] = [
            (512 << 10, 5, .full), (5 * Self.mb, 10, .chunked), (50 * Self.mb, 30, .chunked),
            (500 * Self.mb, 100, .erasure), (5 * Self.gb, 300, .erasure), (50 * Self.gb, 500, .hierarchical),
        ]
        for (size, replicas, strategy) in table {
            let plan = try allocator.plan(PlacementRequest(resourceSize: size, creditBudget: 500), nodes: nodes)
            #expect(plan.replicas == replicas, "size \(size)")
            #expect(plan.idealReplicas == replicas)
            #expect(plan.strategy == strategy)
        }
        // Erasure: the stripe is the configured 10+2 (20% parity) on a network this large, one shard per node.
        let erasure = try allocator.plan(PlacementRequest(resourceSize: 500 * Self.mb), nodes: nodes)
        #expect(erasure.dataShards == 10 && erasure.parityShards == 2 && erasure.copies == 100 / 12)
        // Hierarchical: 5–7 seeds holding everything, hubs per region with a 20% subset.
        let massive = try allocator.plan(PlacementRequest(resourceSize: 50 * Self.gb, demandScore: 1, creditBudget: 50_000), nodes: nodes)
        #expect(massive.idealReplicas == 1500)
        #expect(massive.replicas == 700, "clamped to the maximum")
        #expect((5...7).contains(massive.seeds) && massive.hubFraction == 0.2 && massive.hubsPerRegion == 100)
    }

    @Test("resource sizes and budgets 0, 1, max − 1 and max (a peer's STORE policy names any) plan without trapping, on one node or many")
    func extremeSizes() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        for nodes in [[Self.node(0)], (0..<20).map { Self.node($0) }] {
            for value in [UInt64(0), 1, .max - 1, .max] {
                let plan = try allocator.plan(PlacementRequest(resourceSize: value, creditBudget: value), nodes: nodes)
                #expect(plan.replicas <= nodes.count)
                if value >= .max - 1 { #expect(plan.strategy == .hierarchical && plan.replicas == 0, "nothing can hold 2^64 bytes") }
            }
        }
    }

    @Test("demand multiplies by 1 + score; budget tiers by 0.5 / 1 / 1.3 / 1.5; the minimum is 5")
    func demandAndBudget() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = (0..<1000).map { Self.node($0) }
        func replicas(_ size: UInt64, demand: Double = 0, budget: UInt64) throws -> Int {
            try allocator.plan(PlacementRequest(resourceSize: size, demandScore: demand, creditBudget: budget), nodes: nodes).replicas
        }
        #expect(try replicas(50 * Self.mb, budget: 500) == 30)
        #expect(try replicas(50 * Self.mb, demand: 0.5, budget: 500) == 45)
        #expect(try replicas(50 * Self.mb, demand: 1, budget: 500) == 60)
        #expect(try replicas(50 * Self.mb, demand: 7, budget: 500) == 60, "the score is clamped to 0...1")
        #expect(try replicas(50 * Self.mb, budget: 50) == 15)
        #expect(try replicas(50 * Self.mb, budget: 5_000) == 39)
        #expect(try replicas(500 * Self.mb, budget: 50_000) == 150)
        #expect(try replicas(1024, budget: 0) == 5, "free tier halves 5 to 2; the minimum keeps 5")
    }

    @Test("the seed's load example: 1 GB, ideal 100, 80 healthy nodes at 30% → 80 replicas, load stays in 25–50%")
    func seedLoadExample() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        // 80 nodes of 256 MiB each: the ~16 MiB share (1 GiB × 12/10 parity / 80, plus a chunk) adds ~6%.
        let nodes = (0..<80).map { Self.node($0, load: 0.30, capacity: 256 * Self.mb) }
        // "1GB" as 10^9 bytes: the seed's tiers put 2^30 bytes (not < 1 GiB) in the next tier (300).
        let plan = try allocator.plan(PlacementRequest(resourceSize: 1_000_000_000, creditBudget: 500), nodes: nodes)
        #expect(plan.idealReplicas == 100)
        #expect(plan.replicas == 80)
        #expect(plan.expectedLoad > 0.30 && plan.expectedLoad >= 0.25 && plan.expectedLoad <= 0.5, "\(plan.expectedLoad)")
    }

    @Test("never past 50% load: nodes a piece would push over are skipped, in plan and in place")
    func maximumLoad() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        // 20 nodes at 45% with 100 MiB capacity: a 10 MiB piece takes them to 55%.
        let busy = (0..<20).map { Self.node($0, load: 0.45, capacity: 100 * Self.mb) }
        let idle = (20..<30).map { Self.node($0, load: 0.10, capacity: 100 * Self.mb) }
        let nodes = busy + idle
        let plan = try allocator.plan(PlacementRequest(resourceSize: 512 << 10), nodes: nodes)
        #expect(plan.usableNodes == 30, "a 512 KiB copy keeps everyone under 50%")
        for n in 0..<200 {
            let chosen = try allocator.place(PlacementRequest(resourceSize: 10 * Self.mb, key: Self.key(n), replicas: 5, pieceBytes: 10 * Self.mb), nodes: nodes)
            #expect(chosen.count == 5)
            #expect(chosen.allSatisfy { $0 >= 20 }, "a node at 45% + 10% was chosen")
        }
        // Every node already at the maximum: nothing can be placed; the plan says so instead of overloading.
        let full = (0..<10).map { Self.node($0, load: 0.5, capacity: 100 * Self.mb) }
        #expect(try allocator.plan(PlacementRequest(resourceSize: 5 * Self.mb), nodes: full).replicas == 0)
        #expect(try allocator.place(PlacementRequest(resourceSize: Self.mb, key: Self.key(1), replicas: 3, pieceBytes: Self.mb), nodes: full).isEmpty)
    }

    @Test("sparse networks get fewer replicas than 5, never an overloaded or unhealthy node")
    func sparseNetwork() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let nodes = [Self.node(1), Self.node(2), Self.node(3), Self.node(4, healthy: false)]
        let plan = try allocator.plan(PlacementRequest(resourceSize: 5 * Self.mb), nodes: nodes)
        #expect(plan.replicas == 3 && plan.copies == 3)
        let chosen = try allocator.place(PlacementRequest(resourceSize: 5 * Self.mb, key: Self.key(9), replicas: 5, pieceBytes: Self.mb), nodes: nodes)
        #expect(Set(chosen) == [0, 1, 2])
        // Erasure on a small network: the stripe shrinks to fit distinct nodes, keeping ~20% parity.
        let six = (0..<6).map { Self.node($0) }
        let erasure = try allocator.plan(PlacementRequest(resourceSize: 200 * Self.mb), nodes: six)
        #expect(erasure.dataShards == 5 && erasure.parityShards == 1)
    }

    @Test("capabilities filter holders")
    func capabilities() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let gpu: UInt64 = 1 << 2
        let nodes = (0..<40).map { Self.node($0, capabilities: $0 % 4 == 0 ? gpu | 1 : 1) }
        for n in 0..<100 {
            let chosen = try allocator.place(PlacementRequest(resourceSize: Self.mb, requiredCapabilities: gpu, key: Self.key(n), replicas: 5, pieceBytes: Self.mb), nodes: nodes)
            #expect(chosen.count == 5 && chosen.allSatisfy { $0 % 4 == 0 })
        }
        #expect(try allocator.plan(PlacementRequest(resourceSize: Self.mb, requiredCapabilities: 1 << 9), nodes: nodes).replicas == 0)
    }

    /// Holders of `keys` keys, as sets of node IDs (so sets compare across node lists in different orders).
    static func holders(_ allocator: AllocatorHandle, _ nodes: [PlacementNode], keys: Int, replicas: Int) throws -> [Set<[UInt8]>] {
        try (0..<keys).map { n in
            Set(try allocator.place(PlacementRequest(resourceSize: Self.mb, key: Self.key(n), replicas: replicas, pieceBytes: Self.mb), nodes: nodes).map { nodes[$0].id })
        }
    }

    @Test("straw2 placement: distinct holders, deterministic, balanced by capacity")
    func placementBasics() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let (host2, allocator2) = try Self.allocator()
        defer { host2.shutdown() }
        // Nodes 0–9 have twice the capacity of nodes 10–29.
        let nodes = (0..<30).map { Self.node($0, capacity: $0 < 10 ? 2 << 40 : 1 << 40) }
        let sets = try Self.holders(allocator, nodes, keys: 3000, replicas: 3)
        #expect(sets.allSatisfy { $0.count == 3 }, "duplicate holders")
        #expect(try Self.holders(allocator2, nodes.reversed(), keys: 3000, replicas: 3) == sets, "another process, another order: same holders")
        var counts: [[UInt8]: Int] = [:]
        for set in sets { for id in set { counts[id, default: 0] += 1 } }
        let big = nodes.prefix(10).map { Double(counts[$0.id] ?? 0) }.reduce(0, +) / 10
        let small = nodes.suffix(20).map { Double(counts[$0.id] ?? 0) }.reduce(0, +) / 20
        #expect(big / small > 1.6 && big / small < 2.4, "twice the capacity should hold about twice the keys: \(big) vs \(small)")
    }

    @Test("CRUSH movement bounds: a join, a leave or a reweight moves only what it must")
    func minimalMovement() throws {
        let (host, allocator) = try Self.allocator()
        defer { host.shutdown() }
        let keys = 4000, replicas = 3
        let nodes = (0..<40).map { Self.node($0) }
        let before = try Self.holders(allocator, nodes, keys: keys, replicas: replicas)

        // Join: only keys that gain the new node change, and each loses exactly one old holder.
        let joined = nodes + [Self.node(40)]
        let afterJoin = try Self.holders(allocator, joined, keys: keys, replicas: replicas)
        var moved = 0
        for (old, new) in zip(before, afterJoin) where old != new {
            moved += 1
            #expect(new.contains(joined[40].id) && new.subtracting(old) == [joined[40].id] && old.subtracting(new).count == 1)
        }
        // The optimum is keys × replicas / 41 ≈ 293 moved keys.
        let optimum = Double(keys * replicas) / 41
        #expect(Double(moved) > optimum * 0.7 && Double(moved) < optimum * 1.3, "moved \(moved), optimum \(optimum)")

        // Leave: only keys the node held change, each swapping it for one other node.
        var left = nodes
        let gone = left.remove(at: 17)
        let afterLeave = try Self.holders(allocator, left, keys: keys, replicas: replicas)
        for (old, new) in zip(before, afterLeave) {
            if old.contains(gone.id) {
                #expect(!new.contains(gone.id) && old.subtracting(new) == [gone.id] && new.subtracting(old).count == 1)
            } else {
                #expect(old == new, "a key that never was on the leaving node moved")
            }
        }

        // Reweight: node 5 above the target load gets a lower straw2 weight; only its keys move.
        var reweighted = nodes
        reweighted[5].load = 0.45
        let afterReweight = try Self.holders(allocator, reweighted, keys: keys, replicas: replicas)
        var lost = 0
        for (old, new) in zip(before, afterReweight) where old != new {
            lost += 1
            #expect(old.contains(nodes[5].id) && !new.contains(nodes[5].id) && old.subtracting(new) == [nodes[5].id])
        }
        #expect(lost > 0, "a node at 45% load should shed keys")
    }

    @Test("the size classes' bounds and the hubs' share are configurable: a 300 MB resource goes hierarchical in a scaled-down mesh")
    func scaledClasses() throws {
        let (host, allocator) = try Self.allocator(config: [
            "chunked_from_mib": "1", "erasure_from_mib": "64", "hierarchical_from_mib": "256", "hub_fraction": "0.25",
        ])
        defer { host.shutdown() }
        let nodes = (0..<30).map { Self.node($0, region: UInt32($0 % 3 + 1)) }
        let strategies = try [512 << 10, 10 * Self.mb, 100 * Self.mb, 300 * Self.mb].map { size in
            try allocator.plan(PlacementRequest(resourceSize: UInt64(size)), nodes: nodes).strategy
        }
        #expect(strategies == [.full, .chunked, .erasure, .hierarchical])
        let plan = try allocator.plan(PlacementRequest(resourceSize: 300 * Self.mb), nodes: nodes)
        #expect(plan.idealReplicas == 100 && plan.replicas == 30 && plan.seeds == 5 && plan.hubFraction == 0.25 && plan.hubsPerRegion == 25 / 3, "\(plan)")
        #expect {
            _ = try Self.allocator(config: ["erasure_from_mib": "512", "hierarchical_from_mib": "256"])
        } throws: { error in
            "\(error)".contains("size classes out of order")
        }
        #expect {
            _ = try Self.allocator(config: ["hierarchical_from_mib": "-1"])
        } throws: { error in
            "\(error)".contains("hierarchical_from_mib = -1")
        }
    }

    @Test("bad configuration is refused with a clear message")
    func badConfiguration() throws {
        #expect {
            _ = try Self.allocator(config: ["min_replicas": "10", "max_replicas": "5"])
        } throws: { error in
            "\(error)".contains("min_replicas 10 is above max_replicas 5")
        }
        #expect {
            _ = try Self.allocator(config: ["max_load": "1.5"])
        } throws: { error in
            "\(error)".contains("max_load = 1.5")
        }
        let (host, allocator) = try Self.allocator(config: ["min_replicas": "3", "max_replicas": "9"])
        defer { host.shutdown() }
        let nodes = (0..<100).map { Self.node($0) }
        #expect(try allocator.plan(PlacementRequest(resourceSize: 5 * Self.gb), nodes: nodes).replicas == 9)
    }
}
