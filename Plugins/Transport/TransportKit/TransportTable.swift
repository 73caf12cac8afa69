// SPDX-License-Identifier: Apache-2.0
//
// The inos.transport/1 table shared by the transport plugins: C entry points that check their arguments
// and call the instance's TransportEndpoint.
import PluginABI
import PluginKit

/// What a transport plugin implements; ``baseTransportTable`` / ``strategyTransportTable`` expose it.
/// Methods are called from any thread, concurrently.
package protocol TransportEndpoint: AnyObject {
    func listen(_ address: String) throws(TransportError)
    /// Returns once the connection is up, its OPENED record queued for the host ahead of any frame of it.
    func dial(_ address: String) throws(TransportError) -> UInt64
    /// Sends one frame; the bytes are copied before returning.
    func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError)
    func close(_ connection: UInt64)
    func localAddress() throws(TransportError) -> String
    /// Strategies only: the transport to delegate to.
    func wrap(_ inner: InnerTransport) throws(TransportError)
    /// Called by the plugin's deinit: close connections, deliver or drop what is queued, stop threads.
    func shutdown()
}

extension TransportEndpoint {
    package func wrap(_ inner: InnerTransport) throws(TransportError) {
        throw TransportError(.unsupported, "a base transport wraps nothing")
    }
}

/// The transport a strategy delegates to, as the host handed it over in `wrap`.
package struct InnerTransport: @unchecked Sendable {
    // @unchecked: a host-owned constant table and instance, valid until the strategy's deinit; its
    // functions may be called from any thread.
    let table: UnsafePointer<inos_transport_v1>
    let instance: UnsafeMutableRawPointer?

    package init(table: UnsafePointer<inos_transport_v1>, instance: UnsafeMutableRawPointer?) {
        self.table = table
        self.instance = instance
    }

    private func check(_ status: inos_status, _ error: inos_error) throws(TransportError) {
        guard PluginStatus(status) == .ok else {
            let text = withUnsafeBytes(of: error.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw TransportError(PluginStatus(status), text)
        }
    }

    package func listen(_ address: String) throws(TransportError) {
        var error = inos_error()
        try check(table.pointee.listen(instance, address, &error), error)
    }

    package func dial(_ address: String) throws(TransportError) -> UInt64 {
        var error = inos_error()
        var connection: UInt64 = 0
        try check(table.pointee.dial(instance, address, &connection, &error), error)
        return connection
    }

    package func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        var error = inos_error()
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        try check(table.pointee.send(instance, connection, base, UInt64(bytes.count), &error), error)
    }

    package func close(_ connection: UInt64) { _ = table.pointee.close(instance, connection) }

    package func localAddress() throws(TransportError) -> String {
        guard let localAddress = table.pointee.local_address else {
            throw TransportError(.unsupported, "the inner transport does not report its address")
        }
        var error = inos_error()
        var buffer = [CChar](repeating: 0, count: 256)
        try check(localAddress(instance, &buffer, UInt32(buffer.count), &error), error)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The plugin instance handed to the host: a retained box around the endpoint.
package final class TransportInstance {
    package let endpoint: any TransportEndpoint
    package init(_ endpoint: any TransportEndpoint) { self.endpoint = endpoint }
    package var opaque: UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }
    package static func from(_ instance: UnsafeMutableRawPointer?) -> any TransportEndpoint {
        Unmanaged<TransportInstance>.fromOpaque(instance!).takeUnretainedValue().endpoint
    }
    /// Balances ``opaque``; for the descriptor's deinit.
    package static func release(_ instance: UnsafeMutableRawPointer?) {
        guard let instance else { return }
        let box = Unmanaged<TransportInstance>.fromOpaque(instance)
        box.takeUnretainedValue().endpoint.shutdown()
        box.release()
    }
}

private func run(_ out: UnsafeMutablePointer<inos_error>?, _ body: () throws(TransportError) -> Void) -> inos_status {
    do throws(TransportError) {
        try body()
        return INOS_OK
    } catch {
        return fail(out, error.code, error.message)
    }
}

private func makeTable(strategy: Bool) -> UnsafePointer<inos_transport_v1> {
    let table = UnsafeMutablePointer<inos_transport_v1>.allocate(capacity: 1)
    table.initialize(to: inos_transport_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_transport_v1>.size)
    table.pointee.listen = { instance, address, error in
        guard let address else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null address") }
        return run(error) { () throws(TransportError) in try TransportInstance.from(instance).listen(String(cString: address)) }
    }
    table.pointee.dial = { instance, address, out, error in
        guard let address, let out else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        return run(error) { () throws(TransportError) in out.pointee = try TransportInstance.from(instance).dial(String(cString: address)) }
    }
    table.pointee.send = { instance, connection, bytes, length, error in
        guard bytes != nil || length == 0 else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null bytes") }
        return run(error) { () throws(TransportError) in
            try TransportInstance.from(instance).send(connection, UnsafeRawBufferPointer(start: bytes, count: Int(length)))
        }
    }
    table.pointee.close = { instance, connection in
        TransportInstance.from(instance).close(connection)
        return INOS_OK
    }
    table.pointee.local_address = { instance, buffer, capacity, error in
        guard let buffer, capacity > 0 else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null buffer") }
        return run(error) { () throws(TransportError) in
            let text = Array(try TransportInstance.from(instance).localAddress().utf8)
            guard text.count < capacity else { throw TransportError(.bufferTooSmall, "address needs \(text.count + 1) bytes") }
            for (i, byte) in text.enumerated() { buffer[i] = CChar(bitPattern: byte) }
            buffer[text.count] = 0
        }
    }
    if strategy {
        table.pointee.wrap = { instance, inner, innerInstance, error in
            guard let inner else { return fail(error, INOS_ERR_INVALID_ARGUMENT, "null inner transport") }
            return run(error) { () throws(TransportError) in
                try TransportInstance.from(instance).wrap(InnerTransport(table: inner, instance: innerInstance))
            }
        }
    }
    return UnsafePointer(table)
}

/// The table of a base transport (wrap is NULL).
nonisolated(unsafe) package let baseTransportTable: UnsafePointer<inos_transport_v1> = makeTable(strategy: false)
/// The table of a strategy that wraps another transport.
nonisolated(unsafe) package let strategyTransportTable: UnsafePointer<inos_transport_v1> = makeTable(strategy: true)
