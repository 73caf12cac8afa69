// SPDX-License-Identifier: Apache-2.0
//
// The file chunk store plugin: inos.store/1 over FileStore. Config: `path` (required: the store's folder),
// `capacity_mib` (default: the free space of that file system when the store opens).
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

private func store(_ instance: UnsafeMutableRawPointer?) -> FileStore {
    Unmanaged<FileStore>.fromOpaque(instance!).takeUnretainedValue()
}

private func key(_ bytes: UnsafePointer<UInt8>?, _ length: UInt32, _ error: UnsafeMutablePointer<inos_error>?) -> String? {
    guard let bytes, length > 0, length <= 64 else {
        fail(error, INOS_ERR_INVALID_ARGUMENT, "keys are 1...64 bytes")
        return nil
    }
    return FileStore.hex(UnsafeBufferPointer(start: bytes, count: Int(length)))
}

private func report(_ error: StoreError, _ out: UnsafeMutablePointer<inos_error>?) -> inos_status {
    fail(out, error.code, error.message, detail: error.detail)
}

// nonisolated(unsafe): written once by the lazy initialiser, then only read.
nonisolated(unsafe) private let storeTable: UnsafePointer<inos_store_v1> = {
    let table = UnsafeMutablePointer<inos_store_v1>.allocate(capacity: 1)
    table.initialize(to: inos_store_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_store_v1>.size)
    table.pointee.put = { instance, keyBytes, keyLength, data, length, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard data != nil || length == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null data") }
        do throws(StoreError) {
            try store(instance).put(key: name, data: UnsafeRawBufferPointer(start: data, count: Int(length)))
            return INOS_OK
        } catch { return report(error, errorOut) }
    }
    table.pointee.get = { instance, keyBytes, keyLength, dst, capacity, outLength, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard let outLength, dst != nil || capacity == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null buffer") }
        do throws(StoreError) {
            outLength.pointee = UInt64(try store(instance).get(key: name, into: UnsafeMutableRawBufferPointer(start: dst, count: Int(capacity))))
            return INOS_OK
        } catch {
            if error.code == INOS_ERR_BUFFER_TOO_SMALL { outLength.pointee = error.detail }
            return report(error, errorOut)
        }
    }
    table.pointee.remove = { instance, keyBytes, keyLength, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        do throws(StoreError) {
            try store(instance).remove(key: name)
            return INOS_OK
        } catch { return report(error, errorOut) }
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
        store(instance).forEach { hex, size in
            guard let bytes = unhex(hex) else { return true }  // not a chunk file: skip
            return bytes.withUnsafeBufferPointer { visit(context, $0.baseAddress, UInt32($0.count), size) } == 0
        }
        return INOS_OK
    }
    table.pointee.stage = { instance, keyBytes, keyLength, data, length, errorOut in
        guard let name = key(keyBytes, keyLength, errorOut) else { return INOS_ERR_INVALID_ARGUMENT }
        guard data != nil || length == 0 else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null data") }
        do throws(StoreError) {
            try store(instance).stage(key: name, data: UnsafeRawBufferPointer(start: data, count: Int(length)))
            return INOS_OK
        } catch { return report(error, errorOut) }
    }
    table.pointee.commit = { instance, errorOut in
        do throws(StoreError) {
            try store(instance).commit()
            return INOS_OK
        } catch { return report(error, errorOut) }
    }
    return UnsafePointer(table)
}()

private func unhex(_ text: String) -> [UInt8]? {
    let bytes = Array(text.utf8)
    guard bytes.count % 2 == 0, !bytes.isEmpty, bytes.count <= 128 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
    var out: [UInt8] = []
    for i in stride(from: 0, to: bytes.count, by: 2) {
        guard let high = nibble(bytes[i]), let low = nibble(bytes[i + 1]) else { return nil }
        out.append(high << 4 | low)
    }
    return out
}

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_STORE), id: "inos.store.file", name: "File chunk store", version: "1.0.0",
    description: "Content-addressed chunks in files: temp + fdatasync + rename, CRC32C checked, corrupt chunks quarantined",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        guard let path = configValue(host, "path"), !path.isEmpty else {
            return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "config path is required: the folder of the chunk store")
        }
        var capacity = UInt64.max
        if let text = configValue(host, "capacity_mib") {
            guard let mib = UInt64(text), mib > 0 else {
                return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "config capacity_mib \"\(text)\" must be a positive integer")
            }
            capacity = mib << 20
        }
        do throws(StoreError) {
            let store = try FileStore(root: path, capacity: capacity == .max ? freeSpace(path) : capacity)
            outInstance.pointee = Unmanaged.passRetained(store).toOpaque()
            return INOS_OK
        } catch {
            return report(error, errorOut)
        }
    },
    deinitialize: { instance in
        if let instance { Unmanaged<FileStore>.fromOpaque(instance).release() }
    },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_STORE_V1) ? UnsafeRawPointer(storeTable) : nil
    })

/// Free bytes of the file system holding `path` (its parent if it does not exist yet), plus what the store
/// already holds is counted by the store itself.
private func freeSpace(_ path: String) -> UInt64 {
    var info = statvfs()
    if statvfs(path, &info) != 0 && statvfs(".", &info) != 0 { return .max }
    return UInt64(info.f_bavail) * UInt64(info.f_frsize)
}

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
