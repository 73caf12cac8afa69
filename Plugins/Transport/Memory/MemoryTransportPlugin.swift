// SPDX-License-Identifier: Apache-2.0
//
// The in-memory transport plugin: inos.transport/1 between hosts of one process (`mem://NAME` addresses).
// Config: `send_limit_kib` (bytes this node may leave unread at a peer before its sends there get INOS_ERR_FULL;
// default 65536); `delivery` ("thread", the default, or "inline": records go into the receiving host's inbox
// on the sender's thread, with no delivery thread — for harnesses that step hosts themselves).
import InosTransportKit
import PluginABI
import PluginKit

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_TRANSPORT), id: "inos.transport.memory", name: "In-memory transport", version: "1.0.0",
    description: "Frames between hosts of one process (mem://NAME), with the ordering and backpressure of a network transport",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        var limit = 64 << 20
        if let text = configValue(host, "send_limit_kib") {
            guard let kib = Int(text), kib > 0, kib < 1 << 30 else {
                return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "config send_limit_kib \"\(text)\" must be a positive integer")
            }
            limit = kib << 10
        }
        var delivery = InboundQueue.Delivery.thread
        if let text = configValue(host, "delivery") {
            guard let chosen = InboundQueue.Delivery(rawValue: text) else {
                return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "config delivery \"\(text)\" must be \"thread\" or \"inline\"")
            }
            delivery = chosen
        }
        outInstance.pointee = TransportInstance(MemoryTransport(link: HostLink(host), sendLimit: limit, delivery: delivery)).opaque
        return INOS_OK
    },
    deinitialize: { instance in TransportInstance.release(instance) },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_TRANSPORT_V1) ? UnsafeRawPointer(baseTransportTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
