// SPDX-License-Identifier: Apache-2.0
import Content
import Host
import MeshCore

/// Where each piece of a resource should live, from the allocator's plan: one mechanism for the put and for
/// repair (which compares it with where pieces are). Holders are indices into the node list given.
///
/// - full replication: every piece on the resource's holders (placed by the resource's key);
/// - chunked replication: each chunk on `copies` holders placed by the chunk's own key, so chunks spread;
/// - erasure: each stripe's k + m shards on distinct nodes (placed by the stripe's first shard), `copies`
///   nodes per shard when the network is large enough;
/// - hierarchical: seeds hold everything; in each region, hubs hold the region's ~20% subset of chunks and
///   all parity; edges cache what they fetch.
public struct PlacementMap: Sendable {
    public var plan: PlacementPlan
    /// holders[i]: the nodes piece i should be on, best first.
    public var holders: [[Int]]

    /// `pieces`: the resource's chunks then its parity shards (``ContentStore/pieces(of:)``); `chunkCount` of
    /// them are data chunks.
    public static func build(
        resource: ContentID, pieces: [(id: ContentID, storedLength: UInt64)], chunkCount: Int, plan: PlacementPlan,
        request: PlacementRequest, nodes: [PlacementNode], allocator: AllocatorHandle
    ) throws(PluginCallError) -> PlacementMap {
        func place(_ key: [UInt8], _ count: Int, bytes: UInt64, among subset: [Int]? = nil) throws(PluginCallError) -> [Int] {
            var piece = request
            piece.key = key
            piece.replicas = count
            piece.pieceBytes = bytes
            guard let subset else { return try allocator.place(piece, nodes: nodes) }
            return try allocator.place(piece, nodes: subset.map { nodes[$0] }).map { subset[$0] }
        }
        func digest(_ id: ContentID) -> [UInt8] { Array(id.bytes.suffix(32)) }
        let total = pieces.reduce(UInt64(0)) { $0 + max($1.storedLength, 1) }
        var holders = [[Int]](repeating: [], count: pieces.count)
        switch plan.strategy {
        case .full:
            let chosen = try place(digest(resource), plan.copies, bytes: total)
            holders = holders.map { _ in chosen }
        case .chunked:
            for (i, piece) in pieces.enumerated() { holders[i] = try place(digest(piece.id), plan.copies, bytes: max(piece.storedLength, 1)) }
        case .erasure:
            let layout = StripeLayout(chunkCount: chunkCount, dataShards: max(plan.dataShards, 1), parityShards: plan.parityShards)
            // Stripes whose parity is among the pieces; a resource stored without parity has none, and its chunks
            // (like any piece outside those stripes) are placed one by one.
            let stripes = layout.stripes(coveredBy: pieces.count)
            for i in pieces.indices where i >= layout.pieceCount || layout.stripe(ofPiece: i).stripe >= stripes {
                holders[i] = try place(digest(pieces[i].id), plan.copies, bytes: max(pieces[i].storedLength, 1))
            }
            for stripe in 0..<stripes {
                let members = layout.pieces(inStripe: stripe)
                let width = members.count * max(plan.copies, 1)
                let bytes = members.map { max(pieces[$0].storedLength, 1) }.max() ?? 1
                let chosen = try place(digest(pieces[members[0]].id), width, bytes: bytes)
                guard !chosen.isEmpty else { continue }
                // Shard j gets the j-th group of `copies` nodes; a small network wraps around (fewer distinct nodes).
                for (j, piece) in members.enumerated() {
                    let group = (0..<max(plan.copies, 1)).map { chosen[(j * max(plan.copies, 1) + $0) % chosen.count] }
                    holders[piece] = Array(Set(group)).sorted { chosen.firstIndex(of: $0)! < chosen.firstIndex(of: $1)! }
                }
            }
        case .hierarchical:
            let seeds = try place(digest(resource), plan.seeds, bytes: total)
            holders = holders.map { _ in seeds }
            // No hubs planned (a small mesh: the replicas are all seeds): none placed. (The allocator's place()
            // reads a count of 0 as "its own copies", which would make hubs of that many nodes per region.)
            let regions = plan.hubsPerRegion > 0 ? Set(nodes.map(\.region)).sorted() : []
            for region in regions {
                // Hubs are other nodes than the seeds (a seed already holds everything).
                let subset = nodes.indices.filter { nodes[$0].region == region && !seeds.contains($0) }
                var regionKey = digest(resource)
                withUnsafeBytes(of: region.littleEndian) { for (i, b) in $0.enumerated() { regionKey[i] ^= b } }
                let subsetBytes = UInt64(Double(total) * plan.hubFraction) + 1
                let hubs = try place(regionKey, plan.hubsPerRegion, bytes: subsetBytes, among: subset)
                for (i, piece) in pieces.enumerated() {
                    // Parity goes to every hub; a chunk to the hubs of the regions whose ~20% subset it falls in.
                    let inSubset = i >= chunkCount || Self.fraction(digest(piece.id), region) < plan.hubFraction
                    if inSubset { holders[i] += hubs.filter { !holders[i].contains($0) } }
                }
            }
        }
        return PlacementMap(plan: plan, holders: holders)
    }

    /// A stable number in [0, 1) for (key, region): which regional subsets a chunk belongs to.
    static func fraction(_ key: [UInt8], _ region: UInt32) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(region)
        for byte in key {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(1 << 53)
    }

    /// The nodes holding at least one piece (each must also hold the manifest).
    public var allHolders: [Int] { Array(Set(holders.joined())).sorted() }
}

extension PlacementPlan {
    /// The plan with its replicas cut to what `budget` credits per hour pay for (the seed's pricing): copies per
    /// piece, erasure copies per shard and hierarchical seeds shrink with it. Unchanged when the budget suffices.
    public func capped(byBudget budget: UInt64, size: UInt64, pricing: Pricing = Pricing()) -> PlacementPlan {
        let affordable = pricing.affordableReplicas(size: size, wanted: replicas, budget: budget)
        guard affordable < replicas else { return self }
        var plan = self
        plan.replicas = affordable
        plan.copies = strategy == .erasure ? max(1, affordable / max(dataShards + parityShards, 1)) : min(copies, affordable)
        if strategy == .hierarchical { plan.seeds = min(seeds, affordable) }
        return plan
    }
}
