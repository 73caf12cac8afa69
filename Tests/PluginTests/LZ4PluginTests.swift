// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

/// The LZ4 plugin, loaded through the host exactly as a node loads it.
@Suite("LZ4 codec plugin")
struct LZ4PluginTests {
    let host: HostRuntime
    let slot: PluginSlot

    init() throws {
        host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec)]),
            logger: quietLogger)
        try host.start()
        slot = try #require(host.slot("compression"))
    }

    func compress(_ input: [UInt8]) -> (inos_status, [UInt8]) {
        slot.withActive { plugin in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            let bound = codec.max_compressed_size(plugin.instance, UInt64(input.count))
            var output = [UInt8](repeating: 0, count: Int(bound))
            var length: UInt64 = 0
            var error = inos_error()
            let status = codec.compress(plugin.instance, input, UInt64(input.count), &output, bound, &length, &error)
            return (status, Array(output.prefix(Int(length))))
        }!
    }

    func decompress(_ input: [UInt8], capacity: Int) -> (inos_status, [UInt8], String) {
        slot.withActive { plugin in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            var output = [UInt8](repeating: 0, count: max(capacity, 1))
            var length: UInt64 = 0
            var error = inos_error()
            let status = codec.decompress(plugin.instance, input, UInt64(input.count), &output, UInt64(capacity), &length, &error)
            let message = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return (status, Array(output.prefix(Int(length))), message)
        }!
    }

    /// decompress_each: the windows it hands out, its status and total, and its error message.
    func decompressEach(_ input: [UInt8], stopAfter: Int = .max) -> (inos_status, [[UInt8]], UInt64, String) {
        slot.withActive { plugin in
            let table = plugin.extensionTable(as: inos_compression_v1.self)
            guard inos_compression_has_decompress_each(table) != 0 else { return (INOS_ERR_UNSUPPORTED, [], 0, "no decompress_each") }
            final class Windows {
                var seen: [[UInt8]] = []
                var stopAfter: Int
                init(_ stopAfter: Int) { self.stopAfter = stopAfter }
            }
            let windows = Windows(stopAfter)
            var length: UInt64 = 0
            var error = inos_error()
            let status = table.pointee.decompress_each(plugin.instance, input, UInt64(input.count), { context, bytes, count in
                let windows = Unmanaged<Windows>.fromOpaque(context!).takeUnretainedValue()
                windows.seen.append(Array(UnsafeBufferPointer(start: bytes, count: Int(count))))
                return windows.seen.count >= windows.stopAfter ? INOS_ERR_FULL : INOS_OK
            }, Unmanaged.passUnretained(windows).toOpaque(), &length, &error)
            let message = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return (status, windows.seen, length, message)
        }!
    }

    @Test("decompress_each (ABI 1.3) hands out what decompress gives, in windows of at most 64 KiB; frames are of 64 KiB blocks")
    func streamingDecode() throws {
        for size in [1000, 65_536, 65_537, 300_000, 1 << 20] {
            let input = Self.text(size, seed: UInt64(size))
            let (status, frame) = compress(input)
            #expect(status == INOS_OK, "size \(size)")
            // The frame descriptor's BD byte (after magic and FLG): block maximum size id 4 = 64 KiB.
            #expect(frame.count > 5 && (frame[5] >> 4) & 7 == 4, "size \(size): BD \(frame.count > 5 ? frame[5] : 0)")
            let (eachStatus, windows, total, message) = decompressEach(frame)
            #expect(eachStatus == INOS_OK, "size \(size): \(message)")
            #expect(windows.allSatisfy { !$0.isEmpty && $0.count <= 64 << 10 })
            #expect(total == UInt64(size))
            #expect(Array(windows.joined()) == input, "size \(size)")
            #expect(decompress(frame, capacity: size).1 == input)
        }
    }

    @Test("decompress_each refuses truncated and garbage frames with CORRUPT, never crashing; a sink's status stops it and is returned")
    func streamingDecodeRefuses() throws {
        let input = Self.text(1 << 20, seed: 9)
        let (_, frame) = compress(input)
        for cut in [0, 4, 7, 11, 100, frame.count / 2, frame.count - 5, frame.count - 4, frame.count - 1] {
            let (status, windows, _, _) = decompressEach(Array(frame.prefix(cut)))
            #expect(status == INOS_ERR_CORRUPT || status == INOS_ERR_INVALID_ARGUMENT, "cut at \(cut): \(status)")
            // Cut inside the 4-byte end mark, every block was whole: all of the content came out, then the error.
            if cut < frame.count - 4 { #expect(windows.joined().count < input.count, "cut at \(cut)") }
        }
        var random = SeededRandom(seed: 77)
        for _ in 0..<64 {
            var damaged = frame
            damaged[Int(random.next() % UInt64(damaged.count))] ^= UInt8(1 + random.next() % 255)
            let (status, windows, _, _) = decompressEach(damaged)
            // A flipped literal byte may still decode (the SHA-256 ID catches that); anything else is CORRUPT.
            if status == INOS_OK { #expect(Array(windows.joined()) != input) } else { #expect(status == INOS_ERR_CORRUPT) }
        }
        let (stopped, windows, _, _) = decompressEach(frame, stopAfter: 2)
        #expect(stopped == INOS_ERR_FULL)
        #expect(windows.count == 2)
    }

    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededRandom(seed: seed)
        let words = ["mesh ", "chunk ", "replica ", "node ", "gossip\n"].map { Array($0.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count { out += words[Int(generator.next() % 5)] }
        return Array(out.prefix(count))
    }

    /// The frame descriptor's FLG byte follows the 4-byte magic; bit 2 says a content checksum follows the frame.
    static func hasContentChecksum(_ frame: [UInt8]) -> Bool { frame.count > 4 && frame[4] & 0x04 != 0 }

    @Test("frames carry no content checksum by default (the SHA-256 ID checks content); content_checksum = true adds one")
    func contentChecksumSetting() throws {
        let input = Self.text(200_000, seed: 9)
        let (status, plain) = compress(input)
        #expect(status == INOS_OK)
        #expect(!Self.hasContentChecksum(plain))
        let checked = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec,
                                     config: ["content_checksum": "true"])]),
            logger: quietLogger)
        try checked.start()
        let other = LZ4PluginTests(host: checked, slot: try #require(checked.slot("compression")))
        let (checkedStatus, framed) = other.compress(input)
        #expect(checkedStatus == INOS_OK)
        #expect(Self.hasContentChecksum(framed))
        #expect(other.decompress(framed, capacity: input.count).1 == input)
        var damaged = framed
        damaged[damaged.count - 1] ^= 0xFF  // the XXH32 at the end of the frame
        #expect(other.decompress(damaged, capacity: input.count).0 == INOS_ERR_CORRUPT)
    }

    init(host: HostRuntime, slot: PluginSlot) {
        self.host = host
        self.slot = slot
    }

    @Test("compressible data round-trips at many sizes", arguments: [1, 100, 4096, 65_537, 300_000, 1 << 20])
    func roundTrip(size: Int) {
        let input = Self.text(size, seed: UInt64(size))
        let (status, compressed) = compress(input)
        if size < 64 {
            #expect(status == INOS_OK || status == INOS_ERR_INCOMPRESSIBLE)
            if status != INOS_OK { return }
        }
        #expect(status == INOS_OK)
        #expect(compressed.count < input.count)
        let (back, output, _) = decompress(compressed, capacity: size)
        #expect(back == INOS_OK)
        #expect(output == input)
    }

    @Test("random data is reported incompressible (early, by the probe, for big inputs)", arguments: [1000, 1 << 20])
    func incompressible(size: Int) {
        var generator = SeededRandom(seed: 7)
        let input = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        #expect(compress(input).0 == INOS_ERR_INCOMPRESSIBLE)
    }

    @Test("corrupt, truncated and empty frames are rejected with INOS_ERR_CORRUPT, never a crash")
    func badFrames() {
        let input = Self.text(200_000, seed: 3)
        let (_, frame) = compress(input)
        var flipped = frame
        flipped[frame.count / 2] ^= 0x5A
        // Without a content checksum (the default) a flipped literal can decode to other bytes; the data path's
        // SHA-256 check catches that. What the codec must do is never crash and never return the original.
        let corrupt = decompress(flipped, capacity: input.count)
        #expect(corrupt.0 == INOS_ERR_CORRUPT ? !corrupt.2.isEmpty : corrupt.1 != input)
        let truncated = decompress(Array(frame.prefix(frame.count - 10)), capacity: input.count)
        #expect(truncated.0 == INOS_ERR_CORRUPT)
        #expect(truncated.2.contains("truncated") || truncated.2.contains("valid"))
        #expect(decompress(Array("not lz4 at all".utf8), capacity: 100).0 == INOS_ERR_CORRUPT)
        #expect(decompress([], capacity: 100).0 == INOS_ERR_CORRUPT)
        var rng = SeededRandom(seed: 11)
        for _ in 0..<200 {  // random garbage with a valid magic
            let garbage = [0x04, 0x22, 0x4D, 0x18] + (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let status = decompress(garbage, capacity: 4096).0
            #expect(status == INOS_ERR_CORRUPT || status == INOS_ERR_BUFFER_TOO_SMALL || status == INOS_OK)
        }
    }

    @Test("a destination that is too small is reported, not overrun")
    func smallDestination() {
        let input = Self.text(100_000, seed: 5)
        let (_, frame) = compress(input)
        #expect(decompress(frame, capacity: 1000).0 == INOS_ERR_BUFFER_TOO_SMALL)
        slot.withActive { plugin in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            var output = [UInt8](repeating: 0, count: 10)
            var length: UInt64 = 0
            var error = inos_error()
            #expect(codec.compress(plugin.instance, input, UInt64(input.count), &output, 10, &length, &error) == INOS_ERR_BUFFER_TOO_SMALL)
            #expect(error.detail > 100_000)
        }
    }

    @Test("frames are readable by the lz4 command-line tool")
    func lz4CLICompatible() throws {
        let lz4 = ["/usr/bin/lz4", "/bin/lz4"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(lz4, "the lz4 CLI is missing: scripts/install-deps.sh installs Debian's lz4")
        let input = Self.text(700_000, seed: 9)
        let (status, frame) = compress(input)
        #expect(status == INOS_OK)
        let dir = FileManager.default.temporaryDirectory
        let framePath = dir.appendingPathComponent("inos-\(getpid()).lz4")
        let outPath = dir.appendingPathComponent("inos-\(getpid()).out")
        try Data(frame).write(to: framePath)
        defer { try? FileManager.default.removeItem(at: framePath); try? FileManager.default.removeItem(at: outPath) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-d", "-f", "-q", framePath.path, outPath.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try Array(Data(contentsOf: outPath)) == input)
    }

    @Test("an invalid config value fails init with a clear message")
    func badConfig() throws {
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), config: ["level": "fast"])]),
            logger: quietLogger)
        let error = #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(error?.code == .initFailed)
        #expect(error?.message.contains("config level \"fast\" must be 0...12") == true)
    }
}

