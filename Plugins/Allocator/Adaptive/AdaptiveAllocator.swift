// SPDX-License-Identifier: Apache-2.0
//
// The seed's AdaptiveAllocator ("Adaptive Replica Allocation"): how many holders a resource gets and which
// nodes they are. Replicas come from the size tier × (1 + demand score) × the budget tier, are cut to the
// nodes that can take the resource without passing the maximum load, and are clamped to 5..700 — below 5
// only when the network has fewer usable nodes (sparse-network degradation: fewer replicas, never an
// overloaded node).
//
// Which nodes: CRUSH's straw2 (weighted rendezvous hashing). Every node draws ln(u)/weight for the key, with
// u a hash of (key, node) in (0, 1]; the highest draws hold it. A node that joins takes only the keys where
// its draw enters the top; one that leaves gives up only its own keys; a node whose weight changes gains or
// loses only keys it is in — the minimal movement CRUSH's tests check. The weight is the node's capacity,
// scaled down linearly from 1 at the target load (37.5%) to 0 at the maximum (50%), so fuller nodes receive
// less without any key moving between two other nodes.
#if canImport(Glibc)
import Glibc
#endif
import PluginABI

struct AdaptiveAllocator {
    var minReplicas = 5
    var maxReplicas = 700
    var targetLoad = 0.375
    var maxLoad = 0.5
    /// Reed-Solomon geometry for the erasure strategy when the network is large enough (about 20% parity).
    var dataShards = 10
    var parityShards = 2

    /// Where the size classes start (the seed's: chunked from 1 MB, erasure from 100 MB, hierarchical from
    /// 10 GB). Configurable so that a scaled-down mesh — a 300 MB resource in a test of regions — exercises the
    /// hierarchical tier; the replica tiers by size stay the seed's.
    var chunkedFrom: UInt64 = 1 * Self.mb
    var erasureFrom: UInt64 = 100 * Self.mb
    var hierarchicalFrom: UInt64 = 10 * Self.gb
    /// The share of a resource's chunks each region's hubs hold (the seed's ~20%).
    var hubFraction = 0.2

    static let mb: UInt64 = 1 << 20
    static let gb: UInt64 = 1 << 30

    /// The seed's size tiers.
    func replicasFromSize(_ size: UInt64) -> Int {
        switch size {
        case ..<(1 * Self.mb): 5
        case ..<(10 * Self.mb): 10
        case ..<(100 * Self.mb): 30
        case ..<(1 * Self.gb): 100
        case ..<(10 * Self.gb): 300
        default: 500
        }
    }

    /// The seed's budget tiers (credits per hour offered).
    func budgetMultiplier(_ budget: UInt64) -> Double {
        switch budget {
        case ..<100: 0.5  // free
        case ..<1000: 1.0  // standard
        case ..<10000: 1.3  // premium
        default: 1.5  // enterprise
        }
    }

    /// The strategy by size class.
    func strategy(_ size: UInt64) -> UInt32 {
        switch size {
        case ..<chunkedFrom: UInt32(INOS_STRATEGY_FULL)
        case ..<erasureFrom: UInt32(INOS_STRATEGY_CHUNKED)
        case ..<hierarchicalFrom: UInt32(INOS_STRATEGY_ERASURE)
        default: UInt32(INOS_STRATEGY_HIERARCHICAL)
        }
    }

    func capable(_ node: inos_node_info, _ required: UInt64) -> Bool {
        node.healthy != 0 && node.capabilities & required == required
    }

    /// The node's load once it stores `bytes` more (its storage share grows by bytes / capacity).
    func loadAfter(_ node: inos_node_info, adding bytes: UInt64) -> Double {
        guard bytes > 0 else { return node.load }
        guard node.capacity_bytes > 0 else { return .infinity }
        return node.load + Double(bytes) / Double(node.capacity_bytes)
    }

    /// Can take `bytes` without passing the maximum load (and has them free).
    func usable(_ node: inos_node_info, _ required: UInt64, bytes: UInt64) -> Bool {
        capable(node, required) && node.free_bytes >= bytes && loadAfter(node, adding: bytes) <= maxLoad
    }

    /// straw2 weight: capacity, scaled from 1 at the target load down to 0 at the maximum.
    func weight(_ node: inos_node_info) -> Double {
        let capacity = Double(max(node.capacity_bytes, 1))
        guard node.load > targetLoad else { return capacity }
        return capacity * max(0, (maxLoad - node.load) / (maxLoad - targetLoad))
    }

    // MARK: Plan

    func plan(_ request: inos_placement_request, key: [UInt8], _ nodes: UnsafeBufferPointer<inos_node_info>) -> inos_placement_plan {
        var plan = inos_placement_plan()
        plan.struct_size = UInt32(MemoryLayout<inos_placement_plan>.size)
        let size = request.resource_size
        plan.strategy = strategy(size)
        let demand = request.demand_score.isFinite ? min(max(request.demand_score, 0), 1) : 0
        let ideal = Int(Double(replicasFromSize(size)) * (1 + demand) * budgetMultiplier(request.credit_budget))
        plan.ideal_replicas = UInt32(ideal)

        // What each holder stores, for the load check: the whole resource (full replication, seeds) or its
        // share of the pieces spread over the holders (the seed's "1 GB / 80 nodes = 12.5 MB each").
        let capableCount = nodes.filter { capable($0, request.required_capabilities) }.count
        let spread = max(1, min(ideal, capableCount))
        var (k, m) = (0, 0)
        if plan.strategy == UInt32(INOS_STRATEGY_ERASURE) || plan.strategy == UInt32(INOS_STRATEGY_HIERARCHICAL) {
            // A stripe's shards go to distinct nodes: shrink the stripe to the network, keeping ~20% parity.
            let width = min(dataShards + parityShards, max(capableCount, 2))
            m = max(1, Int((Double(width) / 6).rounded()))
            if width == dataShards + parityShards { m = parityShards }
            k = max(1, width - m)
        }
        let share: UInt64
        switch plan.strategy {
        case UInt32(INOS_STRATEGY_FULL): share = size
        case UInt32(INOS_STRATEGY_ERASURE): share = UInt64(Double(size) * Double(k + m) / Double(max(k, 1)) / Double(spread)) + Self.mb
        default:
            // The size comes from a peer's STORE policy and may be anything: saturate instead of trapping.
            let (sum, overflow) = (size / UInt64(spread)).addingReportingOverflow(Self.mb)
            share = overflow ? .max : sum
        }
        let usableNodes = nodes.filter { usable($0, request.required_capabilities, bytes: share) }
        plan.usable_nodes = UInt32(usableNodes.count)
        var replicas = min(ideal, usableNodes.count)
        if usableNodes.count >= minReplicas { replicas = min(max(replicas, minReplicas), maxReplicas, usableNodes.count) }
        replicas = min(replicas, maxReplicas)
        plan.replicas = UInt32(replicas)

        switch plan.strategy {
        case UInt32(INOS_STRATEGY_FULL), UInt32(INOS_STRATEGY_CHUNKED):
            plan.copies = UInt32(replicas)
        case UInt32(INOS_STRATEGY_ERASURE):
            plan.data_shards = UInt32(k)
            plan.parity_shards = UInt32(m)
            plan.copies = UInt32(max(1, replicas / max(k + m, 1)))
        default:
            // Seeds hold everything (5–7), each region's hubs a ~20% subset plus parity, edges cache on demand.
            plan.data_shards = UInt32(k)
            plan.parity_shards = UInt32(m)
            plan.seeds = UInt32(min(7, max(min(minReplicas, replicas), replicas / 100)))
            var regions = Set<UInt32>()
            for node in usableNodes { regions.insert(node.region) }
            let hubs = max(0, replicas - Int(plan.seeds))
            plan.hubs_per_region = UInt32(min(100, hubs / max(regions.count, 1)))
            plan.hub_fraction = hubFraction
            plan.copies = plan.seeds
        }
        // Mean load of the nodes that will hold it (the least loaded usable ones), after placement.
        let chosen = usableNodes.sorted { $0.load < $1.load }.prefix(replicas)
        plan.expected_load = chosen.isEmpty ? 0 : chosen.reduce(0) { $0 + loadAfter($1, adding: share) } / Double(chosen.count)
        return plan
    }

    // MARK: Place (straw2)

    /// The top `count` nodes for `key` by straw2 draw among those that can take `bytes`; indices into `nodes`.
    func place(key: [UInt8], count: Int, bytes: UInt64, required: UInt64, _ nodes: UnsafeBufferPointer<inos_node_info>) -> [Int] {
        guard count > 0 else { return [] }
        let keyHash = Self.fnv(key, seed: 0xcbf2_9ce4_8422_2325)
        var draws: [(draw: Double, index: Int)] = []
        draws.reserveCapacity(nodes.count)
        for (index, node) in nodes.enumerated() where usable(node, required, bytes: bytes) {
            let w = weight(node)
            guard w > 0 else { continue }
            let nodeHash = withUnsafeBytes(of: node.node_id) { Self.fnv($0, seed: keyHash) }
            // u in (0, 1]: 53 random bits.
            let u = Double((Self.mix(nodeHash) >> 11) + 1) / Double(1 << 53)
            draws.append((log(u) / w, index))
        }
        // Highest draw first; ties (equal hashes) broken by node order.
        draws.sort { $0.draw != $1.draw ? $0.draw > $1.draw : $0.index < $1.index }
        return draws.prefix(count).map(\.index)
    }

    static func fnv<Bytes: Sequence>(_ bytes: Bytes, seed: UInt64) -> UInt64 where Bytes.Element == UInt8 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }
}
