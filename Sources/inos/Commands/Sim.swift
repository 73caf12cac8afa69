// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import MeshCore

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a deterministic simulation of the mesh's membership protocol; write CSV and an SVG plot.",
        discussion: """
            Scenarios: join (a node joins through one seed: how many know it, round by round), loss (a steady \
            mesh under message loss: false death declarations), churn (a few nodes crash: how fast everyone \
            knows), partition (the mesh splits, then heals), dht (Kademlia lookups, k = 20, α = 3: hops per lookup,             with --loss as the share of nodes down), anti-entropy (two replicas of --nodes metadata items with 1%             differing: bytes moved against the differing items and against a full exchange), placement (the allocator plugin over --nodes nodes: the seed's replica table and node loads while a workload is placed up to the 37.5% target), partial-view (--nodes nodes that each know only a bounded HyParView view and a k-bucket table filled by their own lookups: join messages, how many rounds a newcomer's announcement floods to all, lookup hops, memory per node). The same --seed             replays the same run.
            """)

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case join, loss, churn, partition, dht, antientropy = "anti-entropy", placement, partialView = "partial-view"
    }

    @Argument(help: "join | loss | churn | partition | dht | anti-entropy | placement | partial-view") var scenario: Scenario
    @Option(name: .long, help: "Simulated nodes.") var nodes = 1000
    @Option(name: .long, help: "The random seed.") var seed: UInt64 = 1
    @Option(name: .long, help: "Message loss probability (0...1).") var loss = 0.0
    @Option(name: .long, help: "Simulated seconds.") var seconds = 60
    @Option(name: .long, help: "Folder for SCENARIO.csv and SCENARIO.svg.") var out = "."

    func validate() throws {
        guard nodes >= 2, nodes <= 100_000 else { throw ValidationError("--nodes must be 2...100000") }
        guard (0...1).contains(loss) else { throw ValidationError("--loss must be a probability 0...1") }
        guard seconds >= 1, seconds <= 86_400 else { throw ValidationError("--seconds must be 1...86400") }
    }

    func run() throws {
        var configuration = SwimSimulator.Configuration()
        configuration.nodes = nodes
        configuration.seed = seed
        configuration.loss = loss
        configuration.tickInterval = nodes > 2000 ? 100_000_000 : 50_000_000
        let second: UInt64 = 1_000_000_000
        let started = Date()
        if scenario == .dht { return try runDHT(started: started) }
        if scenario == .antientropy { return runAntiEntropy() }
        if scenario == .placement { return try runPlacement() }
        if scenario == .partialView { return try runPartialView(started: started) }
        let sim = SwimSimulator(configuration)
        var rows: [[Double]] = []
        var header: [String]
        var summary: [String] = []
        switch scenario {
        case .join:
            header = ["round", "nodes_knowing_newcomer"]
            sim.run(until: 2 * second)
            let newcomer = sim.join(through: 0)
            let start = sim.now
            var reachedAll: Int?
            for round in 0...seconds {
                sim.run(until: start + UInt64(round) * second)
                let known = sim.count(believing: .alive, about: newcomer)
                rows.append([Double(round), Double(known)])
                if known == nodes && reachedAll == nil { reachedAll = round }
                if reachedAll != nil && round >= reachedAll! + 2 { break }
            }
            let bound = 2 * log2(Double(nodes))
            summary.append("known to all \(nodes) nodes after \(reachedAll.map(String.init) ?? "more than \(seconds)") rounds (2·log2(N) = \(String(format: "%.1f", bound)))")
        case .loss, .churn, .partition, .dht, .antientropy, .placement, .partialView:
            header = ["second", "messages", "lost", "false_deaths", "dead_declarations", "refutations"]
            let crashed: [MemberID] = scenario == .churn ? (0..<max(1, nodes / 100)).map { MemberID($0 * 97 % nodes) } : []
            for time in 0...seconds {
                if scenario == .churn && time == 10 { crashed.forEach(sim.crash) }
                if scenario == .partition && time == 10 { sim.partition { $0 < MemberID(nodes / 2) } }
                if scenario == .partition && time == seconds / 2 { sim.heal() }
                sim.run(until: UInt64(time) * second)
                let m = sim.metrics
                rows.append([Double(time), Double(m.messages), Double(m.lost), Double(m.falseDeaths), Double(m.declarations), Double(m.refutations)])
            }
            let m = sim.metrics
            let pairs = Double(nodes) * Double(nodes - 1)
            summary.append("\(m.messages) messages, \(m.lost) lost; false death declarations \(m.falseDeaths) of \(Int(pairs)) observer/member pairs (\(String(format: "%.4f", Double(m.falseDeaths) / pairs * 100))%); refutations \(m.refutations)")
            if scenario == .churn {
                let known = crashed.map { sim.count(believing: .dead, about: $0) }
                summary.append("\(crashed.count) crashed nodes; each declared dead by \(known.min() ?? 0)...\(known.max() ?? 0) of \(nodes - crashed.count) live nodes")
            }
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let csv = ([header.joined(separator: ",")] + rows.map { $0.map { $0 == $0.rounded() ? String(Int($0)) : String($0) }.joined(separator: ",") }).joined(separator: "\n") + "\n"
        let csvPath = "\(out)/\(scenario.rawValue).csv", svgPath = "\(out)/\(scenario.rawValue).svg"
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let series: [SVGChart.Series] = scenario == .join
            ? [SVGChart.Series(name: "nodes that know the newcomer", points: rows.map { ($0[0], $0[1]) })]
            : [SVGChart.Series(name: "false death declarations", points: rows.map { ($0[0], $0[3]) }),
               SVGChart.Series(name: "death declarations", points: rows.map { ($0[0], $0[4]) })]
        let chart = SVGChart(
            title: "inos sim \(scenario.rawValue): \(nodes) nodes, loss \(loss), seed \(seed)",
            xLabel: scenario == .join ? "protocol round" : "simulated seconds", yLabel: scenario == .join ? "nodes" : "count",
            series: series)
        try chart.render().write(toFile: svgPath, atomically: true, encoding: .utf8)
        for line in summary { print(line) }
        print("wrote \(csvPath) and \(svgPath) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s of wall time)")
    }

    /// Two replicas of `nodes` items (provider-record sized, 144 bytes) of which 1% differ.
    private func runAntiEntropy() {
        var a = MerkleReplica(depth: nodes > 200_000 ? 5 : 4, digest: fnv1a64), b = MerkleReplica(depth: nodes > 200_000 ? 5 : 4, digest: fnv1a64)
        var state = seed | 1
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        var differing = 0
        for i in 0..<nodes {
            let key = Key256(next(), next(), next(), next())
            let value = (0..<144).map { _ in UInt8(truncatingIfNeeded: next()) }
            if i % 100 == 0 {
                var changed = value
                changed[0] &+= 1
                a.set(key, value)
                b.set(key, changed)
                differing += 32 + 144
            } else {
                a.set(key, value)
                b.set(key, value)
            }
        }
        let report = MerkleReplica.synchronize(&a, &b)
        let full = nodes * (32 + 144)
        print("\(nodes) items, \(nodes / 100) differing (\(differing) bytes): anti-entropy moved \(report.total) bytes (tree \(report.treeBytes), digests \(report.digestBytes), items \(report.itemBytes)) = \(String(format: "%.2f", Double(report.total) / Double(differing)))× the differing items, \(String(format: "%.2f", Double(report.total) / Double(full) * 100))% of a full exchange (\(full) bytes)")
    }

    /// A mesh of `nodes` nodes that each know only a bounded view: joins, the flood over active views, lookups
    /// through tables the nodes filled themselves, and the memory it all took.
    private func runPartialView(started: Date) throws {
        func residentBytes() -> Int {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
            else { return 0 }
            return kib * 1024
        }
        let before = residentBytes()
        let sim = PartialViewSimulator(nodes: nodes, seed: seed)
        let built = Date().timeIntervalSince(started)
        let resident = residentBytes() - before
        let active = sim.views.map(\.active.count), passive = sim.views.map(\.passive.count)
        let tables = sim.tableSizes().sorted()
        var spreads: [Int] = [], disconnected = 0
        for _ in 0..<20 {
            if let rounds = sim.spreadRounds(from: sim.randomNode()) { spreads.append(rounds) } else { disconnected += 1 }
        }
        spreads.sort()
        var hops: [Int] = [], exact = 0
        let lookups = 1000
        for _ in 0..<lookups {
            let target = sim.randomKey()
            let lookup = sim.lookup(from: sim.randomNode(), target: target)
            hops.append(lookup.hops)
            if lookup.result.first == sim.trulyClosest(to: target) { exact += 1 }
        }
        let sorted = hops.sorted()
        let (csvPath, svgPath) = try writeHops(hops, name: "partial-view", title: "inos sim partial-view: \(nodes) nodes, HyParView 5/30, k = 20, α = 3, seed \(seed)")
        print(String(format: "%d nodes joined one by one through a random earlier node in %.1f s: %.1f membership messages per node", nodes, built,
                     Double(sim.messages) / Double(nodes)))
        print("  by kind: " + sim.messagesByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("views: active \(active.min() ?? 0)...\(active.max() ?? 0) (bound 5), passive \(passive.min() ?? 0)...\(passive.max() ?? 0) (bound 30), \(sim.asymmetricLinks()) one-sided active link(s); routing tables \(tables.first ?? 0)...\(tables.last ?? 0) contacts (median \(tables[tables.count / 2]))")
        if spreads.isEmpty {
            print("a flood over the active views reached everyone from none of 20 nodes")
        } else {
            print("a flood over the active views reaches all \(nodes) nodes in \(spreads[spreads.count / 2]) rounds (median of \(spreads.count), max \(spreads.last!))\(disconnected > 0 ? "; from \(disconnected) of 20 nodes it did not reach everyone" : "")")
        }
        print("\(lookups) lookups through the nodes' own tables: hops median \(sorted[sorted.count / 2]), p99 \(sorted[sorted.count * 99 / 100]), max \(sorted.last ?? 0); found the closest node in \(exact) of \(lookups)")
        print(String(format: "memory: %.1f KiB resident per simulated node (views, routing table, index)", Double(resident) / 1024 / Double(nodes)))
        print("wrote \(csvPath) and \(svgPath) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s of wall time)")
    }

    /// The lookups' hop counts as NAME.csv (hops, lookups) and an SVG histogram in --out; their paths.
    private func writeHops(_ hops: [Int], name: String, title: String) throws -> (String, String) {
        var histogram = [Int](repeating: 0, count: (hops.max() ?? 0) + 1)
        for hop in hops { histogram[hop] += 1 }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let csvPath = "\(out)/\(name).csv", svgPath = "\(out)/\(name).svg"
        try (["hops,lookups"] + histogram.enumerated().map { "\($0.offset),\($0.element)" }).joined(separator: "\n").appending("\n")
            .write(toFile: csvPath, atomically: true, encoding: .utf8)
        let chart = SVGChart(
            title: title, xLabel: "hops", yLabel: "lookups",
            series: [SVGChart.Series(name: "lookups by hops", points: histogram.enumerated().map { (Double($0.offset), Double($0.element)) })])
        try chart.render().write(toFile: svgPath, atomically: true, encoding: .utf8)
        return (csvPath, svgPath)
    }

    /// Lookups between random nodes and keys: hops per lookup, and whether each found the true closest node.
    private func runDHT(started: Date) throws {
        let sim = DHTSimulator(nodes: nodes, seed: seed)
        let downCount = Int(Double(nodes) * loss)
        for i in 0..<downCount { sim.fail(sim.ids[(i * 7919) % nodes]) }
        let live = sim.ids.filter { !sim.down.contains($0) }
        var hops: [Int] = [], exact = 0
        let lookups = 1000
        for i in 0..<lookups {
            let target = sim.randomKey()
            let lookup = sim.lookup(from: live[(i * 104_729) % live.count], target: target)
            hops.append(lookup.hops)
            if lookup.result.first == sim.trulyClosest(to: target).first { exact += 1 }
        }
        let sorted = hops.sorted()
        let (csvPath, svgPath) = try writeHops(hops, name: "dht", title: "inos sim dht: \(nodes) nodes, \(downCount) down, k = 20, α = 3, seed \(seed)")
        print("\(lookups) lookups: hops median \(sorted[sorted.count / 2]), p99 \(sorted[sorted.count * 99 / 100]), max \(sorted.last ?? 0); found the closest live node in \(exact) of \(lookups)")
        print("wrote \(csvPath) and \(svgPath) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s of wall time)")
    }
}
