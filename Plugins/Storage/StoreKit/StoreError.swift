// SPDX-License-Identifier: Apache-2.0
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// A store failure: an `inos_status` code, a message for the operator, and a detail number (the needed
/// size for `INOS_ERR_BUFFER_TOO_SMALL`, errno for `INOS_ERR_IO`).
package struct StoreError: Error {
    package var code: Int32
    package var message: String
    package var detail: UInt64 = 0

    package init(code: Int32, _ message: String, detail: UInt64 = 0) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// An I/O failure described by the current `errno`.
    package static func io(_ what: String) -> StoreError {
        let number = errno
        return StoreError(code: INOS_ERR_IO, "\(what): \(String(cString: strerror(number)))", detail: UInt64(number))
    }

    package static func notFound(_ key: ChunkKey) -> StoreError {
        StoreError(code: INOS_ERR_NOT_FOUND, "no chunk \(key.hex)")
    }
}
