// SPDX-License-Identifier: Apache-2.0
//
// ordo-one/benchmark targets: allocation counts and instructions of the host's hot operations
// (`swift package benchmark` from Benchmarks/). The hot path must not allocate: a ring write+drain and
// an arena allocate+free are gated at zero mallocs.
import Benchmark
import Host

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .instructions], maxDuration: .seconds(2))

    Benchmark("Ring write+drain, 64-byte record", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])])) { benchmark in
        let arena = try Arena(configuration: ArenaConfiguration(totalSize: 4 << 20))
        let payload = [UInt8](repeating: 7, count: 56)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            _ = payload.withUnsafeBytes { arena.inbox.tryWrite(type: 1, $0) }
            arena.inbox.drain { _, bytes in blackHole(bytes.count) }
        }
    }

    Benchmark("Arena heap allocate+free, 1 MiB", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])])) { benchmark in
        let arena = try Arena(configuration: ArenaConfiguration(totalSize: 16 << 20))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let block = arena.heap.allocate(1 << 20)!
            arena.heap.free(block)
        }
    }
}
