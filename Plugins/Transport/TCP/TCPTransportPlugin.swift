// SPDX-License-Identifier: Apache-2.0
//
// The TCP transport plugin (SwiftNIO): inos.transport/1 over `tcp://HOST:PORT`. Config: `max_frame_kib`
// (default 16448: a 16 MiB chunk plus headers), `send_limit_mib` (bytes queued per connection before sends
// get INOS_ERR_FULL; default 64), `max_connections` (default 1024), `connect_timeout_s` (default 5),
// `keepalive_s` (idle seconds before TCP keepalive probes; 0 turns them off; default 30), `handshake_frame_kib`
// (the first frames of a connection — a node's session handshake — may be at most this large; 0, the default,
// bounds nothing: the node's embedded manifest sets 4).
import InosTransportKit
import PluginABI
import PluginKit

private func settings(_ host: UnsafePointer<inos_host_api>) throws(TransportError) -> TCPSettings {
    var settings = TCPSettings()
    func integer(_ key: String, _ range: ClosedRange<Int>) throws(TransportError) -> Int? {
        guard let text = configValue(host, key) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw TransportError(.invalidArgument, "config \(key) \"\(text)\" must be an integer \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }
    if let kib = try integer("max_frame_kib", 1...(1 << 22)) { settings.maxFrameBytes = kib << 10 }
    if let mib = try integer("send_limit_mib", 1...65536) { settings.sendLimitBytes = mib << 20 }
    if let kib = try integer("handshake_frame_kib", 0...(1 << 14)) { settings.handshakeFrameBytes = kib << 10 }
    if let count = try integer("max_connections", 1...1_000_000) { settings.maxConnections = count }
    if let seconds = try integer("connect_timeout_s", 1...3600) { settings.connectTimeoutSeconds = Int64(seconds) }
    if let seconds = try integer("keepalive_s", 0...86400) { settings.keepaliveSeconds = seconds }
    return settings
}

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_TRANSPORT), id: "inos.transport.tcp", name: "TCP transport", version: "1.0.0",
    description: "Length-prefixed frames over TCP (SwiftNIO); frames land in arena blocks, reads pause under backpressure",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        do throws(TransportError) {
            outInstance.pointee = TransportInstance(TCPTransport(settings: try settings(host), link: HostLink(host))).opaque
            return INOS_OK
        } catch {
            return fail(errorOut, error.code, error.message)
        }
    },
    deinitialize: { instance in TransportInstance.release(instance) },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_TRANSPORT_V1) ? UnsafeRawPointer(baseTransportTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
