// swift-tools-version: 6.1
// SPDX-License-Identifier: Apache-2.0
//
// Benchmarks for INOS Mesh, a package of their own so the main package builds without the benchmark
// framework. `make bench` (from the repository root) runs the plain executables in release mode; they
// print each figure next to a baseline measured in the same process, and the ratio between them.
// `swift package benchmark` runs the ordo-one/benchmark targets (allocation counts, instructions).
import PackageDescription

let package = Package(
    name: "inos-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "inos-mesh", path: ".."),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RingBench",
            dependencies: [
                .product(name: "Host", package: "inos-mesh"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Sources/RingBench"
        ),
        // Raw libraries, for the baselines the data path is compared with in the same run.
        .systemLibrary(name: "BenchLZ4", path: "Sources/BenchLZ4"),
        .systemLibrary(name: "BenchISAL", path: "Sources/BenchISAL"),
        .executableTarget(
            name: "DataPathBench",
            dependencies: [
                .product(name: "Host", package: "inos-mesh"),
                .product(name: "DataPath", package: "inos-mesh"),
                .product(name: "Content", package: "inos-mesh"),
                .product(name: "PluginABI", package: "inos-mesh"),
                .product(name: "Crypto", package: "swift-crypto"),
                "BenchLZ4", "BenchISAL",
            ],
            path: "Sources/DataPathBench"
        ),
        .executableTarget(
            name: "TransportBench",
            dependencies: [
                .product(name: "Host", package: "inos-mesh"),
                .product(name: "PluginABI", package: "inos-mesh"),
                .product(name: "Mesh", package: "inos-mesh"),
                .product(name: "Identity", package: "inos-mesh"),
                .product(name: "Session", package: "inos-mesh"),
                .product(name: "Wire", package: "inos-mesh"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/TransportBench"
        ),
        .executableTarget(
            name: "ComputeBench",
            dependencies: [
                .product(name: "Host", package: "inos-mesh"),
                .product(name: "Compute", package: "inos-mesh"),
                .product(name: "PluginABI", package: "inos-mesh"),
            ],
            path: "Sources/ComputeBench"
        ),
        .executableTarget(
            name: "HostBenchmarks",
            dependencies: [
                .product(name: "Host", package: "inos-mesh"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/HostBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
