// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Content
import Foundation
import Host
import Logging
import Mesh
import Primitives
import Replication

extension Sim {
    /// The allocator plugin (loaded as a node loads it) over a simulated network: the seed's replica table, and
    /// the load of every node while a mixed workload is placed piece by piece with the same `PlacementMap` the
    /// node uses — from the seed's starting point (average load 30%) until the average reaches the 37.5% target.
    func runPlacement() throws {
        var manifest = embeddedManifest(dataDirectory: NSTemporaryDirectory())
        manifest.plugins = manifest.plugins.filter { $0.kind == .allocator }
        guard !manifest.plugins.isEmpty else { throw InosError(.failed, "the embedded manifest has no allocator") }
        manifest.plugins[0].required = true
        let host = try HostRuntime(manifest: manifest, logger: Logger(label: "sim") { _ in SwiftLogNoOpLogHandler() })
        do { try host.start() } catch { throw InosError(.failed, "cannot load the allocator", cause: error) }
        defer { host.shutdown() }
        let allocator = AllocatorHandle(slot: host.slot("allocator")!)
        var random = SplitMix(seed)
        let mb: UInt64 = 1 << 20, gb: UInt64 = 1 << 30
        let capacity: UInt64 = 64 * gb

        // 1. The replica table: size tiers × demand × budget tiers on `nodes` nodes at 30% load.
        var network = (0..<nodes).map { n in
            PlacementNode(id: MemberInfo.placementKey(UInt64(n) &* UInt64(0x9E37_79B9_7F4A_7C15)), load: 0.2 + 0.2 * random.unit(),
                          capacityBytes: capacity, freeBytes: capacity, region: UInt32(n % 4))
        }
        let sizes: [(String, UInt64)] = [("512 KB", 512 << 10), ("5 MB", 5 * mb), ("50 MB", 50 * mb), ("500 MB", 500 * mb), ("5 GB", 5 * gb), ("50 GB", 50 * gb)]
        let budgets: [(String, UInt64)] = [("free", 50), ("standard", 500), ("premium", 5_000), ("enterprise", 50_000)]
        var replicaRows: [String] = ["size,demand,budget,strategy,ideal,replicas,copies,stripe"]
        print("replicas on \(nodes) nodes (average load 30%):")
        print("| size | strategy | demand 0, standard | demand 1, standard | demand 0, free | demand 1, enterprise |")
        print("|---|---|---|---|---|---|")
        for (name, size) in sizes {
            var cells: [String] = []
            var strategy = ""
            for (demand, budget) in [(0.0, budgets[1]), (1.0, budgets[1]), (0.0, budgets[0]), (1.0, budgets[3])] {
                let plan: PlacementPlan
                do { plan = try allocator.plan(PlacementRequest(resourceSize: size, demandScore: demand, creditBudget: budget.1), nodes: network) } catch {
                    throw error
                }
                strategy = "\(plan.strategy)"
                cells.append(plan.replicas == plan.idealReplicas ? "\(plan.replicas)" : "\(plan.replicas) (ideal \(plan.idealReplicas))")
                replicaRows.append("\(size),\(demand),\(budget.0),\(plan.strategy),\(plan.idealReplicas),\(plan.replicas),\(plan.copies),\(plan.dataShards)+\(plan.parityShards)")
            }
            print("| \(name) | \(strategy) | \(cells.joined(separator: " | ")) |")
        }

        // 2. The load table: place a mixed workload until the average load reaches the 37.5% target.
        func stats(_ nodes: [PlacementNode]) -> (mean: Double, min: Double, p5: Double, p95: Double, max: Double, inBand: Double) {
            let loads = nodes.map(\.load).sorted()
            let mean = loads.reduce(0, +) / Double(loads.count)
            let band = Double(loads.filter { $0 >= 0.25 && $0 <= 0.5 }.count) / Double(loads.count)
            return (mean, loads.first!, loads[loads.count / 20], loads[loads.count * 19 / 20], loads.last!, band)
        }
        var loadRows: [String] = ["resources,placed_bytes,mean,min,p5,p95,max,share_in_25_50"]
        let start = stats(network)
        print("\nload while placing (start: the seed's average of 30%, nodes uniform in 20–40%):")
        print("| resources | placed | mean | min | p5 | p95 | max | nodes in 25–50% |")
        print("|---|---|---|---|---|---|---|---|")
        func row(_ resources: Int, _ bytes: UInt64, _ s: (mean: Double, min: Double, p5: Double, p95: Double, max: Double, inBand: Double)) {
            loadRows.append("\(resources),\(bytes),\(s.mean),\(s.min),\(s.p5),\(s.p95),\(s.max),\(s.inBand)")
            print(String(format: "| %d | %.0f GiB | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% |", resources, Double(bytes) / Double(gb),
                         s.mean * 100, s.min * 100, s.p5 * 100, s.p95 * 100, s.max * 100, s.inBand * 100))
        }
        row(0, 0, start)
        var placedBytes: UInt64 = 0, resources = 0, refused = 0
        var nextReport = 0.0
        let index = Dictionary(uniqueKeysWithValues: network.enumerated().map { ($0.element.id, $0.offset) })
        while stats(network).mean < 0.375 {
            // The seed's mix: mostly small and medium, some large, a few hot.
            let pick = random.unit()
            let size: UInt64 = pick < 0.5 ? UInt64(64 << 10 + Int(random.unit() * Double(900 << 10)))
                : pick < 0.85 ? UInt64(Double(mb) * (1 + random.unit() * 99))
                : UInt64(Double(100 * mb) * (1 + random.unit() * 9))
            let demand = random.unit() < 0.05 ? 1.0 : random.unit() * 0.3
            var request = PlacementRequest(resourceSize: size, demandScore: demand, creditBudget: 500)
            let resource = ContentID(hashing: withUnsafeBytes(of: random.next()) { Array($0) })
            request.key = Array(resource.bytes.suffix(32))
            guard let plan = try? allocator.plan(request, nodes: network), plan.copies > 0 else { refused += 1; continue }
            let chunkCount = Int((size + mb - 1) / mb)
            let parity = plan.parityShards > 0 ? (chunkCount + plan.dataShards - 1) / plan.dataShards * plan.parityShards : 0
            var pieces: [(id: ContentID, storedLength: UInt64)] = []
            for i in 0..<(chunkCount + parity) {
                let length = i < chunkCount - 1 || i >= chunkCount ? mb : size - UInt64(chunkCount - 1) * mb
                pieces.append((ContentID(hashing: withUnsafeBytes(of: random.next()) { Array($0) } + [UInt8(i & 0xFF)]), max(length, 1)))
            }
            guard let map = try? PlacementMap.build(resource: resource, pieces: pieces, chunkCount: chunkCount, plan: plan, request: request, nodes: network, allocator: allocator) else {
                refused += 1
                continue
            }
            for (i, holders) in map.holders.enumerated() {
                for h in holders {
                    let bytes = pieces[i].storedLength
                    network[h].load += Double(bytes) / Double(capacity)
                    network[h].freeBytes -= min(network[h].freeBytes, bytes)
                    placedBytes += bytes
                }
            }
            _ = index
            resources += 1
            let mean = stats(network).mean
            if mean >= nextReport {
                row(resources, placedBytes, stats(network))
                nextReport = mean + 0.015
            }
        }
        let end = stats(network)
        row(resources, placedBytes, end)
        print(String(format: "\n%d resources placed (%.0f GiB of copies), %d refused; the heaviest node ends at %.1f%% (never above 50%%), %.1f%% of nodes in the 25–50%% band (%.1f%% at the start)",
                     resources, Double(placedBytes) / Double(gb), refused, end.max * 100, end.inBand * 100, start.inBand * 100))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try replicaRows.joined(separator: "\n").write(toFile: (out as NSString).appendingPathComponent("placement-replicas.csv"), atomically: true, encoding: .utf8)
        try loadRows.joined(separator: "\n").write(toFile: (out as NSString).appendingPathComponent("placement-load.csv"), atomically: true, encoding: .utf8)
        print("wrote \(out)/placement-replicas.csv and placement-load.csv")
    }
}

/// A small deterministic generator for the simulations.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
