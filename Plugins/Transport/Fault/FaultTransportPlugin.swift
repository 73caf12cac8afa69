// SPDX-License-Identifier: Apache-2.0
//
// The fault-injecting transport strategy: inos.transport/1, wrapping the slot named by the manifest's
// `wraps =`. Config: `drop`, `duplicate`, `reorder` (probabilities 0...1), `delay_ms`, `jitter_ms`,
// `partition` (comma-separated addresses whose dialed connections lose every frame), `isolate` (true: every
// frame is lost), `seed` (the random generator's seed; the same seed replays the same faults).
import InosTransportKit
import PluginABI
import PluginKit

private func settings(_ host: UnsafePointer<inos_host_api>) throws(TransportError) -> FaultSettings {
    var settings = FaultSettings()
    func probability(_ key: String) throws(TransportError) -> Double? {
        guard let text = configValue(host, key) else { return nil }
        guard let value = Double(text), (0...1).contains(value) else {
            throw TransportError(.invalidArgument, "config \(key) \"\(text)\" must be a probability 0...1")
        }
        return value
    }
    func milliseconds(_ key: String) throws(TransportError) -> Int? {
        guard let text = configValue(host, key) else { return nil }
        guard let value = Int(text), (0...600_000).contains(value) else {
            throw TransportError(.invalidArgument, "config \(key) \"\(text)\" must be 0...600000 milliseconds")
        }
        return value
    }
    settings.drop = try probability("drop") ?? 0
    settings.duplicate = try probability("duplicate") ?? 0
    settings.reorder = try probability("reorder") ?? 0
    settings.delayMilliseconds = try milliseconds("delay_ms") ?? 0
    settings.jitterMilliseconds = try milliseconds("jitter_ms") ?? 0
    if let text = configValue(host, "partition") {
        settings.partition = Set(text.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty })
    }
    if let text = configValue(host, "isolate") {
        guard let flag = Bool(text) else { throw TransportError(.invalidArgument, "config isolate must be true or false") }
        settings.isolate = flag
    }
    if let text = configValue(host, "seed") {
        guard let seed = UInt64(text) else { throw TransportError(.invalidArgument, "config seed \"\(text)\" must be an unsigned integer") }
        settings.seed = seed
    }
    return settings
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_TRANSPORT), id: "inos.transport.fault", name: "Fault-injecting transport strategy", version: "1.0.0",
    description: "Wraps another transport and drops, duplicates, delays, reorders or partitions the frames it sends (seeded)",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        do throws(TransportError) {
            outInstance.pointee = TransportInstance(FaultTransport(settings: try settings(host), link: HostLink(host))).opaque
            return INOS_OK
        } catch {
            return fail(errorOut, error.code, error.message)
        }
    },
    deinitialize: { instance in TransportInstance.release(instance) },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_TRANSPORT_V1) ? UnsafeRawPointer(strategyTransportTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
