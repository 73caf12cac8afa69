// SPDX-License-Identifier: Apache-2.0
import Host
import HostTestSupport
import PluginABI

/// The LZ4 and erasure plugins through the C ABI, loaded by a ``HostRuntime`` as a node loads them (from the
/// products folder: `swift build` puts libInosLZ4.so and libInosErasure.so next to the fuzzer and the tests).
enum PluginTargets {
    /// One host for the process: loading a plugin per input would measure dlopen, not the codec.
    static let host: HostRuntime = {
        do {
            let host = try HostRuntime(
                manifest: Manifest(
                    arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                    plugins: [
                        PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), kind: .compressionCodec),
                        PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosErasure")), kind: .erasureCodec),
                    ]),
                logger: quietLogger)
            try host.start()
            return host
        } catch {
            fatalError("the plugin targets need the plugins built next to this executable (swift build --product InosLZ4 / InosErasure): \(error)")
        }
    }()

    static func message(_ error: inos_error) -> String {
        withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Input: capacity (u16) ‖ bytes. The bytes are decompressed into that capacity (any bytes:
    /// INOS_ERR_CORRUPT or a length within the capacity, never a crash); then compressed and decompressed
    /// again, which must give them back.
    static func lz4(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let capacity = Int(input.integer(UInt16.self))
        let data = input.rest()
        host.slot("compression")!.withActive { plugin in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            var output = [UInt8](repeating: 0, count: max(capacity, 1))
            var length: UInt64 = 0
            var error = inos_error()
            let status = codec.decompress(plugin.instance, data, UInt64(data.count), &output, UInt64(capacity), &length, &error)
            require(status != INOS_OK || length <= UInt64(capacity), "decompress wrote \(length) bytes into \(capacity)")
            require(status == INOS_OK || !message(error).isEmpty, "decompress failed with status \(status) and no message")

            let bound = codec.max_compressed_size(plugin.instance, UInt64(data.count))
            var compressed = [UInt8](repeating: 0, count: Int(bound))
            var compressedLength: UInt64 = 0
            let packed = codec.compress(plugin.instance, data, UInt64(data.count), &compressed, bound, &compressedLength, &error)
            guard packed == INOS_OK else {
                return require(packed == INOS_ERR_INCOMPRESSIBLE, "compress failed with status \(packed): \(message(error))")
            }
            // The ABI: INOS_OK only when the frame is smaller than the input (else INOS_ERR_INCOMPRESSIBLE).
            require(compressedLength <= bound && compressedLength < UInt64(data.count), "compress wrote \(compressedLength) bytes for \(data.count) (bound \(bound))")
            var restored = [UInt8](repeating: 0, count: max(data.count, 1))
            var restoredLength: UInt64 = 0
            let unpacked = codec.decompress(plugin.instance, compressed, compressedLength, &restored, UInt64(data.count), &restoredLength, &error)
            require(unpacked == INOS_OK && restored.prefix(Int(restoredLength)).elementsEqual(data) && restoredLength == UInt64(data.count),
                    "the codec did not give back what it compressed (status \(unpacked): \(message(error)))")
        }
    }

    /// Input: mode (u8) ‖ k (u8) ‖ m (u8) ‖ shard length (u16) ‖ loss mask bytes ‖ data. Mode 0 (honest): k in
    /// 1…32, m in 1…8, encode, lose up to m shards, reconstruct: the shards come back. Mode 1 (hostile): k and
    /// m as given (0…255, the pointer arrays sized to match), any present flags: an error status, or success
    /// only for parameters the ABI allows — never a crash or a write outside the shards.
    static func erasure(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let hostile = input.byte() & 1 == 1
        let rawK = Int(input.byte()), rawM = Int(input.byte())
        let k = hostile ? rawK : 1 + rawK % 32, m = hostile ? rawM : 1 + rawM % 8
        let length = hostile ? Int(input.integer(UInt16.self) % 64) : 1 + Int(input.integer(UInt16.self) % 512)
        let mask = input.take((k + m + 7) / 8)
        let data = input.rest()
        let shards = (0..<(k + m)).map { shard -> UnsafeMutablePointer<UInt8> in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(length, 1))
            for byte in 0..<length { p[byte] = data.isEmpty ? UInt8(truncatingIfNeeded: shard &* 31 &+ byte) : data[(shard * length + byte) % data.count] }
            return p
        }
        defer { shards.forEach { $0.deallocate() } }
        host.slot("erasure")!.withActive { plugin in
            let table = plugin.extensionTable(as: inos_erasure_v1.self).pointee
            var error = inos_error()
            var sources = shards.prefix(k).map { Optional(UnsafePointer($0)) }
            var targets = shards.suffix(m).map { Optional($0) }
            let encoded = table.encode(plugin.instance, UInt32(k), UInt32(m), UInt64(length), &sources, &targets, &error)
            if !hostile { require(encoded == INOS_OK, "encode \(k)+\(m) of \(length) bytes failed: \(message(error))") }
            if encoded != INOS_OK { return require(!message(error).isEmpty, "encode failed with no message") }
            require(k >= 1 && k + m <= Int(table.max_shards), "encode accepted \(k)+\(m) shards (at most \(table.max_shards))")
            let original = shards.map { Array(UnsafeBufferPointer(start: $0, count: length)) }
            // Lose the shards the mask names, at most m in the honest mode.
            var present = [UInt8](repeating: 1, count: k + m)
            var lost = 0
            for shard in 0..<(k + m) where mask.isEmpty ? false : mask[shard / 8 % mask.count] & (1 << (shard % 8)) != 0 {
                guard hostile || lost < m else { break }
                present[shard] = 0
                lost += 1
                for byte in 0..<length { shards[shard][byte] = 0xEE }
            }
            var all = shards.map { Optional($0) }
            let rebuilt = table.reconstruct(plugin.instance, UInt32(k), UInt32(m), UInt64(length), &all, present, &error)
            if lost <= m && !hostile {
                require(rebuilt == INOS_OK, "reconstruct with \(lost) of \(m) shards lost failed: \(message(error))")
            }
            if rebuilt == INOS_OK {
                require(lost <= m, "reconstruct succeeded with \(lost) shards lost of \(m) parity")
                for shard in 0..<(k + m) {
                    require(Array(UnsafeBufferPointer(start: shards[shard], count: length)) == original[shard], "reconstruct gave back a wrong shard \(shard)")
                }
            }
        }
    }
}

/// What the seed generator (Fuzz/Seeds) needs from the plugins: real LZ4 frames, made by the plugin itself.
public enum PluginSeeds {
    /// `data` compressed by the LZ4 plugin, or nil when it does not compress.
    public static func lz4Frame(_ data: [UInt8]) -> [UInt8]? {
        PluginTargets.host.slot("compression")!.withActive { plugin -> [UInt8]? in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            let bound = codec.max_compressed_size(plugin.instance, UInt64(data.count))
            var out = [UInt8](repeating: 0, count: Int(bound))
            var length: UInt64 = 0
            var error = inos_error()
            guard codec.compress(plugin.instance, data, UInt64(data.count), &out, bound, &length, &error) == INOS_OK else { return nil }
            return Array(out.prefix(Int(length)))
        } ?? nil
    }
}
