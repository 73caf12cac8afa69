// SPDX-License-Identifier: Apache-2.0
//
// The adaptive allocator as a plugin (inos.allocator/1, ABI 1.2 with plan()). Configuration, all optional,
// in the manifest's [plugins.config]: min_replicas (5), max_replicas (700), target_load (0.375),
// max_load (0.5), data_shards (10), parity_shards (2); the size classes' lower bounds in MiB, chunked_from_mib (1),
// erasure_from_mib (100), hierarchical_from_mib (10240), and hub_fraction (0.2), the share of a hierarchical
// resource's chunks each region's hubs hold.
import PluginABI
import PluginKit

final class Instance {
    let allocator: AdaptiveAllocator
    init(_ allocator: AdaptiveAllocator) { self.allocator = allocator }
}

/// Reads and checks the configuration; a clear message for a bad value.
func configure(_ host: UnsafePointer<inos_host_api>) -> Result<AdaptiveAllocator, PluginFailure> {
    var allocator = AdaptiveAllocator()
    func integer(_ key: String, _ range: ClosedRange<Int>) -> Result<Int?, PluginFailure> {
        guard let text = configValue(host, key) else { return .success(nil) }
        guard let value = Int(text), range.contains(value) else {
            return .failure(PluginFailure("\(key) = \(text): expected an integer in \(range.lowerBound)...\(range.upperBound)"))
        }
        return .success(value)
    }
    func fraction(_ key: String) -> Result<Double?, PluginFailure> {
        guard let text = configValue(host, key) else { return .success(nil) }
        guard let value = Double(text), value > 0, value <= 1 else {
            return .failure(PluginFailure("\(key) = \(text): expected a load between 0 and 1"))
        }
        return .success(value)
    }
    do throws(PluginFailure) {
        if let v = try integer("min_replicas", 1...10_000).get() { allocator.minReplicas = v }
        if let v = try integer("max_replicas", 1...100_000).get() { allocator.maxReplicas = v }
        if let v = try fraction("target_load").get() { allocator.targetLoad = v }
        if let v = try fraction("max_load").get() { allocator.maxLoad = v }
        if let v = try integer("data_shards", 1...200).get() { allocator.dataShards = v }
        if let v = try integer("parity_shards", 1...100).get() { allocator.parityShards = v }
        // Up to 16 PiB: a bound a size can never pass wrongly, and no shift overflows.
        if let v = try integer("chunked_from_mib", 0...(1 << 34)).get() { allocator.chunkedFrom = UInt64(v) << 20 }
        if let v = try integer("erasure_from_mib", 0...(1 << 34)).get() { allocator.erasureFrom = UInt64(v) << 20 }
        if let v = try integer("hierarchical_from_mib", 0...(1 << 34)).get() { allocator.hierarchicalFrom = UInt64(v) << 20 }
        if let v = try fraction("hub_fraction").get() { allocator.hubFraction = v }
    } catch { return .failure(error) }
    guard allocator.chunkedFrom <= allocator.erasureFrom, allocator.erasureFrom <= allocator.hierarchicalFrom else {
        return .failure(PluginFailure(
            "size classes out of order: chunked_from_mib \(allocator.chunkedFrom >> 20) ≤ erasure_from_mib \(allocator.erasureFrom >> 20) ≤ hierarchical_from_mib \(allocator.hierarchicalFrom >> 20) must hold"))
    }
    guard allocator.minReplicas <= allocator.maxReplicas else {
        return .failure(PluginFailure("min_replicas \(allocator.minReplicas) is above max_replicas \(allocator.maxReplicas)"))
    }
    guard allocator.targetLoad < allocator.maxLoad else {
        return .failure(PluginFailure("target_load \(allocator.targetLoad) must be below max_load \(allocator.maxLoad)"))
    }
    return .success(allocator)
}

struct PluginFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

private func request(_ pointer: UnsafePointer<inos_placement_request>) -> (inos_placement_request, [UInt8])? {
    let size = Int(pointer.pointee.struct_size)
    guard size >= Int(INOS_PLACEMENT_REQUEST_V1_SIZE) else { return nil }
    var copy = inos_placement_request()
    // Fields a 1.1 caller did not send stay zero.
    UnsafeMutableRawPointer(&copy).copyMemory(from: pointer, byteCount: min(size, MemoryLayout<inos_placement_request>.size))
    return (copy, withUnsafeBytes(of: copy.key) { Array($0) })
}

nonisolated(unsafe) private let allocatorTable: UnsafePointer<inos_allocator_v1> = {
    let table = UnsafeMutablePointer<inos_allocator_v1>.allocate(capacity: 1)
    table.initialize(to: inos_allocator_v1())
    table.pointee.struct_size = UInt32(MemoryLayout<inos_allocator_v1>.size)
    table.pointee.place = { instance, requestPointer, nodes, nodeCount, outIndices, outCapacity, outCount, errorOut in
        guard let instance, let requestPointer, let outCount, nodes != nil || nodeCount == 0, outIndices != nil || outCapacity == 0,
            let (request, key) = request(requestPointer)
        else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument or a request older than ABI 1.0") }
        let allocator = Unmanaged<Instance>.fromOpaque(instance).takeUnretainedValue().allocator
        let list = UnsafeBufferPointer(start: nodes, count: Int(nodeCount))
        var wanted = Int(request.replicas)
        if wanted == 0 { wanted = Int(allocator.plan(request, key: key, list).copies) }
        let chosen = allocator.place(
            key: key, count: min(wanted, Int(outCapacity)), bytes: UInt64(request.piece_bytes), required: request.required_capabilities, list)
        for (slot, index) in chosen.enumerated() { outIndices![slot] = UInt32(index) }
        outCount.pointee = UInt32(chosen.count)
        return INOS_OK
    }
    table.pointee.plan = { instance, requestPointer, nodes, nodeCount, outPlan, errorOut in
        guard let instance, let requestPointer, let outPlan, nodes != nil || nodeCount == 0, let (request, key) = request(requestPointer) else {
            return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument")
        }
        let allocator = Unmanaged<Instance>.fromOpaque(instance).takeUnretainedValue().allocator
        outPlan.pointee = allocator.plan(request, key: key, UnsafeBufferPointer(start: nodes, count: Int(nodeCount)))
        return INOS_OK
    }
    return UnsafePointer(table)
}()

nonisolated(unsafe) private let descriptor = makeDescriptor(
    kind: UInt32(INOS_KIND_ALLOCATOR), id: "inos.allocator.adaptive", name: "Adaptive replica allocator", version: "1.0.0",
    description: "size × demand × budget tiers, 5..700 replicas, load target 37.5% / max 50%, straw2 placement",
    initialize: { host, outInstance, errorOut in
        guard let host, let outInstance else { return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, "null argument") }
        switch configure(host) {
        case .success(let allocator):
            outInstance.pointee = Unmanaged.passRetained(Instance(allocator)).toOpaque()
            return INOS_OK
        case .failure(let failure):
            return fail(errorOut, INOS_ERR_INVALID_ARGUMENT, failure.message)
        }
    },
    deinitialize: { instance in
        if let instance { Unmanaged<Instance>.fromOpaque(instance).release() }
    },
    getExtension: { _, id in
        extensionID(id, is: INOS_EXT_ALLOCATOR_V1) ? UnsafeRawPointer(allocatorTable) : nil
    })

@_cdecl("inos_plugin_entry")
public func inosPluginEntry() -> UnsafePointer<inos_plugin_descriptor> { descriptor }
