// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit

/// A node as the allocator sees it: what the node-status topic and the sessions say about a member.
public struct PlacementNode: Sendable, Equatable {
    /// The node's 32-byte ID (SHA-256 of its public key).
    public var id: [UInt8]
    /// 0…1: the larger of its work load and the share of its storage in use.
    public var load: Double
    public var capacityBytes: UInt64
    public var freeBytes: UInt64
    public var rttMicroseconds: UInt64
    public var capabilities: UInt64
    public var region: UInt32
    public var healthy: Bool

    public init(id: [UInt8], load: Double, capacityBytes: UInt64, freeBytes: UInt64, rttMicroseconds: UInt64 = 0,
                capabilities: UInt64 = 0, region: UInt32 = 0, healthy: Bool = true) {
        self.id = id
        self.load = load
        self.capacityBytes = capacityBytes
        self.freeBytes = freeBytes
        self.rttMicroseconds = rttMicroseconds
        self.capabilities = capabilities
        self.region = region
        self.healthy = healthy
    }

    var info: inos_node_info {
        var info = inos_node_info()
        withUnsafeMutableBytes(of: &info.node_id) { $0.copyBytes(from: id.prefix(32)) }
        info.load = load
        info.capacity_bytes = capacityBytes
        info.free_bytes = freeBytes
        info.rtt_us = rttMicroseconds
        info.capabilities = capabilities
        info.region = region
        info.healthy = healthy ? 1 : 0
        return info
    }
}

/// What is being placed.
public struct PlacementRequest: Sendable {
    public var resourceSize: UInt64
    public var demandScore: Double = 0
    public var creditBudget: UInt64 = 500
    public var requiredCapabilities: UInt64 = 0
    /// The digest of what is placed (resource, chunk, stripe): the same key gives the same holders.
    public var key: [UInt8] = []
    /// place(): holders wanted (0: as many as the plan's copies).
    public var replicas: Int = 0
    /// place(): the bytes each holder stores for this key.
    public var pieceBytes: UInt64 = 0

    public init(resourceSize: UInt64, demandScore: Double = 0, creditBudget: UInt64 = 500, requiredCapabilities: UInt64 = 0,
                key: [UInt8] = [], replicas: Int = 0, pieceBytes: UInt64 = 0) {
        self.resourceSize = resourceSize
        self.demandScore = demandScore
        self.creditBudget = creditBudget
        self.requiredCapabilities = requiredCapabilities
        self.key = key
        self.replicas = replicas
        self.pieceBytes = pieceBytes
    }

    var raw: inos_placement_request {
        var raw = inos_placement_request()
        raw.struct_size = UInt32(MemoryLayout<inos_placement_request>.size)
        raw.resource_size = resourceSize
        raw.demand_score = demandScore
        raw.credit_budget = creditBudget
        raw.required_capabilities = requiredCapabilities
        withUnsafeMutableBytes(of: &raw.key) { $0.copyBytes(from: key.prefix(32)) }
        raw.replicas = UInt32(clamping: replicas)
        raw.piece_bytes = UInt32(clamping: pieceBytes)
        return raw
    }
}

/// How a resource is stored (the allocator's plan()).
public struct PlacementPlan: Sendable, Equatable {
    public enum Strategy: UInt32, Sendable, CustomStringConvertible {
        case full = 1, chunked = 2, erasure = 3, hierarchical = 4
        public var description: String {
            switch self {
            case .full: "full replication"
            case .chunked: "chunked replication"
            case .erasure: "chunks + Reed-Solomon"
            case .hierarchical: "hierarchical (seeds, regional hubs, edge caches)"
            }
        }
    }
    public var strategy: Strategy
    public var replicas: Int
    public var idealReplicas: Int
    public var copies: Int
    public var dataShards: Int
    public var parityShards: Int
    public var seeds: Int
    public var hubsPerRegion: Int
    public var usableNodes: Int
    public var hubFraction: Double
    public var expectedLoad: Double

    public init(strategy: Strategy, replicas: Int, idealReplicas: Int, copies: Int, dataShards: Int = 0, parityShards: Int = 0,
                seeds: Int = 0, hubsPerRegion: Int = 0, usableNodes: Int = 0, hubFraction: Double = 0, expectedLoad: Double = 0) {
        self.strategy = strategy
        self.replicas = replicas
        self.idealReplicas = idealReplicas
        self.copies = copies
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.seeds = seeds
        self.hubsPerRegion = hubsPerRegion
        self.usableNodes = usableNodes
        self.hubFraction = hubFraction
        self.expectedLoad = expectedLoad
    }
}

/// Calls an allocator slot's `inos.allocator/1` functions (whichever plugin serves the slot at that moment).
public struct AllocatorHandle: Sendable {
    public let slot: PluginSlot

    public init(slot: PluginSlot) { self.slot = slot }

    private func call<R>(_ what: String, _ body: (UnsafePointer<inos_allocator_v1>, UnsafeMutableRawPointer?, inout inos_error) -> (inos_status, R))
        throws(PluginCallError) -> R
    {
        try slot.call(inos_allocator_v1.self, what, serving: "allocator", body)
    }

    /// The plan for a resource over these nodes.
    public func plan(_ request: PlacementRequest, nodes: [PlacementNode]) throws(PluginCallError) -> PlacementPlan {
        var raw = request.raw
        let infos = nodes.map(\.info)
        let plan: inos_placement_plan = try call("allocator plan") { table, instance, error in
            var out = inos_placement_plan()
            guard Int(table.pointee.struct_size) >= MemoryLayout<inos_allocator_v1>.size, let plan = table.pointee.plan else {
                error.code = INOS_ERR_UNSUPPORTED
                return (INOS_ERR_UNSUPPORTED, out)
            }
            let status = infos.withUnsafeBufferPointer { plan(instance, &raw, $0.baseAddress, UInt32($0.count), &out, &error) }
            return (status, out)
        }
        guard let strategy = PlacementPlan.Strategy(rawValue: plan.strategy) else {
            throw PluginCallError(.internal, "allocator plan: unknown strategy \(plan.strategy)")
        }
        return PlacementPlan(
            strategy: strategy, replicas: Int(plan.replicas), idealReplicas: Int(plan.ideal_replicas), copies: Int(plan.copies),
            dataShards: Int(plan.data_shards), parityShards: Int(plan.parity_shards), seeds: Int(plan.seeds),
            hubsPerRegion: Int(plan.hubs_per_region), usableNodes: Int(plan.usable_nodes), hubFraction: plan.hub_fraction,
            expectedLoad: plan.expected_load)
    }

    /// The holders of `request.key`, best first: indices into `nodes`.
    public func place(_ request: PlacementRequest, nodes: [PlacementNode]) throws(PluginCallError) -> [Int] {
        var raw = request.raw
        let infos = nodes.map(\.info)
        let capacity = request.replicas == 0 ? nodes.count : min(request.replicas, nodes.count)
        return try call("allocator place") { table, instance, error in
            var out = [UInt32](repeating: 0, count: max(capacity, 1))
            var count: UInt32 = 0
            let status = infos.withUnsafeBufferPointer { list in
                table.pointee.place(instance, &raw, list.baseAddress, UInt32(list.count), &out, UInt32(capacity), &count, &error)
            }
            guard PluginStatus(status) == .ok else { return (status, []) }
            let indices = out.prefix(Int(count)).map(Int.init)
            // A plugin must answer with distinct, valid indices: anything else is a bug we refuse to act on.
            guard Set(indices).count == indices.count, indices.allSatisfy({ $0 < nodes.count }) else {
                return (INOS_ERR_INTERNAL, [])
            }
            return (status, indices)
        }
    }
}
