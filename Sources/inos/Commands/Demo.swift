// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import DataPath
import Foundation
import Host
import Logging
import PluginABI
import PluginKit
import Primitives

/// The local demo on embedded defaults: one node, its arena and rings, the LZ4 plugin, a live hot swap.
///
/// Chunks are written once into arena blocks; only (offset, length) records travel through the inbox and
/// outbox rings; the reactor thread hands each block to whichever codec plugin is active, which writes
/// its output into another arena block. Half-way through, the codec is swapped for a new build (a copy of
/// the plugin file) with another compression level. Every chunk is verified by decompressing it.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the local demo: the arena, rings and a live codec hot swap; the data path with parity rebuild; a mesh of seven node processes with replication and repair.")

    @Option(name: .long, help: "MiB of generated data (half text-like, half random).")
    var mebibytes: Int = 64

    @Flag(name: .long, help: "Log at debug level.")
    var verbose = false

    @Flag(name: .long, help: "Skip part three, the mesh of node processes on loopback.")
    var noMesh = false

    static let chunkSize = 1 << 20
    static let window = 8
    static let requestType: Int32 = 100
    static let resultType: Int32 = 101

    struct Request { var id: UInt64; var offset: UInt64; var length: UInt64 }
    struct Result { var id: UInt64; var input: UInt64; var output: UInt64; var length: UInt64; var status: Int32; var generation: Int32 }

    /// "gen 1: 40 chunks at 380 MB/s, gen 2: …": each generation's chunks over the span from its first result to
    /// its last (a generation that returned one chunk has no span and shows no rate).
    static func rates(_ generations: [Int32: Int], _ spans: [Int32: (first: Double, last: Double)], chunkSize: Int) -> String {
        generations.sorted { $0.key < $1.key }.map { generation, chunks in
            guard let span = spans[generation], span.last > span.first, chunks > 1 else { return "gen \(generation): \(chunks) chunk(s)" }
            let rate = Double((chunks - 1) * chunkSize) / (span.last - span.first) / 1e6
            return "gen \(generation): \(chunks) chunks at \(String(format: "%.0f", rate)) MB/s"
        }.joined(separator: ", ")
    }

    func run() throws {
        var logger = Logger(label: "inos.demo")
        logger.logLevel = verbose ? .debug : .warning
        let manifest = embeddedManifest()
        let host = try HostRuntime(manifest: manifest, logger: logger)
        do { try host.start() } catch { throw ValidationError("cannot start the node: \(error)") }
        guard let codecSlot = host.slot("compression"), let firstBuild = codecSlot.active else {
            throw ValidationError("the embedded manifest loaded no compression plugin")
        }
        print("node \(manifest.nodeName): arena \(host.arena.size >> 20) MiB (inbox \(host.arena.inbox.capacity >> 10) KiB, outbox \(host.arena.outbox.capacity >> 10) KiB, heap \(host.arena.heap.statistics.capacity >> 20) MiB)")
        print("plugin \(firstBuild.id) \(firstBuild.version) [\(firstBuild.toolchain), ABI \(firstBuild.abiVersion.major).\(firstBuild.abiVersion.minor)] from \(firstBuild.path)")

        // The reactor: inbox record → active codec plugin → outbox record. Runs on its own thread.
        let reactor = Thread {
            host.run(tickNanoseconds: 200_000_000, onInbox: { type, bytes in
                guard type == Self.requestType, bytes.count == MemoryLayout<Request>.size else { return }
                let request = bytes.loadUnaligned(as: Request.self)
                var result = Result(id: request.id, input: request.offset, output: 0, length: 0, status: INOS_ERR_FULL, generation: Int32(codecSlot.generation))
                _ = codecSlot.withActive { plugin in
                    let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
                    let bound = codec.max_compressed_size(plugin.instance, request.length)
                    guard let output = host.arena.heap.allocate(Int(bound)) else { return }  // FULL: reported
                    let base = host.arena.base.assumingMemoryBound(to: UInt8.self)
                    var written: UInt64 = 0
                    var error = inos_error()
                    result.status = codec.compress(
                        plugin.instance, base + Int(request.offset), request.length, base + output, bound, &written, &error)
                    result.output = UInt64(output)
                    result.length = written
                }
                while withUnsafeBytes(of: &result, { host.outbox.push(type: Self.resultType, $0) }).isBackpressure {
                    usleep(50)
                }
            })
        }
        reactor.start()

        // A second build of the codec: a distinct file, as a freshly built plugin would be.
        let newBuild = FileManager.default.temporaryDirectory.appendingPathComponent("libInosLZ4-hc-\(getpid()).so").path
        try? FileManager.default.removeItem(atPath: newBuild)
        try FileManager.default.copyItem(atPath: firstBuild.path, toPath: newBuild)
        defer { try? FileManager.default.removeItem(atPath: newBuild) }

        let total = mebibytes
        var submitted = 0, completed = 0, incompressible = 0, retried = 0, swapped = false
        var bytesIn = 0, bytesOut = 0
        var generations: [Int32: Int] = [:]
        // Per codec generation: when its first and last chunk came back, so each build's own rate is shown.
        var spans: [Int32: (first: Double, last: Double)] = [:]
        let started = sysClock()
        let original = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 64)
        defer { original.deallocate() }

        while completed < total {
            // Submit while fewer than `window` chunks are in flight, the heap has room and the inbox accepts;
            // the window leaves heap room for the codec's output blocks.
            // Until the swap, stop a few chunks past half-way, so that some are in flight while it happens.
            let limit = swapped ? total : min(total, total / 2 + Self.window / 2)
            while submitted < limit, submitted - completed < Self.window, let offset = host.arena.heap.allocate(Self.chunkSize) {
                host.arena.withBytes(at: offset, length: Self.chunkSize) { fill($0, chunk: submitted) }
                var request = Request(id: UInt64(submitted), offset: UInt64(offset), length: UInt64(Self.chunkSize))
                if withUnsafeBytes(of: &request, { host.inbox.push(type: Self.requestType, $0) }) != .ok {
                    host.arena.heap.free(offset)
                    break
                }
                submitted += 1
            }
            if !swapped && completed >= total / 2 {
                let plugin = try host.swap(
                    slot: "compression",
                    to: PluginSpec(location: .path(newBuild), kind: .compressionCodec, config: ["level": "9"]))
                print("\nhot swap after \(completed) verified chunks: slot \"compression\" now served by \(plugin.id) from \(plugin.path) (level 9); the old build drained and retired")
                swapped = true
            }
            let drained = host.outbox.drain { _, bytes in
                let result = bytes.loadUnaligned(as: Result.self)
                if PluginStatus(result.status).isBackpressure {
                    // Backpressure: the arena had no room for the output. Resubmit the same input block.
                    var request = Request(id: result.id, offset: result.input, length: UInt64(Self.chunkSize))
                    retried += 1
                    while withUnsafeBytes(of: &request, { host.inbox.push(type: Self.requestType, $0) }) != .ok { usleep(50) }
                    return
                }
                generations[result.generation, default: 0] += 1
                let now = sysClock()
                spans[result.generation] = (spans[result.generation]?.first ?? now, now)
                defer {
                    host.arena.heap.free(Int(result.input))
                    if result.output != 0 { host.arena.heap.free(Int(result.output)) }
                    completed += 1
                }
                bytesIn += Self.chunkSize
                // Verify: regenerate the chunk and compare with what the codec's output decodes to.
                fill(original, chunk: Int(result.id))
                switch PluginStatus(result.status) {
                case .ok:
                    bytesOut += Int(result.length)
                    verify(host: host, slot: codecSlot, result: result, original: UnsafeRawBufferPointer(original))
                case .incompressible:
                    incompressible += 1
                    bytesOut += Self.chunkSize  // stored raw
                default:
                    print("chunk \(result.id): codec returned \(PluginStatus(result.status))")
                }
            }
            if drained == 0 { usleep(200) }
            if drained > 0 {
                print("  \(completed)/\(total) chunks verified", terminator: "\r")
                fflushStandardOutput()
            }
        }
        let seconds = sysClock() - started
        print("")
        host.requestStop()
        while !reactor.isFinished { usleep(1000) }
        let heap = host.arena.heap.statistics
        let (pauses, _) = host.arena.switchboard.backpressureCounts
        print("""
            \(completed)/\(total) chunks verified in \(String(format: "%.2f", seconds)) s, \
            \(String(format: "%.0f", Double(bytesIn) / seconds / 1e6)) MB/s overall: the codec's rate, not the rings' \
            (they carry 32-byte descriptors of arena blocks, ~350 M records/s: docs/benchmarks.md)
            per codec generation: \(Self.rates(generations, spans, chunkSize: Self.chunkSize))
            compressed \(bytesIn >> 20) MiB to \(String(format: "%.1f", Double(bytesOut) / 1048576)) MiB; \
            \(incompressible) incompressible chunks detected early and kept raw
            arena heap: \(heap.allocations) allocations, peak \(heap.peakBytesInUse >> 20) MiB, \(heap.bytesInUse) bytes leaked, \(heap.failedAllocations) times full (backpressure, \(retried) chunks resubmitted); inbox pauses: \(pauses)
            """)
        host.shutdown()
        guard heap.bytesInUse == 0, completed == total else { throw ExitCode(1) }
        try dataPathDemo()
    }

    /// Part two: the data path on the same plugins plus ISA-L and the file store, in a temporary data
    /// directory. Store a file with 10+2 parity, lose two chunks of one stripe, read it back rebuilt.
    func dataPathDemo() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("inos-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let host = try HostRuntime(manifest: embeddedManifest(dataDirectory: folder), logger: Logger(label: "inos.demo", factory: { _ in SwiftLogNoOpLogHandler() }))
        do { try host.start() } catch { throw InosError(.failed, "cannot start the data path", cause: error) }
        defer { host.shutdown() }
        let store: ContentStore
        store = try ContentStore(host: host)

        let input = folder + "/input.bin"
        guard FileManager.default.createFile(atPath: input, contents: nil) else {
            throw InosError(.failed, "demo: cannot create \(input)")
        }
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 64)
        defer { chunk.deallocate() }
        for index in 0..<mebibytes {
            fill(chunk, chunk: index)
            writer.write(Data(chunk))
        }
        try writer.close()

        print("\ndata path: put \(mebibytes) MiB with Reed-Solomon 10+2 into \(folder)/store")
        do {
            let report = try store.put(file: input)
            guard let manifest = report.manifest, let erasure = manifest.erasure else { return }
            print("  \(report.id)")
            print("  \(manifest.chunks.count) chunks (\(manifest.chunks.filter { $0.encoding == .lz4Frame }.count) LZ4-compressed) in \(erasure.stripeCount) stripes, \(erasure.parity.count) parity shards, \(report.bytesStored >> 20) MiB stored")
            // Damage two data chunks of the first stripe, as a failing disk would: as much as 10+2 parity
            // can rebuild. The store's CRC catches them; get rebuilds them from parity.
            for lost in manifest.chunks.prefix(2) {
                guard try flipByte(ofChunk: lost.id.bytes, inPacksOf: "\(folder)/store") else {
                    throw InosError(.failed, "demo: chunk \(lost.id) not found in the pack files")
                }
                print("  flipped one byte of chunk \(lost.id) on disk")
            }
            let health = try store.verify(report.id)
            print("  verify: \(health.damaged.count) damaged, \(health.repairable.count) repairable, \(health.lost.count) lost")
            let output = folder + "/output.bin"
            let got = try store.get(report.id, to: output)
            let same = FileManager.default.contentsEqual(atPath: input, andPath: output)
            print("  get: \(got.size) bytes, \(got.repaired.count) chunks rebuilt from parity and stored again; identical to the input: \(same ? "yes" : "NO")")
            print("  verify after get: \(try store.verify(report.id).isHealthy ? "healthy" : "damaged")")
            guard same else { throw ExitCode(1) }
        } catch let error as DataPathError {
            throw error
        }
        host.shutdown()
        if !noMesh { try meshDemo(file: input, folder: folder + "/mesh") }
    }

    /// Flips one payload byte of a chunk's record in the pack store's files (a record is a 16-byte header,
    /// the key, then the payload). False if no pack holds the key.
    func flipByte(ofChunk key: [UInt8], inPacksOf store: String) throws -> Bool {
        let packs = (try FileManager.default.contentsOfDirectory(atPath: store + "/packs")).filter { $0.hasSuffix(".pack") }.sorted()
        for name in packs {
            let path = store + "/packs/" + name
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let range = bytes.firstRange(of: Data(key)), range.upperBound + 100 < bytes.count else { continue }
            bytes[range.upperBound + 100] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))
            return true
        }
        return false
    }

    /// Chunks alternate between text-like (compressible) and random (incompressible) content; each chunk's
    /// bytes depend only on its number, so a result can be checked against a regenerated copy.
    func fill(_ buffer: UnsafeMutableRawBufferPointer, chunk: Int) {
        var generator = SplitMix64(seed: 2026 &+ UInt64(chunk) &* 0x1000_0000_01B3)
        let words = ["mesh ", "node ", "chunk ", "replica ", "gossip ", "arena ", "ring ", "plugin ", "\n"]
        if chunk % 2 == 0 {
            var i = 0
            while i < buffer.count {
                let word = words[Int(generator.next() % UInt64(words.count))].utf8
                for byte in word where i < buffer.count { buffer[i] = byte; i += 1 }
            }
        } else {
            for i in stride(from: 0, to: buffer.count, by: 8) {
                buffer.storeBytes(of: generator.next(), toByteOffset: i, as: UInt64.self)
            }
        }
    }

    func verify(host: HostRuntime, slot: PluginSlot, result: Result, original: UnsafeRawBufferPointer) {
        let base = host.arena.base.assumingMemoryBound(to: UInt8.self)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 64)
        defer { scratch.deallocate() }
        let ok = slot.withActive { plugin -> Bool in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            var length: UInt64 = 0
            var error = inos_error()
            let status = codec.decompress(
                plugin.instance, base + Int(result.output), result.length,
                scratch.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(Self.chunkSize), &length, &error)
            return PluginStatus(status) == .ok && Int(length) == original.count && memcmp(scratch.baseAddress!, original.baseAddress!, original.count) == 0
        }
        if ok != true { print("chunk \(result.id): verification FAILED") }
    }
}

/// A small seeded generator (SplitMix64), so the demo's data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
