// SPDX-License-Identifier: Apache-2.0
//
// The inos.store/1 table shared by the store plugins: C entry points that check their arguments, turn
// keys into ChunkKey and errors into inos_error, and call the instance's ChunkStore.
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

/// The plugin instance handed to the host: a retained box around the store.
package final class StoreInstance {
    package let store: any ChunkStore

    package init(_ store: any ChunkStore) { self.store = store }

    package var opaque: UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }

    /// Balances `opaque`; for the descriptor's deinit.
    package static func release(_ instance: UnsafeMutableRawPointer?) {
        if let instance { Unmanaged<StoreInstance>.fromOpaque(instance).release() }
    }
}

private func store(_ instance: UnsafeMutableRawPointer?) -> any ChunkStore {
    Unmanaged<StoreInstance>.fromOpaque(instance!).takeUnretainedValue().store
}

private func key(_ bytes: UnsafePointer<UInt8>?, _ length: UInt32, _ error: UnsafeMutablePointer<inos_error>?) -> ChunkKey? {
    guard let bytes, let key = ChunkKey(UnsafeRawBufferPointer(start: bytes, count: Int(length))) else {
        fail(error, INOS_ERR_INVALID_ARGUMENT, "keys are 1...\(ChunkKey.maximumLength) bytes")
        return nil
    }
    return key
}

package func report(_ error: StoreError, _ out: UnsafeMutablePointer<inos_error>?) -> inos_status {
    fail(out, error.code, error.message, detail: error.detail)
}

/// Runs a store call, mapping a thrown StoreError to its status.
private func run(_ out: UnsafeMutablePointer<inos_error>?, _ body: () throws(StoreError) -> Void) -> inos_status {
    do throws(StoreError) {
        try body()
        return INOS_OK
    } catch {
        return report(error, out)
    }
}

/// The `inos.store/1` table; the same for every store plugin.
// nonisolated(unsafe): written once by the lazy initialiser, then only read.
nonisolated(unsafe) package let storeTable: UnsafePointer<inos_store_v1> = {
    let table = UnsafeMutablePointer<inos_store_v1>.allocate(capacity: 1)
    table.initialize(to: inos_store_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_store_v1>.size)
    table.pointee.put = { instance, keyBytes, keyLength, data, length, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard data != nil || length == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null data") }
        return run(errorOut) { () throws(StoreError) in
            try store(instance).put(name, UnsafeRawBufferPointer(start: data, count: Int(length)))
        }
    }
    table.pointee.stage = { instance, keyBytes, keyLength, data, length, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard data != nil || length == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null data") }
        return run(errorOut) { () throws(StoreError) in
            try store(instance).stage(name, UnsafeRawBufferPointer(start: data, count: Int(length)))
        }
    }
    table.pointee.commit = { instance, errorOut in
        run(errorOut) { () throws(StoreError) in try store(instance).commit() }
    }
    table.pointee.get = { instance, keyBytes, keyLength, dst, capacity, outLength, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard let outLength, dst != nil || capacity == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null buffer") }
        do throws(StoreError) {
            let buffer = UnsafeMutableRawBufferPointer(start: dst, count: Int(clamping: capacity))
            outLength.pointee = UInt64(try store(instance).get(name, into: buffer))
            return INOS_OK
        } catch {
            if error.code == .bufferTooSmall { outLength.pointee = error.detail }
            return report(error, errorOut)
        }
    }
    table.pointee.remove = { instance, keyBytes, keyLength, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        return run(errorOut) { () throws(StoreError) in try store(instance).remove(name) }
    }
    table.pointee.stats = { instance, out, errorOut in
        guard let out else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null stats") }
        let s = store(instance).statistics()
        out.pointee = inos_store_stats(
            struct_size: UInt32(MemoryLayout<inos_store_stats>.size), reserved: 0, capacity_bytes: s.capacity,
            used_bytes: s.used, chunk_count: s.count, quarantined_count: s.quarantined)
        return INOS_OK
    }
    table.pointee.list = { instance, visit, context, errorOut in
        guard let visit else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null visitor") }
        store(instance).forEach { key, size in
            key.withBytes { visit(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32($0.count), size) } == 0
        }
        return INOS_OK
    }
    return UnsafePointer(table)
}()

/// The settings every store plugin reads from its `[plugins.config]`: `path` (required) and
/// `capacity_mib` (default: the free space of the file system holding `path`).
package struct StoreConfiguration {
    package var path: String
    package var capacity: UInt64

    package init(host: UnsafePointer<inos_host_api>) throws(StoreError) {
        guard let path = configValue(host, "path"), !path.isEmpty else {
            throw StoreError(code: .invalidArgument, "config path is required: the folder of the chunk store")
        }
        self.path = path
        if let mib = try Self.positiveInteger(host, "capacity_mib") {
            capacity = mib << 20
        } else {
            capacity = StoreFiles.freeSpace(path)
        }
    }

    /// A positive integer setting, nil when absent; a clear error when it is not one.
    package static func positiveInteger(_ host: UnsafePointer<inos_host_api>, _ key: String) throws(StoreError) -> UInt64? {
        guard let text = configValue(host, key) else { return nil }
        guard let value = UInt64(text), value > 0, value < 1 << 44 else {
            throw StoreError(code: .invalidArgument, "config \(key) \"\(text)\" must be a positive integer")
        }
        return value
    }
}
