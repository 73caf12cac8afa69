// SPDX-License-Identifier: Apache-2.0
import MeshCore

/// The seed's "Smart Work Allocation" for data-parallel jobs: how many nodes a job gets (calculateRequiredNodes)
/// and which chunk runs where — on nodes that already hold it, the least loaded first (DistributeWork).
public enum WorkPlanner {
    /// The seed's tiers by the bytes a job reads: 1 node below 10 MB, 5 below 100 MB, 20 below 1 GB, else 50.
    public static func requiredNodes(jobBytes: UInt64) -> Int {
        switch jobBytes {
        case ..<(10 << 20): 1
        case ..<(100 << 20): 5
        case ..<(1 << 30): 20
        default: 50
        }
    }

    /// A node that can run the job: its load, and which chunks it holds.
    public struct Worker: Sendable, Equatable {
        public var member: MemberID
        public var load: Double
        public var holds: [Bool]
        public init(member: MemberID, load: Double, holds: [Bool]) {
            self.member = member
            self.load = load
            self.holds = holds
        }
    }

    /// Chunk indices per worker index. Picks the `required` least-loaded workers (more chunks held breaks ties),
    /// then gives each chunk to the chosen holder of it with the fewest chunks so far; a chunk none of them holds
    /// goes to the least-loaded other holder (data stays local; the job grows past `required` rather than move
    /// data). Chunks nobody holds are returned apart.
    public static func assign(chunks: [Int], workers: [Worker], required: Int, excluding: Set<MemberID> = [])
        -> (parts: [Int: [Int]], unplaced: [Int])
    {
        let eligible = workers.indices.filter { !excluding.contains(workers[$0].member) }
        let ranked = eligible.sorted {
            let a = workers[$0], b = workers[$1]
            if a.load != b.load { return a.load < b.load }
            let heldA = a.holds.filter { $0 }.count, heldB = b.holds.filter { $0 }.count
            return heldA != heldB ? heldA > heldB : a.member < b.member
        }
        let chosen = Array(ranked.prefix(max(1, required)))
        var parts: [Int: [Int]] = [:]
        var unplaced: [Int] = []
        func holds(_ w: Int, _ chunk: Int) -> Bool { chunk < workers[w].holds.count && workers[w].holds[chunk] }
        // The most constrained chunks first (fewest chosen holders), so the others can even out the load.
        let order = chunks.sorted { a, b in
            let ca = chosen.filter { holds($0, a) }.count, cb = chosen.filter { holds($0, b) }.count
            return ca != cb ? ca < cb : a < b
        }
        for chunk in order {
            let local = chosen.filter { holds($0, chunk) }
            let pool = local.isEmpty ? ranked.filter { holds($0, chunk) } : local
            guard let best = pool.min(by: { (parts[$0]?.count ?? 0, workers[$0].load) < (parts[$1]?.count ?? 0, workers[$1].load) }) else {
                unplaced.append(chunk)
                continue
            }
            parts[best, default: []].append(chunk)
        }
        return (parts.mapValues { $0.sorted() }, unplaced.sorted())
    }

    /// How per-chunk results combine.
    public enum Reduce: String, Sendable, CaseIterable {
        /// Results one after another, in chunk order (checksum, grep).
        case concat
        /// Element-wise sum of whitespace-separated integers (word-count's "lines words bytes").
        case sum
    }

    public static func reduce(_ results: [[UInt8]], _ mode: Reduce) -> [UInt8]? {
        switch mode {
        case .concat:
            return results.flatMap { $0 }
        case .sum:
            var total: [Int] = []
            for result in results {
                let numbers = String(decoding: result, as: UTF8.self).split(whereSeparator: \.isWhitespace).map { Int($0) }
                guard numbers.allSatisfy({ $0 != nil }) else { return nil }
                if total.isEmpty { total = Array(repeating: 0, count: numbers.count) }
                guard numbers.count == total.count else { return nil }
                for (i, n) in numbers.enumerated() { total[i] += n! }
            }
            return Array((total.map(String.init).joined(separator: " ") + "\n").utf8)
        }
    }
}
