// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit

/// The inner transport a strategy plugin wraps (see `wraps =` in the manifest and `wrap` in
/// inos_plugin.h): an `inos_transport_v1` table whose calls go to whatever plugin serves the wrapped slot
/// *at the time of the call*. So the inner transport — and its connections — stays while strategies above it
/// are hot-swapped, and the inner slot itself can be swapped too.
///
/// Owned by the wrapping plugin's ``LoadedPlugin``, so it outlives the plugin's deinit.
final class TransportForwarder: Sendable {
    let slotName: String
    private let resolve: @Sendable () -> PluginSlot?

    init(slotName: String, resolve: @escaping @Sendable () -> PluginSlot?) {
        self.slotName = slotName
        self.resolve = resolve
    }

    /// The instance pointer passed with ``table``; valid while this object lives.
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ instance: UnsafeMutableRawPointer?) -> TransportForwarder {
        Unmanaged<TransportForwarder>.fromOpaque(instance!).takeUnretainedValue()
    }

    /// Runs `body` with the inner plugin's table, or reports INOS_ERR_CLOSED when nothing serves the slot.
    func call(
        _ error: UnsafeMutablePointer<inos_error>?,
        _ body: (UnsafePointer<inos_transport_v1>, UnsafeMutableRawPointer?) -> inos_status
    ) -> inos_status {
        let status = resolve()?.withActive { plugin in body(plugin.extensionTable(as: inos_transport_v1.self), plugin.instance) }
        if let status { return status }
        return PluginKit.fail(error, INOS_ERR_CLOSED, "no transport serves slot \(slotName)")
    }

    /// The table handed to `wrap`; the same for every forwarder (the instance pointer tells them apart).
    nonisolated(unsafe) static let table: UnsafePointer<inos_transport_v1> = {
        let table = UnsafeMutablePointer<inos_transport_v1>.allocate(capacity: 1)
        table.initialize(to: inos_transport_v1())
        table.pointee.struct_size = UInt32(MemoryLayout<inos_transport_v1>.size)
        table.pointee.listen = { instance, address, error in
            from(instance).call(error) { inner, innerInstance in inner.pointee.listen(innerInstance, address, error) }
        }
        table.pointee.dial = { instance, address, connection, error in
            from(instance).call(error) { inner, innerInstance in inner.pointee.dial(innerInstance, address, connection, error) }
        }
        table.pointee.send = { instance, connection, bytes, length, error in
            from(instance).call(error) { inner, innerInstance in
                inner.pointee.send(innerInstance, connection, bytes, length, error)
            }
        }
        table.pointee.close = { instance, connection in
            from(instance).call(nil) { inner, innerInstance in inner.pointee.close(innerInstance, connection) }
        }
        table.pointee.local_address = { instance, buffer, capacity, error in
            from(instance).call(error) { inner, innerInstance in
                guard inner.pointee.struct_size >= UInt32(MemoryLayout<inos_transport_v1>.offset(of: \.wrap)!),
                    let localAddress = inner.pointee.local_address
                else { return PluginKit.fail(error, INOS_ERR_UNSUPPORTED, "the inner transport does not report its address") }
                return localAddress(innerInstance, buffer, capacity, error)
            }
        }
        table.pointee.wrap = nil
        return UnsafePointer(table)
    }()
}
