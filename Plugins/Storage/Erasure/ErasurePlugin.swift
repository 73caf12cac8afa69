// SPDX-License-Identifier: Apache-2.0
//
// The Reed-Solomon erasure codec plugin: inos.erasure/1 over ISA-L with a Cauchy matrix (any k of k+m
// shards recover the rest; k+m ≤ 255). Encode tables are built once per (k, m) and cached; calls from
// several threads may run at once.
import CISAL
import PluginABI
import PluginKit
import Synchronization

/// Per-instance state: the cache of encode matrices and tables.
final class ErasureCodec: Sendable {
    struct Tables: Sendable {
        let matrix: [UInt8]  // (k+m) × k Cauchy matrix, identity on top
        let encode: [UInt8]  // ISA-L tables for the m parity rows
    }

    private let cache = Mutex<[Int: Tables]>([:])

    static func from(_ instance: UnsafeMutableRawPointer?) -> ErasureCodec {
        Unmanaged<ErasureCodec>.fromOpaque(instance!).takeUnretainedValue()
    }

    func tables(k: Int, m: Int) -> Tables {
        let key = k << 8 | m
        if let cached = cache.withLock({ $0[key] }) { return cached }
        var matrix = [UInt8](repeating: 0, count: (k + m) * k)
        gf_gen_cauchy1_matrix(&matrix, Int32(k + m), Int32(k))
        var encode = [UInt8](repeating: 0, count: k * m * 32)
        matrix.withUnsafeMutableBufferPointer { all in
            ec_init_tables(Int32(k), Int32(m), all.baseAddress! + k * k, &encode)
        }
        let tables = Tables(matrix: matrix, encode: encode)
        cache.withLock { $0[key] = tables }
        return tables
    }
}

private func check(k: UInt32, m: UInt32, length: UInt64, _ error: UnsafeMutablePointer<inos_error>?) -> PluginStatus {
    func refuse(_ message: String) -> PluginStatus {
        fail(error, PluginStatus.invalidArgument, message)
        return .invalidArgument
    }
    guard k >= 1, m >= 1 else { return refuse("k and m must be at least 1 (got \(k)+\(m))") }
    guard k + m <= 255 else { return refuse("k+m must be at most 255 (got \(k)+\(m))") }
    guard length > 0, length <= UInt64(Int32.max) else { return refuse("shard length \(length) must be 1...\(Int32.max)") }
    return .ok
}

// nonisolated(unsafe): written once by the lazy initialiser, then only read.
nonisolated(unsafe) private let erasureTable: UnsafePointer<inos_erasure_v1> = {
    let table = UnsafeMutablePointer<inos_erasure_v1>.allocate(capacity: 1)
    table.initialize(to: inos_erasure_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_erasure_v1>.size)
    table.pointee.max_shards = 255
    table.pointee.encode = { instance, k, m, length, data, parity, error in
        let status = check(k: k, m: m, length: length, error)
        guard status == .ok else { return status.rawValue }
        guard let data, let parity else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null shard array") }
        for i in 0..<Int(k) where data[i] == nil { return fail(error, INOS_ERR_INVALID_ARGUMENT, "data shard \(i) is null") }
        for i in 0..<Int(m) where parity[i] == nil { return fail(error, INOS_ERR_INVALID_ARGUMENT, "parity shard \(i) is null") }
        var tables = ErasureCodec.from(instance).tables(k: Int(k), m: Int(m)).encode
        ec_encode_data(
            Int32(length), Int32(k), Int32(m), &tables,
            UnsafeMutablePointer(mutating: UnsafeRawPointer(data).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)),
            UnsafeMutablePointer(mutating: parity))
        return INOS_OK
    }
    table.pointee.reconstruct = { instance, kk, mm, length, shards, present, error in
        let status = check(k: kk, m: mm, length: length, error)
        guard status == .ok else { return status.rawValue }
        guard let shards, let present else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null shard array") }
        let k = Int(kk), m = Int(mm), n = k + m
        for i in 0..<n where shards[i] == nil { return fail(error, INOS_ERR_INVALID_ARGUMENT, "shard \(i) is null") }
        let available = (0..<n).filter { present[$0] != 0 }
        let missing = (0..<n).filter { present[$0] == 0 }
        guard available.count >= k else {
            return fail(error, INOS_ERR_NOT_FOUND, "only \(available.count) of \(n) shards are present; \(k) are needed")
        }
        if missing.isEmpty { return INOS_OK }
        let sources = Array(available.prefix(k))
        let matrix = ErasureCodec.from(instance).tables(k: k, m: m).matrix
        // Invert the rows of the encode matrix that belong to the surviving shards.
        var survivors = [UInt8](repeating: 0, count: k * k)
        for (row, shard) in sources.enumerated() {
            for column in 0..<k { survivors[row * k + column] = matrix[shard * k + column] }
        }
        var inverse = [UInt8](repeating: 0, count: k * k)
        guard gf_invert_matrix(&survivors, &inverse, Int32(k)) == 0 else {
            return fail(error, INOS_ERR_INTERNAL, "the surviving shards' matrix is singular")
        }
        // One decode row per missing shard: the inverse's row for data, encode row × inverse for parity.
        var decode = [UInt8](repeating: 0, count: missing.count * k)
        for (row, shard) in missing.enumerated() {
            for column in 0..<k {
                if shard < k {
                    decode[row * k + column] = inverse[shard * k + column]
                } else {
                    var value: UInt8 = 0
                    for i in 0..<k { value ^= gf_mul(matrix[shard * k + i], inverse[i * k + column]) }
                    decode[row * k + column] = value
                }
            }
        }
        var tables = [UInt8](repeating: 0, count: k * missing.count * 32)
        ec_init_tables(Int32(k), Int32(missing.count), &decode, &tables)
        var inputs = sources.map { shards[$0] }
        var outputs = missing.map { shards[$0] }
        ec_encode_data(Int32(length), Int32(k), Int32(missing.count), &tables, &inputs, &outputs)
        return INOS_OK
    }
    return UnsafePointer(table)
}()

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_ERASURE_CODEC), id: "inos.erasure.isal", name: "ISA-L Reed-Solomon", version: "1.0.0",
    description: "Reed-Solomon k+m (Cauchy matrix, k+m <= 255) via Intel ISA-L; rebuilds from any k shards",
    initialize: { _, outInstance, error in
        guard let outInstance else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        outInstance.pointee = Unmanaged.passRetained(ErasureCodec()).toOpaque()
        return INOS_OK
    },
    deinitialize: { instance in
        if let instance { Unmanaged<ErasureCodec>.fromOpaque(instance).release() }
    },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_ERASURE_V1) ? UnsafeRawPointer(erasureTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
