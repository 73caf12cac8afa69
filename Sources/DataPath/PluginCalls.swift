// SPDX-License-Identifier: Apache-2.0
import Content
import Host
import PluginABI
import PluginKit

/// The data path's calls into its plugins, each through its slot (so a hot swap never breaks a call), with
/// ABI statuses turned into ``DataPathError``s (the plugin's status and message as their cause, a
/// ``PluginCallError``).
struct PluginCalls: Sendable {
    let store: PluginSlot
    let compression: PluginSlot?
    let erasure: PluginSlot?

    init(host: HostRuntime, storeSlot: String = "store", compressionSlot: String = "compression", erasureSlot: String = "erasure")
        throws(DataPathError)
    {
        guard let store = host.slot(storeSlot), store.active != nil else {
            throw DataPathError(.missingPlugin, "no store plugin in slot \"\(storeSlot)\": enable one in the manifest (kind = \"store\")")
        }
        self.store = store
        self.compression = host.slot(compressionSlot)
        self.erasure = host.slot(erasureSlot)
    }

    private static func message(_ error: inos_error) -> String {
        withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The plugin's answer as the cause of a data-path error.
    private static func answer(_ status: PluginStatus, _ what: String, _ message: String) -> PluginCallError {
        PluginCallError(status, message.isEmpty ? "\(what): \(status)" : "\(what): \(status): \(message)")
    }

    private func using<T, R>(
        _ slot: PluginSlot, _ table: T.Type, _ what: String,
        _ body: (T, UnsafeMutableRawPointer?, inout inos_error) -> R
    ) throws(DataPathError) -> R {
        let result = slot.withActive { plugin -> R in
            var error = inos_error()
            error.struct_size = UInt32(MemoryLayout<inos_error>.size)
            return body(plugin.extensionTable(as: T.self).pointee, plugin.instance, &error)
        }
        guard let result else { throw DataPathError(.missingPlugin, "slot \(slot.name) has no plugin for \(what)") }
        return result
    }

    // MARK: Compression

    /// Compresses into `dst`; returns the stored encoding and length (raw when incompressible or no codec).
    func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws(DataPathError)
        -> (ResourceManifest.Encoding, Int)
    {
        guard let compression, compression.active != nil else { return (.raw, src.count) }
        let (status, length, message) = try using(compression, inos_compression_v1.self, "compression") { table, instance, error in
            var length: UInt64 = 0
            let status = table.compress(
                instance, src.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(src.count),
                dst.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(dst.count), &length, &error)
            return (PluginStatus(status), Int(length), Self.message(error))
        }
        switch status {
        case .ok: return (.lz4Frame, length)
        case .incompressible: return (.raw, src.count)
        default:
            throw DataPathError(.plugin, "compression failed: \(status): \(message)", cause: Self.answer(status, "compress", message))
        }
    }

    /// Worst-case compressed size, for sizing the working buffer.
    func maxCompressedSize(_ length: Int) throws(DataPathError) -> Int {
        guard let compression, compression.active != nil else { return length }
        return try using(compression, inos_compression_v1.self, "compression") { table, instance, _ in
            Int(table.max_compressed_size(instance, UInt64(length)))
        }
    }

    func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, chunk: ContentID)
        throws(DataPathError) -> Int
    {
        guard let compression, compression.active != nil else {
            throw DataPathError(.missingPlugin, "chunk \(chunk) is LZ4-compressed but no compression plugin is loaded")
        }
        let (status, length, message) = try using(compression, inos_compression_v1.self, "decompression") { table, instance, error in
            var length: UInt64 = 0
            let status = table.decompress(
                instance, src.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(src.count),
                dst.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(dst.count), &length, &error)
            return (PluginStatus(status), Int(length), Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(
                .corrupt, "chunk \(chunk) does not decompress: \(message)", chunks: [chunk], cause: Self.answer(status, "decompress", message))
        }
        return length
    }

    /// Decodes `src` window by window, calling `body` with each window in order (valid only during the call);
    /// returns the decoded length, or nil when the codec serving now has no `decompress_each` (a 1.2 plugin:
    /// decode whole instead). The capability is checked in the same call that uses it, so a hot swap in between
    /// cannot hand the call to a table without the function.
    func decompressEach(_ src: UnsafeRawBufferPointer, chunk: ContentID, _ body: (UnsafeRawBufferPointer) -> Void) throws(DataPathError) -> Int? {
        guard let compression, compression.active != nil else {
            throw DataPathError(.missingPlugin, "chunk \(chunk) is LZ4-compressed but no compression plugin is loaded")
        }
        /// The sink's context: the body, for the callback to call.
        final class Sink {
            let body: (UnsafeRawBufferPointer) -> Void
            init(_ body: @escaping (UnsafeRawBufferPointer) -> Void) { self.body = body }
        }
        let outcome = withoutActuallyEscaping(body) { body -> Result<(inos_status, Int, String)?, DataPathError> in
            let sink = Sink(body)
            do throws(DataPathError) {
                return .success(try using(compression, inos_compression_v1.self, "decompression") { table, instance, error in
                    guard withUnsafePointer(to: table, { inos_compression_has_decompress_each($0) != 0 }) else { return nil }
                    var length: UInt64 = 0
                    let status = table.decompress_each(
                        instance, src.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(src.count),
                        { context, bytes, length in
                            Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().body(UnsafeRawBufferPointer(start: bytes, count: Int(length)))
                            return INOS_OK
                        }, Unmanaged.passUnretained(sink).toOpaque(), &length, &error)
                    return (status, Int(length), Self.message(error))
                })
            } catch { return .failure(error) }
        }
        guard let (status, length, message) = try outcome.get() else { return nil }
        guard status == INOS_OK else {
            throw DataPathError(.corrupt, "chunk \(chunk) does not decompress: \(message)", chunks: [chunk])
        }
        return length
    }

    // MARK: Store

    /// The data-path code for a store's failure status: a full store (``PluginStatus/full``: its capacity or the
    /// disk, ENOSPC) is `.noSpace`, an I/O error `.io`, anything else `.plugin`.
    static func code(of status: PluginStatus) -> DataPathError.Code {
        switch status {
        case .full: .noSpace
        case .io: .io
        default: .plugin
        }
    }

    func put(_ id: ContentID, _ bytes: UnsafeRawBufferPointer) throws(DataPathError) {
        let key = id.bytes
        let (status, message) = try using(store, inos_store_v1.self, "put") { table, instance, error in
            (PluginStatus(table.put(instance, key, UInt32(key.count), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), &error)),
             Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(
                Self.code(of: status), "storing \(id) failed: \(status): \(message)", chunks: [id], cause: Self.answer(status, "put", message))
        }
    }

    /// Stores `bytes` without waiting for durability: the store's group commit (`stage`), made durable by
    /// ``commit()``. A store without group commit gets a plain durable `put`.
    func stage(_ id: ContentID, _ bytes: UnsafeRawBufferPointer) throws(DataPathError) {
        let key = id.bytes
        let (status, message) = try using(store, inos_store_v1.self, "stage") { table, instance, error in
            guard table.struct_size >= UInt32(MemoryLayout<inos_store_v1>.offset(of: \.commit)! + 8), let stage = table.stage else {
                return (PluginStatus(table.put(instance, key, UInt32(key.count), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), &error)),
                        Self.message(error))
            }
            return (PluginStatus(stage(instance, key, UInt32(key.count), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), &error)),
                    Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(
                Self.code(of: status), "storing \(id) failed: \(status): \(message)", chunks: [id], cause: Self.answer(status, "stage", message))
        }
    }

    /// Makes every staged chunk durable and visible (one flush for the batch).
    func commit() throws(DataPathError) {
        let (status, message) = try using(store, inos_store_v1.self, "commit") { table, instance, error in
            guard table.struct_size >= UInt32(MemoryLayout<inos_store_v1>.offset(of: \.commit)! + 8), let commit = table.commit else {
                return (PluginStatus.ok, "")
            }
            return (PluginStatus(commit(instance, &error)), Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(
                Self.code(of: status), "committing staged chunks failed: \(status): \(message)", cause: Self.answer(status, "commit", message))
        }
    }

    /// Reads a stored chunk into `dst`. `nil` when absent or corrupt (the store quarantines corrupt ones);
    /// other failures throw.
    func get(_ id: ContentID, into dst: UnsafeMutableRawBufferPointer) throws(DataPathError) -> Int? {
        let key = id.bytes
        let (status, length, message) = try using(store, inos_store_v1.self, "get") { table, instance, error in
            var length: UInt64 = 0
            let status = table.get(instance, key, UInt32(key.count), dst.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(dst.count), &length, &error)
            return (PluginStatus(status), Int(length), Self.message(error))
        }
        switch status {
        case .ok: return length
        case .notFound, .corrupt: return nil
        default:
            throw DataPathError(.plugin, "reading \(id) failed: \(status): \(message)", chunks: [id], cause: Self.answer(status, "get", message))
        }
    }

    func remove(_ id: ContentID) {
        let key = id.bytes
        _ = try? using(store, inos_store_v1.self, "remove") { table, instance, error in
            table.remove(instance, key, UInt32(key.count), &error)
        }
    }

    func stats() throws(DataPathError) -> inos_store_stats {
        try using(store, inos_store_v1.self, "stats") { table, instance, error in
            var stats = inos_store_stats()
            _ = table.stats(instance, &stats, &error)
            return stats
        }
    }

    /// Every stored key, as content IDs (keys that are not CIDs are skipped).
    func keys() throws(DataPathError) -> [ContentID] {
        final class Box { var ids: [ContentID] = [] }
        let box = Box()
        _ = try using(store, inos_store_v1.self, "list") { table, instance, error in
            table.list(instance, { context, key, length, _ in
                let bytes = Array(UnsafeBufferPointer(start: key, count: Int(length)))
                if let id = try? ContentID(bytes: bytes) { Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue().ids.append(id) }
                return 0
            }, Unmanaged.passUnretained(box).toOpaque(), &error)
        }
        return box.ids
    }

    // MARK: Erasure

    func requireErasure() throws(DataPathError) -> PluginSlot {
        guard let erasure, erasure.active != nil else {
            throw DataPathError(.missingPlugin, "erasure coding needs an erasure plugin (kind = \"erasure\") in the manifest")
        }
        return erasure
    }

    func encode(k: Int, m: Int, shardLength: Int, data: [UnsafeMutableRawPointer], parity: [UnsafeMutableRawPointer])
        throws(DataPathError)
    {
        let slot = try requireErasure()
        let (status, message) = try using(slot, inos_erasure_v1.self, "encode") { table, instance, error in
            var sources = data.map { Optional(UnsafePointer($0.assumingMemoryBound(to: UInt8.self))) }
            var outputs = parity.map { Optional($0.assumingMemoryBound(to: UInt8.self)) }
            return (PluginStatus(table.encode(instance, UInt32(k), UInt32(m), UInt64(shardLength), &sources, &outputs, &error)), Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(.plugin, "erasure encode \(k)+\(m) failed: \(message)", cause: Self.answer(status, "encode", message))
        }
    }

    func reconstruct(k: Int, m: Int, shardLength: Int, shards: [UnsafeMutableRawPointer], present: [Bool])
        throws(DataPathError)
    {
        let slot = try requireErasure()
        let (status, message) = try using(slot, inos_erasure_v1.self, "reconstruct") { table, instance, error in
            var pointers = shards.map { Optional($0.assumingMemoryBound(to: UInt8.self)) }
            var flags = present.map { UInt8($0 ? 1 : 0) }
            return (PluginStatus(table.reconstruct(instance, UInt32(k), UInt32(m), UInt64(shardLength), &pointers, &flags, &error)), Self.message(error))
        }
        guard status == .ok else {
            throw DataPathError(.unrecoverable, "erasure reconstruct failed: \(message)", cause: Self.answer(status, "reconstruct", message))
        }
    }
}

extension PluginCalls {
    enum Fetch {
        case found(Int)
        case missing
        case needs(Int)
    }

    /// Like ``get(_:into:)`` but reports the size a too-small buffer would need.
    func getReportingSize(_ id: ContentID, into dst: UnsafeMutableRawBufferPointer) throws(DataPathError) -> Fetch {
        let key = id.bytes
        let slot = store
        let outcome = slot.withActive { plugin -> (PluginStatus, UInt64) in
            var error = inos_error()
            var length: UInt64 = 0
            let table = plugin.extensionTable(as: inos_store_v1.self).pointee
            let status = table.get(plugin.instance, key, UInt32(key.count), dst.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(dst.count), &length, &error)
            return (PluginStatus(status), length)
        }
        guard let (status, length) = outcome else { throw DataPathError(.missingPlugin, "no store plugin") }
        switch status {
        case .ok: return .found(Int(length))
        case .bufferTooSmall: return .needs(Int(length))
        case .notFound, .corrupt: return .missing
        default: throw DataPathError(.plugin, "reading \(id) failed: \(status)", chunks: [id], cause: Self.answer(status, "get", ""))
        }
    }
}
