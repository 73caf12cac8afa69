// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit
import Primitives

/// Calls a transport slot's `inos.transport/1` functions from Swift: every call goes to the plugin serving
/// the slot at that moment (so strategies can be hot-swapped between calls) and fails with a
/// ``TransportCallError`` naming the status and the plugin's message.
public struct TransportHandle: Sendable {
    public let slot: PluginSlot

    public init(slot: PluginSlot) { self.slot = slot }

    private func call(_ what: String, _ body: (inos_transport_v1, UnsafeMutableRawPointer?, inout inos_error) -> inos_status)
        throws(TransportCallError)
    {
        try slot.call(inos_transport_v1.self, what, serving: "transport") { table, instance, error in (body(table.pointee, instance, &error), ()) }
    }

    public func listen(_ address: String) throws(TransportCallError) {
        try call("listen \(address)") { table, instance, error in table.listen(instance, address, &error) }
    }

    public func dial(_ address: String) throws(TransportCallError) -> UInt64 {
        var connection: UInt64 = 0
        try call("dial \(address)") { table, instance, error in table.dial(instance, address, &connection, &error) }
        return connection
    }

    public func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportCallError) {
        try call("send on \(connection)") { table, instance, error in
            table.send(instance, connection, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count), &error)
        }
    }

    public func send(_ connection: UInt64, _ bytes: [UInt8]) throws(TransportCallError) {
        var failure: TransportCallError?
        bytes.withUnsafeBytes { raw in
            do throws(TransportCallError) { try send(connection, raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func close(_ connection: UInt64) {
        _ = slot.withActive { plugin in
            plugin.extensionTable(as: inos_transport_v1.self).pointee.close(plugin.instance, connection)
        }
    }

    public func localAddress() throws(TransportCallError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        try call("local address") { table, instance, error in
            guard table.struct_size >= UInt32(MemoryLayout<inos_transport_v1>.size), let localAddress = table.local_address else {
                return INOS_ERR_UNSUPPORTED
            }
            return localAddress(instance, &buffer, UInt32(buffer.count), &error)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A failed transport call: the plugin's status and message.
public typealias TransportCallError = PluginCallError

/// A plugin call that failed: the status the plugin answered (its ``code``) and its message.
public struct PluginCallError: CodedError {
    public var code: PluginStatus
    public var message: String
    public var location: ErrorLocation?

    public init(_ code: PluginStatus, _ message: String, function: String = #function, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = ErrorLocation(function: function, file: file, line: line)
    }

    /// The status, as before ``code`` was the shared name.
    public var status: PluginStatus { code }
    public var description: String { message }
}

extension PluginSlot {
    /// Calls the extension table of the plugin serving this slot at this moment. No plugin serving it, or a
    /// status other than INOS_OK, becomes a ``PluginCallError`` naming `what` (and the plugin's message).
    func call<Table, R>(_ table: Table.Type, _ what: String, serving kind: String,
                        _ body: (UnsafePointer<Table>, UnsafeMutableRawPointer?, inout inos_error) -> (inos_status, R)) throws(PluginCallError) -> R {
        var error = inos_error.empty()
        guard let (status, result) = withActive({ plugin in body(plugin.extensionTable(as: Table.self), plugin.instance, &error) })
        else { throw PluginCallError(.closed, "\(what): no \(kind) serves slot \(name)") }
        let answered = PluginStatus(status)
        guard answered == .ok else { throw PluginCallError(answered, "\(what): \(answered) \(error.text)") }
        return result
    }
}
