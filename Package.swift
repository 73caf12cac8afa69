// swift-tools-version: 6.1
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

// Layout (see README "Repository organization"):
//   Sources/PluginABI   the stable C ABI (headers + layout asserts); the only thing plugins and host share
//   Sources/CInosSystem C shims for system calls Swift cannot reach (futex, memfd)
//   Sources/Host        the minimal host: arena, switchboard, rings, heap, loader, manifest, hot swap
//   Sources/PluginKit   helpers for writing plugins in Swift and PluginStatus, the typed inos_status (linked
//                       into each plugin and the host; never crosses the ABI)
//   Sources/inos        the CLI / daemon
//   Sources/inos-job-worker  an isolated job runner's process, started by Compute's JobService
//   Plugins/*           plugins, each a dynamic library loaded with dlopen through the C ABI
let package = Package(
    name: "inos-mesh",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "inos", targets: ["inos"]),
        // An isolated job runner's process, started by JobService; found next to inos or the plugin.
        .executable(name: "inos-job-worker", targets: ["inos-job-worker"]),
        .library(name: "Host", targets: ["Host"]),
        .library(name: "PluginABI", targets: ["PluginABI"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        .library(name: "Content", targets: ["Content"]),
        .library(name: "DataPath", targets: ["DataPath"]),
        .library(name: "Mesh", targets: ["Mesh"]),
        .library(name: "MeshCore", targets: ["MeshCore"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "Identity", targets: ["Identity"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Session", targets: ["Session"]),
        .library(name: "Node", targets: ["Node"]),
        // Plugins: each a shared object the host dlopen()s (libInosLZ4.so, ...).
        .library(name: "InosLZ4", type: .dynamic, targets: ["InosLZ4"]),
        .library(name: "InosErasure", type: .dynamic, targets: ["InosErasure"]),
        .library(name: "InosFileStore", type: .dynamic, targets: ["InosFileStore"]),
        .library(name: "InosPackStore", type: .dynamic, targets: ["InosPackStore"]),
        .library(name: "InosMemoryTransport", type: .dynamic, targets: ["InosMemoryTransport"]),
        .library(name: "InosFaultTransport", type: .dynamic, targets: ["InosFaultTransport"]),
        .library(name: "InosTCPTransport", type: .dynamic, targets: ["InosTCPTransport"]),
        .library(name: "InosExampleJobs", type: .dynamic, targets: ["InosExampleJobs"]),
        .library(name: "InosJobTemplateC", type: .dynamic, targets: ["InosJobTemplateC"]),
        .library(name: "InosAdaptiveAllocator", type: .dynamic, targets: ["InosAdaptiveAllocator"]),
        // Fuzzing (issue 14, docs/testing.md): one libFuzzer executable for every target, and the seed generator.
        .executable(name: "InosFuzz", targets: ["InosFuzz"]),
        .executable(name: "InosFuzzSeeds", targets: ["InosFuzzSeeds"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // The operator plane (issue 16): the control API's HTTP server, and metrics for Prometheus.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Durable node records (issue 19): the credit ledger and owner tickets in SQLite, through GRDB.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(name: "PluginABI", path: "Sources/PluginABI"),
        .target(name: "CInosSystem", path: "Sources/CInosSystem"),
        // The one syscall layer: sys* calls, files (EINTR retried, SystemError), atomicWrite, fault injection.
        .target(
            name: "InosSystem", dependencies: ["CInosSystem", "Primitives"], path: "Sources/InosSystem",
            swiftSettings: [.define("INOS_FAULT_INJECTION", .when(configuration: .debug))]
        ),
        .target(
            name: "Host",
            dependencies: [
                "PluginABI", "InosSystem", "PluginKit", "Primitives",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            path: "Sources/Host"
        ),
        .target(name: "PluginKit", dependencies: ["PluginABI"], path: "Sources/PluginKit"),
        // What every layer shares and nothing else provides: byte readers and writers, big-endian key helpers, and
        // the one error shape (CodedError: code, message, cause, location; InosError; ErrorReport).
        .target(name: "Primitives", path: "Sources/Primitives"),
        // Content addressing: CIDv1 / multihash (SHA-256), resource manifests, Merkle roots, chunking.
        .target(
            name: "Content", dependencies: ["Primitives", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Content"
        ),
        // The local data path: chunking, compression, erasure coding and storage through plugins.
        .target(name: "DataPath", dependencies: ["Host", "Content", "PluginABI", "PluginKit", "Primitives"], path: "Sources/DataPath"),
        // Node identity (Ed25519 via libsodium) and the secure session.
        .systemLibrary(name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "Identity", dependencies: ["CSodium", "Content", "InosSystem", "Primitives"], path: "Sources/Identity"),
        // The wire protocol (frames inside transport frames) and the authenticated, encrypted session.
        .target(name: "Wire", dependencies: ["Primitives"], path: "Sources/Wire"),
        .target(name: "Session", dependencies: ["CSodium", "Identity", "Primitives", "Wire", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/Session"),
        // The mesh's protocols as deterministic state machines (no I/O): Lamport time, SWIM, and the simulator.
        .target(name: "MeshCore", dependencies: ["Primitives", "Wire", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/MeshCore"),
        // The mesh above the host: the peer layer (connections, sessions, request router, frame registry) and the
        // protocol services on it (chunks, SWIM membership, gossip, the provider DHT, Merkle anti-entropy).
        .target(
            name: "Mesh",
            dependencies: [
                "Host", "InosSystem", "PluginABI", "PluginKit", "Identity", "Session", "Wire", "MeshCore", "Primitives", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Mesh"
        ),
        // Replication over the mesh: placement maps, puts acknowledged after durable copies, routed multi-source
        // reads, repair, demand and the credit ledger.
        .target(
            name: "Replication",
            dependencies: ["Host", "Content", "DataPath", "Mesh", "MeshCore", "Identity", "Primitives", "Wire", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Replication"
        ),
        // Distributed jobs: the seed's work allocation (node tiers, data-local least-loaded placement, retries).
        .target(
            name: "WorkAllocation",
            dependencies: ["Compute", "Content", "DataPath", "Identity", "Mesh", "MeshCore", "PluginKit", "Primitives", "Replication", "Wire", .product(name: "Logging", package: "swift-log")],
            path: "Sources/WorkAllocation"
        ),
        // The node's durable records in SQLite (GRDB): ledger entries, owner tickets and their policies —
        // written in transactions that survive kill -9, read back when the node starts.
        .target(
            name: "Records",
            dependencies: ["Content", "Identity", "MeshCore", "Replication", "Primitives", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Sources/Records"
        ),
        // The node as a library: MeshNode builds the host, identity, store, peer layer and services from one
        // configuration and runs them as a swift-service-lifecycle Service (the CLI only parses options).
        .target(
            name: "Node",
            dependencies: [
                "Host", "InosSystem", "Content", "DataPath", "Mesh", "MeshCore", "Identity", "Session", "Compute", "Replication", "Records", "WorkAllocation", "Primitives",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Node"
        ),
        // The operator plane over a running MeshNode (issue 16, docs/api.md): the control API's wire types; the
        // client the CLI talks to a running node with (HTTP/1 over the node's Unix socket, on SwiftNIO); the server
        // (Hummingbird), Prometheus metrics (swift-metrics + swift-prometheus) and health checks.
        .target(name: "APIModel", dependencies: [], path: "Sources/APIModel"),
        .target(
            name: "APIClient",
            dependencies: [
                "APIModel", "Primitives",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/APIClient"
        ),
        .target(
            name: "API",
            dependencies: [
                "APIModel", "Node", "Host", "Content", "DataPath", "Mesh", "MeshCore", "Identity", "Replication", "Compute", "WorkAllocation", "Primitives",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/API"
        ),
        .executableTarget(
            name: "inos",
            dependencies: [
                "API", "APIClient", "APIModel", "Node", "Host", "Content", "DataPath", "Mesh", "MeshCore", "Identity", "Session", "Compute", "Replication", "WorkAllocation",
                "InosStoreKit", "PluginKit", "Primitives",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/inos"
        ),

        // MARK: Plugins
        .systemLibrary(
            name: "CLZ4", path: "Plugins/Storage/CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .target(
            name: "InosLZ4", dependencies: ["PluginABI", "PluginKit", "CLZ4"],
            path: "Plugins/Storage/LZ4"
        ),
        .systemLibrary(
            name: "CISAL", path: "Plugins/Storage/CISAL", pkgConfig: "libisal",
            providers: [.apt(["libisal-dev"])]
        ),
        .target(
            name: "InosErasure", dependencies: ["PluginABI", "PluginKit", "CISAL"],
            path: "Plugins/Storage/Erasure"
        ),
        // What the store plugins share: keys, errors, file calls and the inos.store/1 table.
        .target(
            name: "InosStoreKit", dependencies: ["PluginABI", "PluginKit", "CISAL", "InosSystem", "Primitives"],
            path: "Plugins/Storage/StoreKit"
        ),
        .target(
            name: "InosFileStore", dependencies: ["PluginABI", "PluginKit", "InosStoreKit", "InosSystem"],
            path: "Plugins/Storage/FileStore"
        ),
        .target(
            name: "InosPackStore", dependencies: ["PluginABI", "PluginKit", "InosStoreKit", "InosSystem", "CISAL", "Primitives"],
            path: "Plugins/Storage/PackStore"
        ),

        // Transports: what they share (host link, inbound queue, the inos.transport/1 table), then each one.
        .target(
            name: "InosTransportKit", dependencies: ["PluginABI", "PluginKit"],
            path: "Plugins/Transport/TransportKit"
        ),
        .target(
            name: "InosMemoryTransport", dependencies: ["PluginABI", "PluginKit", "InosTransportKit"],
            path: "Plugins/Transport/Memory"
        ),
        .target(
            name: "InosTCPTransport",
            dependencies: [
                "PluginABI", "PluginKit", "InosTransportKit",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Plugins/Transport/TCP"
        ),
        .target(
            name: "InosFaultTransport", dependencies: ["PluginABI", "PluginKit", "InosTransportKit"],
            path: "Plugins/Transport/Fault"
        ),

        // Compute: the host side of jobs (through the rings) and the job runners.
        .systemLibrary(name: "CFFI", path: "Sources/CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        .target(
            name: "Compute",
            dependencies: ["Host", "PluginABI", "PluginKit", "Primitives", "CFFI", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Compute"
        ),
        // The isolated job runner: maps the node's arena and serves one job-runner plugin in its own process.
        .executableTarget(name: "inos-job-worker", dependencies: ["Compute"], path: "Sources/inos-job-worker"),
        .target(name: "InosJobTemplateC", dependencies: ["PluginABI"], path: "Plugins/Compute/TemplateC"),
        .target(name: "InosExampleJobs", dependencies: ["PluginABI", "PluginKit"], path: "Plugins/Compute/Examples"),

        // Allocators: replica counts, strategies and placement (inos.allocator/1).
        .target(name: "InosAdaptiveAllocator", dependencies: ["PluginABI", "PluginKit"], path: "Plugins/Allocator/Adaptive"),

        // MARK: Fuzzing (issue 14): the targets, a libFuzzer driver over them, and a seed generator from real encoders.
        .target(
            name: "InosFuzzTargets",
            dependencies: ["Wire", "Session", "Identity", "MeshCore", "Mesh", "Replication", "WorkAllocation", "Content", "Host", "HostTestSupport", "PluginABI", "Primitives"],
            path: "Fuzz/Targets"
        ),
        // libFuzzer's entry points with -DINOS_FUZZ (scripts/fuzz.sh); otherwise a replayer of files.
        .target(name: "CInosFuzz", path: "Fuzz/CFuzz"),
        .executableTarget(name: "InosFuzz", dependencies: ["InosFuzzTargets", "CInosFuzz"], path: "Fuzz/Driver"),
        .executableTarget(
            name: "InosFuzzSeeds",
            dependencies: ["InosFuzzTargets", "Wire", "Session", "Identity", "MeshCore", "Mesh", "Replication", "WorkAllocation", "Content", "Host", "Primitives"],
            path: "Fuzz/Seeds"
        ),

        // MARK: Tests
        .target(name: "HostTestSupport", dependencies: ["Host", "PluginABI", .product(name: "Logging", package: "swift-log")], path: "Tests/HostTestSupport"),
        .testTarget(
            name: "HostTests",
            dependencies: ["Host", "HostTestSupport", "PluginABI", "CInosSystem"],
            path: "Tests/HostTests"
        ),
        .testTarget(
            name: "PluginTests",
            dependencies: ["Host", "HostTestSupport", "PluginABI", "PluginKit"],
            path: "Tests/PluginTests"
        ),
        .testTarget(name: "ContentTests", dependencies: ["Content", .product(name: "Crypto", package: "swift-crypto")], path: "Tests/ContentTests"),
        // The pack store linked directly (not loaded), so tests drive the syscall layer's fault hook under it.
        .testTarget(name: "StoreTests", dependencies: ["InosPackStore", "InosStoreKit", "InosSystem", "PluginABI"], path: "Tests/StoreTests"),
        .testTarget(
            name: "DataPathTests", dependencies: ["DataPath", "Content", "Host", "HostTestSupport"],
            path: "Tests/DataPathTests"
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: ["Host", "HostTestSupport", "PluginABI"],
            path: "Tests/TransportTests"
        ),
        .testTarget(name: "PrimitivesTests", dependencies: ["Primitives"], path: "Tests/PrimitivesTests"),
        .testTarget(name: "SessionTests", dependencies: ["Identity", "Primitives", "Wire", "Session", "HostTestSupport", "CSodium"], path: "Tests/SessionTests"),
        .testTarget(
            name: "ComputeTests", dependencies: ["Compute", "Host", "HostTestSupport", "PluginABI"],
            path: "Tests/ComputeTests"
        ),
        .testTarget(name: "RecordsTests", dependencies: ["Records", "Replication", "Identity", "Content", "MeshCore"], path: "Tests/RecordsTests"),
        .testTarget(name: "ReplicationTests", dependencies: ["Replication", "WorkAllocation", "Content", "Host", "Mesh", "HostTestSupport"], path: "Tests/ReplicationTests"),
        // Every committed seed and crash reproducer, through its fuzz target.
        .testTarget(name: "FuzzRegressionTests", dependencies: ["InosFuzzTargets"], path: "Tests/FuzzRegressionTests"),
        .testTarget(name: "MeshCoreTests", dependencies: ["MeshCore", "HostTestSupport"], path: "Tests/MeshCoreTests"),
        .testTarget(name: "MeshTests", dependencies: ["Mesh", "InosSystem", "Host", "HostTestSupport", "PluginABI", "Identity", "Wire"], path: "Tests/MeshTests"),
        // Many real nodes in one process on one thread and a virtual clock: MeshHarness (memory transport delivering
        // inline, queued lanes, ManualClock), like NIO's NIOEmbedded.
        .target(
            name: "NodeTestSupport",
            dependencies: [
                "Node", "Mesh", "Host", "HostTestSupport", "Identity", "Primitives", "Content", "DataPath", "Replication",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/NodeTestSupport"
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "NodeTestSupport", "Node", "Mesh", "MeshCore", "Host", "HostTestSupport", "Identity", "Content", "DataPath", "Replication",
                "WorkAllocation",
            ],
            path: "Tests/NodeTests"
        ),
        .testTarget(
            name: "CLITests",
            // The hostile-peer suite drives node processes with an attacker built on the node's own session code.
            dependencies: ["HostTestSupport", "Host", "Mesh", "MeshCore", "Identity", "Wire", "Content", "Replication", "WorkAllocation", "APIClient", "APIModel", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/CLITests"
        ),
    ]
)
