// SPDX-License-Identifier: Apache-2.0
import InosSystem
import PluginABI
import PluginKit

/// A store failure: a ``PluginStatus`` code (what the store answers across the ABI), a message for the operator, and a detail number (the needed
/// size for `INOS_ERR_BUFFER_TOO_SMALL`, errno for `INOS_ERR_IO` and for `INOS_ERR_FULL` from the disk).
package struct StoreError: Error {
    package var code: PluginStatus
    package var message: String
    package var detail: UInt64 = 0

    package init(code: PluginStatus, _ message: String, detail: UInt64 = 0) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// A failed system call: a full disk (ENOSPC, EDQUOT) is `INOS_ERR_FULL`, as a full store is — the
    /// caller can free space or go elsewhere — and anything else `INOS_ERR_IO`; `detail` is the errno.
    package init(_ what: String, _ error: SystemError) {
        self.init(
            code: error.isNoSpace ? .full : .io,
            "\(what): \(error.isNoSpace ? "no space left on the disk: " : "")\(error.reason)", detail: UInt64(error.errno))
    }

    package static func notFound(_ key: ChunkKey) -> StoreError {
        StoreError(code: .notFound, "no chunk \(key.hex)")
    }
}
