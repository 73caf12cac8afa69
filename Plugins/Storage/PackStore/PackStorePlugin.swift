// SPDX-License-Identifier: Apache-2.0
//
// The pack chunk store plugin: inos.store/1 over PackStore. Config: `path` (required: the store's folder),
// `capacity_mib` (default: the free space of that file system when the store opens), `pack_mib` (size at
// which a pack file is sealed and a new one started; default 1024), `write_lanes` (packs appended to in
// parallel; default: the number of CPUs, at most 16).
import InosStoreKit
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_STORE), id: "inos.store.pack", name: "Pack chunk store", version: "1.0.0",
    description: "Content-addressed chunks appended to pack files with an index log: one fdatasync per commit, CRC32C checked, corrupt chunks quarantined, compaction",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        do throws(StoreError) {
            let config = try StoreConfiguration(host: host)
            let packMiB = try StoreConfiguration.positiveInteger(host, "pack_mib") ?? 1024
            let lanes = try StoreConfiguration.positiveInteger(host, "write_lanes") ?? UInt64(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            let store = try PackStore(root: config.path, capacity: config.capacity, packLimit: packMiB << 20, lanes: Int(min(lanes, 16)))
            outInstance.pointee = StoreInstance(store).opaque
            return INOS_OK
        } catch {
            return report(error, errorOut)
        }
    },
    deinitialize: { instance in StoreInstance.release(instance) },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_STORE_V1) ? UnsafeRawPointer(storeTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
