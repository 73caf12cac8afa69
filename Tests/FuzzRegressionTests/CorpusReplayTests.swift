// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosFuzzTargets
import Testing

/// Every committed seed (Fuzz/Corpus/<target>/) and every crash reproducer (Fuzz/Regressions/<target>/) run
/// through its fuzz target in the normal build: a crash the fuzzer found stays fixed, and a target whose
/// invariants a seed breaks fails here before anyone runs the fuzzer. A broken invariant traps (that is how
/// libFuzzer sees it), so a failure here is a crash of the test process naming the invariant; a hang reproducer
/// fails on the time limit.
@Suite("Fuzz corpus and crash reproducers, replayed")
struct CorpusReplayTests {
    static let fuzzFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(_ folder: String, _ target: String) -> [URL] {
        let url = fuzzFolder.appendingPathComponent(folder).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { url.appendingPathComponent($0) }
    }

    // A reproducer of a hang (libFuzzer's timeout-…) must fail here, not hang the run.
    @Test("every target has seeds, and every seed and reproducer runs clean", .timeLimit(.minutes(1)), arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = Self.files("Corpus", name), reproducers = Self.files("Regressions", name)
        #expect(seeds.count >= 3, "Fuzz/Corpus/\(name) holds \(seeds.count) seeds: run the seed generator (docs/testing.md)")
        for file in seeds + reproducers { target(try [UInt8](Data(contentsOf: file))) }
    }

    @Test("every corpus and reproducer folder is a target's")
    func foldersNameTargets() {
        for folder in ["Corpus", "Regressions"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.fuzzFolder.appendingPathComponent(folder).path)) ?? []
            for name in names where !name.hasPrefix(".") { #expect(FuzzTargets.named(name) != nil, "Fuzz/\(folder)/\(name) names no target") }
        }
    }
}
