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
            knows), partition (the mesh splits, then heals), dht (Kademlia lookups, k = 20, α = 3: hops per lookup,             with --loss as the share of nodes down), anti-entropy (two replicas of --nodes metadata items with 1%             differing: bytes moved against the differing items and against a full exchange), placement (the allocator plugin over --nodes nodes: the seed's replica table and node loads while a workload is placed up to the 37.5% target). The same --seed             replays the same run.
            """)

    enum Scenario: String, ExpressibleByArgument, CaseIterable { case join, loss, churn, partition, dht, antientropy = "anti-entropy", placement }

    @Argument(help: "join | loss | churn | partition | dht | anti-entropy | placement") var scenario: Scenario
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
        case .loss, .churn, .partition, .dht, .antientropy, .placement:
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
        var histogram = [Int](repeating: 0, count: (sorted.last ?? 0) + 1)
        for hop in hops { histogram[hop] += 1 }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let csvPath = "\(out)/dht.csv", svgPath = "\(out)/dht.svg"
        try (["hops,lookups"] + histogram.enumerated().map { "\($0.offset),\($0.element)" }).joined(separator: "\n").appending("\n")
            .write(toFile: csvPath, atomically: true, encoding: .utf8)
        let chart = SVGChart(
            title: "inos sim dht: \(nodes) nodes, \(downCount) down, k = 20, α = 3, seed \(seed)", xLabel: "hops", yLabel: "lookups",
            series: [SVGChart.Series(name: "lookups by hops", points: histogram.enumerated().map { (Double($0.offset), Double($0.element)) })])
        try chart.render().write(toFile: svgPath, atomically: true, encoding: .utf8)
        print("\(lookups) lookups: hops median \(sorted[sorted.count / 2]), p99 \(sorted[sorted.count * 99 / 100]), max \(sorted.last ?? 0); found the closest live node in \(exact) of \(lookups)")
        print("wrote \(csvPath) and \(svgPath) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s of wall time)")
    }
}
