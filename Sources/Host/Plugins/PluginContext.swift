// SPDX-License-Identifier: Apache-2.0
import InosSystem
import Logging
import PluginABI

/// What a plugin's `inos_host_api.ctx` points to: the host services bound to one plugin.
///
/// Owned by its ``LoadedPlugin``; the pointer handed to C is unretained and valid until the plugin's
/// deinit has returned (the host keeps the LoadedPlugin alive at least that long).
final class PluginContext: Sendable {
    let services: HostServices
    let pluginID: String
    let config: [String: String]
    let logger: Logger

    init(services: HostServices, pluginID: String, config: [String: String], logger: Logger) {
        self.services = services
        self.pluginID = pluginID
        self.config = config
        var logger = logger
        logger[metadataKey: "plugin"] = "\(pluginID)"
        self.logger = logger
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> PluginContext {
        Unmanaged<PluginContext>.fromOpaque(ctx!).takeUnretainedValue()
    }

    /// The C table handed to the plugin's init. Lives in the LoadedPlugin as long as the context.
    func makeHostAPI() -> inos_host_api {
        var api = inos_host_api()
        api.struct_size = UInt32(MemoryLayout<inos_host_api>.size)
        api.abi_major = UInt16(INOS_ABI_MAJOR)
        api.abi_minor = UInt16(INOS_ABI_MINOR)
        api.ctx = opaque
        api.log = { ctx, level, message in
            let context = PluginContext.from(ctx)
            let text = message.map { String(cString: $0) } ?? ""
            context.logger.log(level: Logger.Level(abiLevel: level), "\(text)")
        }
        api.arena_alloc = { ctx, size, outOffset in
            guard let outOffset, size > 0, size <= UInt64(Int.max) else { return INOS_ERR_INVALID_ARGUMENT }
            guard let offset = PluginContext.from(ctx).services.arena.heap.allocate(Int(size)) else {
                return INOS_ERR_FULL
            }
            outOffset.pointee = UInt64(offset)
            return INOS_OK
        }
        api.arena_free = { ctx, offset in
            let context = PluginContext.from(ctx)
            // An offset beyond Int.max is no block either: -1 lets the heap count it as an invalid free.
            if !context.services.arena.heap.free(Int(exactly: offset) ?? -1) {
                context.logger.warning("arena_free of offset \(offset), which is not a live block: ignored")
            }
        }
        api.arena_base = { ctx, outSize in
            let arena = PluginContext.from(ctx).services.arena
            outSize?.pointee = UInt64(arena.size)
            return arena.base.assumingMemoryBound(to: UInt8.self)
        }
        api.ring_push = { ctx, ring, type, data, length in
            if PluginContext.from(ctx).services.isolated { return INOS_ERR_UNSUPPORTED }
            guard let queue = PluginContext.from(ctx).services.ring(ring) else { return INOS_ERR_INVALID_ARGUMENT }
            if length > 0 && data == nil { return INOS_ERR_INVALID_ARGUMENT }
            return queue.push(type: type, UnsafeRawBufferPointer(start: data, count: Int(length))).rawValue
        }
        api.ring_pop = { ctx, ring, outType, buffer, capacity, outLength in
            if PluginContext.from(ctx).services.isolated { return INOS_ERR_UNSUPPORTED }
            guard let queue = PluginContext.from(ctx).services.ring(ring), let outType, let outLength,
                buffer != nil || capacity == 0
            else { return INOS_ERR_INVALID_ARGUMENT }
            return queue.pop(into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(capacity)),
                             type: outType, length: outLength).rawValue
        }
        api.signal = { ctx, bits in
            let services = PluginContext.from(ctx).services
            if !services.isolated { services.arena.switchboard.signal(bits) }
        }
        api.backpressure = { ctx in PluginContext.from(ctx).services.arena.switchboard.isBackpressured ? 1 : 0 }
        api.config_get = { ctx, key, buffer, capacity, outLength in
            guard let key else { return INOS_ERR_INVALID_ARGUMENT }
            guard let value = PluginContext.from(ctx).config[String(cString: key)] else { return INOS_ERR_NOT_FOUND }
            let bytes = Array(value.utf8)
            outLength?.pointee = UInt32(bytes.count)
            guard let buffer, Int(capacity) > bytes.count else { return INOS_ERR_BUFFER_TOO_SMALL }
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress!, byteCount: bytes.count)
            }
            buffer[bytes.count] = 0
            return INOS_OK
        }
        api.clock_ns = { _ in sysMonotonicNanoseconds() }
        return api
    }
}

extension Logger.Level {
    init(abiLevel: Int32) {
        switch abiLevel {
        case ...INOS_LOG_TRACE: self = .trace
        case INOS_LOG_DEBUG: self = .debug
        case INOS_LOG_INFO: self = .info
        case INOS_LOG_WARNING: self = .warning
        default: self = .error
        }
    }
}
