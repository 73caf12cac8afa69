// SPDX-License-Identifier: Apache-2.0
//
// The file chunk store plugin: inos.store/1 over FileStore. Config: `path` (required: the store's folder),
// `capacity_mib` (default: the free space of that file system when the store opens).
import InosStoreKit
import PluginABI
import PluginKit

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_STORE), id: "inos.store.file", name: "File chunk store", version: "1.0.0",
    description: "Content-addressed chunks in files: temp + fdatasync + rename, CRC32C checked, corrupt chunks quarantined",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        do throws(StoreError) {
            let config = try StoreConfiguration(host: host)
            outInstance.pointee = StoreInstance(try FileStore(root: config.path, capacity: config.capacity)).opaque
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
