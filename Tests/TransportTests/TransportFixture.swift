// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI

/// A node for transport tests: a host with the given transport plugins, its inbox drained by a probe.
struct TransportNode {
    let host: HostRuntime
    let probe: TransportProbe

    /// `plugins`: (library, slot, wraps, config) per transport.
    init(_ plugins: [(library: String, slot: String, wraps: String?, config: [String: String])]) throws {
        host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 32 << 20, inboxCapacity: 256 << 10, outboxCapacity: 64 << 10),
                plugins: try plugins.map {
                    PluginSpec(
                        location: .path(try PluginFixtures.builtPlugin($0.library)), kind: .transport, config: $0.config,
                        explicitSlot: $0.slot, wraps: $0.wraps)
                }),
            logger: quietLogger)
        try host.start()
        probe = TransportProbe(host)
    }

    /// A node with only the in-memory transport in slot "transport".
    static func memory(_ config: [String: String] = [:]) throws -> TransportNode {
        try TransportNode([("InosMemoryTransport", "transport", nil, config)])
    }

    func transport(_ slot: String = "transport") -> TransportHandle { TransportHandle(slot: host.slot(slot)!) }

    func stop() {
        host.shutdown()
        probe.stop()
    }

    static func payload(_ index: Int, size: Int) -> [UInt8] {
        var state = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<size).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func uniqueName(_ prefix: String) -> String { "mem://\(prefix)-\(UUID().uuidString.prefix(8))" }
}

extension Array where Element == TransportProbe.Event {
    var openedConnections: [UInt64] { compactMap { if case .opened(let c, _, _) = $0 { c } else { nil } } }
    var closedConnections: [(UInt64, Int32)] { compactMap { if case .closed(let c, let r, _, _) = $0 { (c, r) } else { nil } } }
    var frameCount: Int { filter { if case .frame = $0 { true } else { false } }.count }
    var writableConnections: [UInt64] { compactMap { if case .writable(let c) = $0 { c } else { nil } } }
}
