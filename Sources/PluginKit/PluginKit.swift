// SPDX-License-Identifier: Apache-2.0
import PluginABI

/// Helpers for writing an INOS plugin in Swift. Linked statically into each plugin; only the C types of
/// PluginABI ever cross into the host.

/// Builds the constant descriptor a plugin's `inos_plugin_entry` returns. Call it once (from a global
/// `let`), so the pointer stays valid for as long as the image is mapped.
public func makeDescriptor(
    kind: UInt32, id: StaticString, name: StaticString, version: StaticString, description: StaticString,
    initialize: @convention(c) (
        UnsafePointer<inos_host_api>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<inos_error>?
    ) -> inos_status,
    deinitialize: @convention(c) (UnsafeMutableRawPointer?) -> Void,
    getExtension: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeRawPointer?
) -> UnsafePointer<inos_plugin_descriptor> {
    let descriptor = UnsafeMutablePointer<inos_plugin_descriptor>.allocate(capacity: 1)
    func cString(_ s: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
    }
    let toolchain = strdup(swiftToolchainTag)!
    descriptor.initialize(
        to: inos_plugin_descriptor(
            struct_size: UInt32(MemoryLayout<inos_plugin_descriptor>.size), magic: INOS_PLUGIN_MAGIC,
            abi_major: UInt16(INOS_ABI_MAJOR), abi_minor: UInt16(INOS_ABI_MINOR), kind: kind, id: cString(id),
            name: cString(name), version: cString(version), toolchain: UnsafePointer(toolchain),
            description: cString(description), init: initialize, deinit: deinitialize, get_extension: getExtension))
    return UnsafePointer(descriptor)
}

/// Writes a code and message into a caller's `inos_error` (truncated to fit, always NUL-terminated) and
/// returns the code, so a plugin can `return fail(error, INOS_ERR_CORRUPT, "bad frame")`.
@discardableResult
public func fail(_ error: UnsafeMutablePointer<inos_error>?, _ code: inos_status, _ message: String, detail: UInt64 = 0)
    -> inos_status
{
    guard let error else { return code }
    error.pointee.code = code
    error.pointee.detail = detail
    withUnsafeMutableBytes(of: &error.pointee.message) { buffer in
        let bytes = Array(message.utf8.prefix(buffer.count - 1))
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
    }
    return code
}

/// ``fail(_:_:_:detail:)`` with a ``PluginStatus``: writes its value and the message, returns the raw status.
@discardableResult
public func fail(_ error: UnsafeMutablePointer<inos_error>?, _ status: PluginStatus, _ message: String, detail: UInt64 = 0)
    -> inos_status
{
    fail(error, status.rawValue, message, detail: detail)
}

/// Compares a C extension id with a Swift string without allocating.
public func extensionID(_ requested: UnsafePointer<CChar>?, is id: String) -> Bool {
    guard let requested else { return false }
    return id.withCString { strcmp($0, requested) == 0 }
}

#if canImport(Glibc)
import Glibc
#endif

/// A key of the plugin's `[plugins.config]` table, through the host's `config_get`; nil when absent.
/// Asks for the length first, so values of any length are read whole.
public func configValue(_ host: UnsafePointer<inos_host_api>, _ key: String) -> String? {
    var length: UInt32 = 0
    guard PluginStatus(host.pointee.config_get(host.pointee.ctx, key, nil, 0, &length)) == .bufferTooSmall else { return nil }
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    guard PluginStatus(host.pointee.config_get(host.pointee.ctx, key, &buffer, UInt32(buffer.count), &length)) == .ok else { return nil }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
