// SPDX-License-Identifier: Apache-2.0
//
// The LZ4 compression codec plugin: inos.compression/1 over liblz4's frame format, so a compressed chunk
// is readable by the `lz4` command-line tool. Config: `level` (0 = fast default, 1..12 = HC levels),
// `content_checksum` (true/false, default false: every decoded chunk is checked against its SHA-256 ID and
// every stored record against its CRC32C, and the frame's XXH32 over the content halved the codec's speed on
// these machines — 2.1 vs 1.0 GB/s on mixed data, docs/benchmarks.md).
import CLZ4
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

/// Per-instance settings. Immutable after init, so calls from many threads need no lock.
final class LZ4Codec {
    var preferences = LZ4F_preferences_t()

    init(level: Int32, contentChecksum: Bool) {
        preferences.compressionLevel = level
        preferences.frameInfo.contentChecksumFlag = contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum
        // 64 KiB independent blocks: a frame decodes window by window (decompress_each) with one 64 KiB buffer,
        // so a verify never holds a whole chunk's content; LZ4's match window is 64 KiB, so the ratio barely moves.
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
    }

    static func from(_ instance: UnsafeMutableRawPointer?) -> LZ4Codec {
        Unmanaged<LZ4Codec>.fromOpaque(instance!).takeUnretainedValue()
    }
}

/// Bytes of input compressed by the incompressibility probe.
private let probeSize: UInt64 = 64 << 10

// nonisolated(unsafe): written once by the lazy initialiser, then only read.
nonisolated(unsafe) private let compressionTable: UnsafePointer<inos_compression_v1> = {
    let table = UnsafeMutablePointer<inos_compression_v1>.allocate(capacity: 1)
    table.initialize(to: inos_compression_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_compression_v1>.size)
    table.pointee.format = INOS_COMPRESSION_FORMAT_LZ4_FRAME
    table.pointee.max_compressed_size = { instance, size in
        var preferences = LZ4Codec.from(instance).preferences
        return UInt64(LZ4F_compressFrameBound(Int(size), &preferences))
    }
    table.pointee.compress = { instance, src, srcLength, dst, dstCapacity, outLength, error in
        guard let dst, let outLength, srcLength == 0 || src != nil else {
            return fail(error, INOS_ERR_INVALID_ARGUMENT, "null buffer")
        }
        var preferences = LZ4Codec.from(instance).preferences
        preferences.frameInfo.contentSize = srcLength
        let bound = UInt64(LZ4F_compressFrameBound(Int(srcLength), &preferences))
        guard dstCapacity >= bound else {
            return fail(error, INOS_ERR_BUFFER_TOO_SMALL, "destination needs \(bound) bytes", detail: bound)
        }
        // Early incompressibility probe: one block of the input must shrink by at least 1/64, else the
        // whole input is reported incompressible without compressing the rest (random data, media).
        if srcLength >= 2 * probeSize {
            let probeLimit = Int32(probeSize - probeSize / 64)
            let fitted = withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(probeLimit)) { scratch in
                LZ4_compress_default(UnsafeRawPointer(src!).assumingMemoryBound(to: CChar.self), scratch.baseAddress,
                                     Int32(probeSize), probeLimit)
            }
            if fitted == 0 { return fail(error, INOS_ERR_INCOMPRESSIBLE, "probe block did not compress") }
        }
        let written = LZ4F_compressFrame(dst, Int(dstCapacity), src, Int(srcLength), &preferences)
        if LZ4F_isError(written) != 0 {
            return fail(error, INOS_ERR_INTERNAL, "LZ4F_compressFrame: " + String(cString: LZ4F_getErrorName(written)))
        }
        if UInt64(written) >= srcLength {
            return fail(error, INOS_ERR_INCOMPRESSIBLE, "frame would not be smaller than the input")
        }
        outLength.pointee = UInt64(written)
        return INOS_OK
    }
    table.pointee.decompress = { _, src, srcLength, dst, dstCapacity, outLength, error in
        guard let src, let dst, let outLength else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null buffer") }
        return withDecompressionContext(error) { context in
            var consumed = 0
            var produced = 0
            while true {
                var inSize = Int(srcLength) - consumed
                var outSize = Int(dstCapacity) - produced
                let hint = LZ4F_decompress(context, dst + produced, &outSize, src + consumed, &inSize, nil)
                if LZ4F_isError(hint) != 0 {
                    return fail(error, INOS_ERR_CORRUPT, "not a valid LZ4 frame: " + String(cString: LZ4F_getErrorName(hint)))
                }
                consumed += inSize
                produced += outSize
                if hint == 0 { break }  // frame complete
                if consumed == Int(srcLength) {
                    return fail(error, INOS_ERR_CORRUPT, "LZ4 frame is truncated")
                }
                if produced == Int(dstCapacity) && outSize == 0 && inSize == 0 {
                    return fail(error, INOS_ERR_BUFFER_TOO_SMALL, "decompressed data exceeds the destination")
                }
            }
            outLength.pointee = UInt64(produced)
            return INOS_OK
        }
    }
    table.pointee.decompress_each = { _, src, srcLength, sink, sinkContext, outLength, error in
        guard let src, let sink, let outLength else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        return withDecompressionContext(error) { context in
            // One window of a frame's largest block size: liblz4 decodes an independent block straight into it.
            let windowSize = 64 << 10
            let window = UnsafeMutablePointer<UInt8>.allocate(capacity: windowSize)
            defer { window.deallocate() }
            var consumed = 0
            var produced: UInt64 = 0
            while true {
                var inSize = Int(srcLength) - consumed
                var outSize = windowSize
                let hint = LZ4F_decompress(context, window, &outSize, src + consumed, &inSize, nil)
                if LZ4F_isError(hint) != 0 {
                    return fail(error, INOS_ERR_CORRUPT, "not a valid LZ4 frame: " + String(cString: LZ4F_getErrorName(hint)))
                }
                consumed += inSize
                if outSize > 0 {
                    produced += UInt64(outSize)
                    let status = sink(sinkContext, window, UInt64(outSize))
                    guard status == INOS_OK else { return status }
                }
                if hint == 0 { break }  // frame complete
                // Nothing taken and nothing given (all input used, nothing buffered): a truncated frame. A frame of
                // blocks larger than the window still drains from liblz4's buffer with no input left.
                if inSize == 0 && outSize == 0 {
                    return fail(error, INOS_ERR_CORRUPT, "LZ4 frame is truncated")
                }
            }
            outLength.pointee = produced
            return INOS_OK
        }
    }
    return UnsafePointer(table)
}()

/// Runs `body` with a fresh LZ4F decompression context, freed after it (`INOS_ERR_NO_MEMORY` if none can be made).
private func withDecompressionContext(
    _ error: UnsafeMutablePointer<inos_error>?, _ body: (OpaquePointer?) -> inos_status
) -> inos_status {
    var context: OpaquePointer?
    guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0 else {
        return fail(error, INOS_ERR_NO_MEMORY, "cannot create an LZ4F decompression context")
    }
    defer { LZ4F_freeDecompressionContext(context) }
    return body(context)
}

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_COMPRESSION_CODEC), id: "inos.compression.lz4", name: "LZ4 frame codec",
    version: "1.0.0", description: "LZ4 frame format (lz4 CLI compatible) via liblz4; detects incompressible input",
    initialize: { host, outInstance, error in
        guard let host, let outInstance else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        var level: Int32 = 0
        if let text = configValue(host, "level") {
            guard let value = Int32(text), (0...12).contains(value) else {
                return fail(error, INOS_ERR_INVALID_ARGUMENT, "config level \"\(text)\" must be 0...12")
            }
            level = value
        }
        var checksum = false
        if let text = configValue(host, "content_checksum") {
            guard let value = Bool(text) else {
                return fail(error, INOS_ERR_INVALID_ARGUMENT, "config content_checksum must be true or false")
            }
            checksum = value
        }
        outInstance.pointee = Unmanaged.passRetained(LZ4Codec(level: level, contentChecksum: checksum)).toOpaque()
        return INOS_OK
    },
    deinitialize: { instance in
        if let instance { Unmanaged<LZ4Codec>.fromOpaque(instance).release() }
    },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_COMPRESSION_V1) ? UnsafeRawPointer(compressionTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
