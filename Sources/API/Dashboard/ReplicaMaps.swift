// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import Mesh
import MeshCore
import Node
import Primitives
import Replication
import Synchronization

/// The replica maps of the resources this node holds: which member holds which piece (chunks, then parity
/// shards), found the way repair finds it — this node from its store, each other alive member by HAVE over its
/// session — with the target copies per piece as the allocator plans them now (the owner's ticket gives size and
/// budget; the stored stripe geometry wins, as in repair).
///
/// Bounded: at most ``resourceLimit`` resources, ``holderLimit`` members asked, a map reused for ``freshness``,
/// one census at a time.
final class ReplicaMaps: Sendable {
    struct Piece: Encodable {
        var index: Int
        /// "data" or "parity".
        var kind: String
        var stripe: Int
        var copies: Int
        var target: Int?
    }

    struct Holder: Encodable {
        var member: String
        var address: String
        var isSelf: Bool
        var load: Double?
        /// pieces[i]: whether this member holds piece i.
        var pieces: [Bool]
    }

    struct Map: Encodable {
        var id: String
        /// From the manifest; nil for a resource of one chunk (no manifest).
        var size: UInt64?
        var chunkSize: UInt64
        var chunks: Int
        var parity: Int
        var dataShards: Int?
        var parityShards: Int?
        var strategy: String?
        /// What the plan was made from: "owner ticket", or why there is none.
        var planned: String
        var targetCopies: Int?
        var minimumCopies: Int
        var piecesBelowTarget: Int?
        var pieces: [Piece]
        var holders: [Holder]
        /// Members asked that did not answer (or hold no manifest).
        var unanswered: [String]
        var ageSeconds: Double
    }

    static let resourceLimit = 32
    static let holderLimit = 64
    static let freshness: Duration = .seconds(3)

    let state: ControlState
    private let cache = Mutex<[ContentID: (at: ContinuousClock.Instant, map: Map)]>([:])
    private let omittedCount = Atomic<Int>(0)
    private let running = Atomic<Bool>(false)
    /// The round trip of each member's last HAVE answer (microseconds), and when: busy sessions send no
    /// keepalive pings, so this is often the only recent RTT there is.
    private let haveRTT = Mutex<[MemberID: (microseconds: Double, at: ContinuousClock.Instant)]>([:])

    init(_ state: ControlState) { self.state = state }

    var node: MeshNode { state.node }

    /// The resources listed: the newest pins, at most ``resourceLimit``.
    func listed() -> (ids: [ContentID], omitted: Int) {
        let pinned = (state.pins?.pinned ?? []).sorted { $0.description < $1.description }
        return (Array(pinned.prefix(Self.resourceLimit)), max(0, pinned.count - Self.resourceLimit))
    }

    /// The maps, refreshed first when stale (waits for one census round).
    func current() async -> ([Map], Int) {
        await refresh()
        return cached()
    }

    /// The maps as last taken, with their age now.
    func cached() -> ([Map], Int) {
        let (ids, omitted) = listed()
        let now = ContinuousClock.now
        let kept = cache.withLock { cache in ids.compactMap { id -> Map? in
            guard var entry = cache[id] else { return nil }
            let age = now - entry.at
            entry.map.ageSeconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
            return entry.map
        } }
        // Resources the mesh replicates (a plan) first, then this node's own (job results, local puts).
        return (kept.sorted { ($0.strategy == nil ? 1 : 0, $0.id) < ($1.strategy == nil ? 1 : 0, $1.id) }, omitted)
    }

    /// Starts a census round in the background when a map is stale (the event stream never waits for one).
    func refreshIfStale() {
        guard stale() else { return }
        Task { await refresh() }
    }

    private func stale() -> Bool {
        let ids = listed().ids
        let now = ContinuousClock.now
        return cache.withLock { cache in ids.contains { cache[$0].map { now - $0.at > Self.freshness } ?? true } }
    }

    /// One census round over the stale resources; a round already running is not doubled (this one returns).
    func refresh() async {
        guard stale(), running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { running.store(false, ordering: .releasing) }
        let ids = listed().ids
        for id in ids {
            let fresh = cache.withLock { $0[id].map { ContinuousClock.now - $0.at <= Self.freshness } ?? false }
            if fresh { continue }
            guard let map = await census(id) else { continue }
            cache.withLock { $0[id] = (ContinuousClock.now, map) }
        }
        // Forget what is no longer held.
        cache.withLock { cache in cache = cache.filter { ids.contains($0.key) } }
    }

    func census(_ id: ContentID) async -> Map? {
        guard let store = node.store, store.contains(id) else { return nil }
        let manifest: ResourceManifest?
        do { manifest = try store.manifest(for: id) } catch { return nil }
        let pieces = ContentStore.pieces(of: id, manifest: manifest)
        let chunkCount = manifest?.chunks.count ?? 1
        let layout = manifest?.layout ?? StripeLayout(chunkCount: 1, dataShards: 1, parityShards: 0)

        var holders: [Holder] = []
        var unanswered: [String] = []
        let peers = node.peers
        let me = peers?.memberID
        let members = peers?.memberList() ?? []
        let local = pieces.map { store.contains($0.id) }
        holders.append(Holder(member: DashboardFeed.hex(me), address: "this node", isSelf: true, load: nil, pieces: local))
        if let peers {
            let others = members.filter { $0.member != me }.prefix(Self.holderLimit)
            let answers = await withTaskGroup(of: (MemberInfo, ReplicationWire.Holding?).self) { group in
                for member in others {
                    group.addTask {
                        guard let connection = peers.session(with: member.member),
                            let (holding, rtt) = try? await peers.holding(id, on: connection, timeout: 2)
                        else { return (member, nil) }
                        self.haveRTT.withLock { $0[member.member] = (rtt, ContinuousClock.now) }
                        return (member, holding)
                    }
                }
                var all: [(MemberInfo, ReplicationWire.Holding?)] = []
                for await answer in group { all.append(answer) }
                return all.sorted { $0.0.member < $1.0.member }
            }
            for (member, holding) in answers {
                guard let holding, holding.pieces.count == pieces.count else {
                    if holding == nil { unanswered.append(DashboardFeed.hex(member.member)) }
                    continue
                }
                holders.append(Holder(member: DashboardFeed.hex(member.member), address: member.address, isSelf: false, load: holding.load, pieces: holding.pieces))
            }
        }
        let copies = pieces.indices.map { i in holders.filter { $0.pieces[i] }.count }

        // The target, as repair would plan it from here.
        var strategy: String?
        var targets: [Int]?
        var planned = "no allocator plugin on this node"
        if let slot = node.host.slot("allocator") {
            if let ticket = node.replicas?.ticket(for: id) {
                let policy = ticket.policy
                let nodes = members.map(\.placementNode)
                var request = PlacementRequest(resourceSize: policy.size, demandScore: 0, creditBudget: policy.budget)
                request.key = Array(id.bytes.suffix(32))
                let allocator = AllocatorHandle(slot: slot)
                if var plan = try? allocator.plan(request, nodes: nodes).capped(byBudget: policy.budget, size: policy.size, pricing: node.replicas?.pricing ?? Pricing()) {
                    if let manifest, let erasure = manifest.erasure {
                        plan.dataShards = erasure.dataShards
                        plan.parityShards = erasure.parityShards
                        if plan.strategy != .erasure && plan.strategy != .hierarchical { plan.strategy = .erasure; plan.copies = max(1, plan.copies / manifest.layout.width) }
                    }
                    strategy = Self.name(plan.strategy)
                    if let map = try? PlacementMap.build(resource: id, pieces: pieces, chunkCount: chunkCount, plan: plan, request: request, nodes: nodes, allocator: allocator) {
                        targets = map.holders.map(\.count)
                    }
                    planned = "owner ticket (size \(policy.size) B, budget \(policy.budget) credits/h), \(nodes.count) member(s), demand not counted"
                } else {
                    planned = "the allocator refused a plan"
                }
            } else {
                planned = "no owner ticket kept here (this node does not act for the owner)"
            }
        }
        let pieceList = pieces.indices.map { i -> Piece in
            let parity = i >= chunkCount
            let stripe = i < layout.pieceCount ? layout.stripe(ofPiece: i).stripe : i
            return Piece(index: i, kind: parity ? "parity" : "data", stripe: stripe, copies: copies[i], target: targets.map { $0[i] })
        }
        return Map(
            id: id.description, size: manifest?.size, chunkSize: manifest?.chunkSize ?? 0, chunks: chunkCount,
            parity: pieces.count - chunkCount, dataShards: manifest?.erasure?.dataShards, parityShards: manifest?.erasure?.parityShards, strategy: strategy,
            planned: planned, targetCopies: targets?.max(), minimumCopies: copies.min() ?? 0,
            piecesBelowTarget: targets.map { t in pieces.indices.filter { copies[$0] < t[$0] }.count },
            pieces: pieceList, holders: holders.filter { $0.isSelf || $0.pieces.contains(true) }, unanswered: unanswered, ageSeconds: 0)
    }

    /// The round trip of `member`'s last HAVE answer, if it came within the last minute.
    func rtt(_ member: MemberID) -> Double? {
        haveRTT.withLock { rtts in rtts[member].flatMap { ContinuousClock.now - $0.at < .seconds(60) ? $0.microseconds : nil } }
    }

    static func name(_ strategy: PlacementPlan.Strategy) -> String {
        switch strategy {
        case .full: "full"
        case .chunked: "chunked"
        case .erasure: "erasure"
        case .hierarchical: "hierarchical"
        }
    }
}
