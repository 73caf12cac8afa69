// SPDX-License-Identifier: Apache-2.0
import APIModel
import Content
import Foundation
import Host
import Identity
import Mesh
import MeshCore
import Node
import Primitives
import Replication
import Synchronization
import WorkAllocation

/// What the dashboard's pages show, each figure read from the part of the node that owns it (nothing made up
/// here): the reports of `inos status`, `health`, `stats`, `plugins`, the members with their gossiped status,
/// the replica maps of the resources this node holds (``ReplicaMaps``), the recent jobs and the ledger.
final class DashboardFeed: Sendable {
    let state: ControlState
    let maps: ReplicaMaps
    /// Event-stream subscribers now (at most ``subscriberLimit``).
    let subscribers = Atomic<Int>(0)
    static let subscriberLimit = 16
    private let rateHistory = Mutex<[RatePoint]>([])

    init(_ state: ControlState) {
        self.state = state
        maps = ReplicaMaps(state)
    }

    var node: MeshNode { state.node }

    // MARK: Overview

    struct Overview: Encodable {
        var status: StatusReport
        var health: HealthReport
        var stats: Stats
        /// The traffic rates of the last ``historyLength`` seconds this feed was read (the bandwidth chart).
        var history: [RatePoint]
        /// Wall-clock seconds since 1970 at this snapshot (the chart's time axis).
        var at: Double
    }

    /// The totals and rates of `inos stats`, without the per-type and per-peer tables.
    struct Stats: Encodable {
        var total: APIModel.Traffic
        var rates: StatsReport.Rates?
    }

    struct RatePoint: Encodable {
        var at: Double
        var bytesInPerSecond: Double
        var bytesOutPerSecond: Double
    }

    /// Points the bandwidth chart keeps: one a second, five minutes.
    static let historyLength = 300

    func overview() -> Overview {
        let stats = state.stats()
        let now = Date().timeIntervalSince1970
        // A point a second at most, however many pages read the feed; only while one does.
        let history = rateHistory.withLock { history -> [RatePoint] in
            if let rates = stats.rates, (history.last?.at ?? 0) <= now - 0.9 {
                history.append(RatePoint(at: now, bytesInPerSecond: rates.bytesInPerSecond, bytesOutPerSecond: rates.bytesOutPerSecond))
                if history.count > Self.historyLength { history.removeFirst(history.count - Self.historyLength) }
            }
            return history
        }
        return Overview(
            status: state.status(), health: state.health(), stats: Stats(total: stats.total, rates: stats.rates), history: history, at: now)
    }

    // MARK: Mesh

    struct MeshView: Encodable {
        struct Member: Encodable {
            var id: String
            var state: String
            var address: String
            var incarnation: UInt64
            var stateAgeSeconds: Double?
            var isSelf: Bool
            var rttMicroseconds: Double?
            /// "keepalive" (the session's estimate) or "have" (the last census answer's round trip).
            var rttSource: String?
            /// Whether this node has a session with it now.
            var connected: Bool
            /// The status it gossiped (this node's own for itself); nil when none was heard.
            var load: Double?
            var capacityBytes: UInt64?
            var freeBytes: UInt64?
            /// The region's name ("" for none).
            var region: String?
        }
        struct Link: Encodable {
            var from: String
            var to: String
            var rttMicroseconds: Double?
            var rttSource: String?
            var inbound: Bool
        }
        /// The allocator's load band: nodes are placed on up to `max`, aimed at `target`; below `low` a node is
        /// underused (`low` = 2 × target − max).
        struct Band: Encodable {
            var low: Double
            var target: Double
            var max: Double
            var source: String
        }
        var members: [Member]
        var links: [Link]
        var band: Band
    }

    /// The adaptive allocator's defaults (Plugins/Allocator/Adaptive), used when the manifest does not set them.
    static let defaultTargetLoad = 0.375
    static let defaultMaxLoad = 0.5

    func mesh() -> MeshView {
        guard let peers = node.peers, let membership = peers.membership else { return MeshView(members: [], links: [], band: band()) }
        let now = peers.clock.now()
        let known = peers.gossip?.known ?? [:]
        var rtt: [MemberID: (Double, String)] = [:]
        var links: [MeshView.Link] = []
        let me = peers.memberID
        for peer in peers.peers {
            guard let id = peer.node else { continue }
            let member = Membership.member(id)
            // A session to itself (this node's own mesh client dialing its own address) is no link.
            if member == me { continue }
            if let value = peer.rttMicroseconds {
                rtt[member] = (value, "keepalive")
            } else if let value = maps.rtt(member) {
                rtt[member] = (value, "have")
            }
            links.append(MeshView.Link(from: Self.hex(me), to: Self.hex(member), rttMicroseconds: rtt[member]?.0, rttSource: rtt[member]?.1, inbound: peer.inbound))
        }
        let own = ownStatus()
        let members = membership.view.map { view -> MeshView.Member in
            let status = view.isSelf ? own : known[view.member]
            return MeshView.Member(
                id: Self.hex(view.member), state: "\(view.status)", address: view.address ?? "", incarnation: UInt64(view.incarnation),
                stateAgeSeconds: view.changedAt.map { now > $0 ? Double(now - $0) / 1e9 : 0 }, isSelf: view.isSelf, rttMicroseconds: rtt[view.member]?.0,
                rttSource: rtt[view.member]?.1, connected: links.contains { $0.to == Self.hex(view.member) },
                load: status?.load, capacityBytes: status?.capacityBytes, freeBytes: status?.freeBytes, region: status?.regionName)
        }
        return MeshView(members: members, links: links, band: band())
    }

    /// This node's status as it gossips it (the member list's first entry is this node).
    func ownStatus() -> NodeStatus? {
        node.peers?.memberList().first?.status
    }

    func band() -> MeshView.Band {
        let config = node.host.slot("allocator")?.active?.spec.config ?? [:]
        let target = config["target_load"].flatMap(Double.init) ?? Self.defaultTargetLoad
        let max = config["max_load"].flatMap(Double.init) ?? Self.defaultMaxLoad
        let source = config["target_load"] != nil || config["max_load"] != nil ? "the allocator's configuration" : "the adaptive allocator's defaults"
        return MeshView.Band(low: Swift.max(0, 2 * target - max), target: target, max: max, source: source)
    }

    static func hex(_ member: MemberID?) -> String { member.map { String(format: "%016llx", $0) } ?? "" }

    // MARK: Resources

    struct Resources: Encodable {
        var resources: [ReplicaMaps.Map]
        /// Resources this node holds beyond the ones listed (``ReplicaMaps/resourceLimit``).
        var omitted: Int
        var repair: Repair?
    }

    /// The repair loop's progress on this node.
    struct Repair: Encodable {
        var rounds: Int
        var lastRoundSecondsAgo: Double?
        var underReplicated: Int
        var piecesBelowTarget: Int
        var repairedPieces: Int
        var repairedBytes: UInt64
        var releasedPieces: Int
    }

    func resources() async -> Resources {
        let (maps, omitted) = await self.maps.current()
        return Resources(resources: maps, omitted: omitted, repair: repair())
    }

    /// The cached maps only (no census now): what the event stream sends.
    func cachedResources() -> Resources {
        let (maps, omitted) = self.maps.cached()
        return Resources(resources: maps, omitted: omitted, repair: repair())
    }

    func repair() -> Repair? {
        guard let replicas = node.replicas else { return nil }
        let s = replicas.summary
        let now = node.peers?.clock.now() ?? 0
        return Repair(
            rounds: s.repairRounds, lastRoundSecondsAgo: s.lastRepairRoundAt.map { now > $0 ? Double(now - $0) / 1e9 : 0 }, underReplicated: s.underReplicated,
            piecesBelowTarget: s.piecesBelowTarget, repairedPieces: s.repairedPieces, repairedBytes: s.repairedBytes, releasedPieces: s.releasedPieces)
    }

    // MARK: Jobs, ledger, plugins

    struct Jobs: Encodable {
        struct Job: Encodable {
            struct Part: Encodable {
                var node: String
                var chunks: Int
                var failed: String?
            }
            var kind: String
            var function: String
            var resource: String
            var requester: String?
            var parts: [Part]
            var retried: Int
            var outcome: String
            var message: String?
            var seconds: Double
            var finishedAt: Double
        }
        /// Chunk jobs run here by outcome, and requests refused, since start.
        var outcomes: [String: UInt64]
        var recent: [Job]
        var recorded: Int
        var historyLimit: Int
        var computeEnabled: Bool
    }

    func jobs() -> Jobs {
        guard let compute = node.compute else { return Jobs(outcomes: [:], recent: [], recorded: 0, historyLimit: JobHistory.capacity, computeEnabled: false) }
        let recent = compute.history.recent.map { entry in
            Jobs.Job(
                kind: entry.kind, function: entry.function, resource: entry.resource, requester: entry.requester,
                parts: entry.parts.map { Jobs.Job.Part(node: $0.node, chunks: $0.chunks, failed: $0.failed) }, retried: entry.retried, outcome: entry.outcome,
                message: entry.message, seconds: entry.seconds, finishedAt: entry.finishedAt)
        }
        return Jobs(outcomes: compute.jobOutcomes, recent: recent, recorded: compute.history.total, historyLimit: JobHistory.capacity, computeEnabled: true)
    }

    struct Ledger: Encodable {
        struct Account: Encodable {
            var node: String
            var member: String
            var earned: UInt64
            var spent: UInt64
            var entries: Int
            var bytes: UInt64
            var isSelf: Bool
        }
        var accounts: [Account]
        var entries: Int
    }

    /// Credits earned (as payee) and spent (as payer) per node, over the ledger entries this node keeps.
    func ledger() -> Ledger {
        let entries = node.replicas?.ledgerEntries ?? []
        var accounts: [[UInt8]: Ledger.Account] = [:]
        let me = node.identity?.id.bytes
        func account(_ id: [UInt8]) -> Ledger.Account {
            if let existing = accounts[id] { return existing }
            let nodeID = NodeID(bytes: id)
            return Ledger.Account(
                node: nodeID?.description ?? "?", member: nodeID.map { Self.hex(Membership.member($0)) } ?? "", earned: 0, spent: 0, entries: 0, bytes: 0,
                isSelf: id == me)
        }
        for entry in entries {
            var payer = account(entry.payer)
            payer.spent += entry.amount
            payer.entries += 1
            accounts[entry.payer] = payer
            var payee = account(entry.payee)
            payee.earned += entry.amount
            payee.entries += 1
            payee.bytes += entry.bytes
            accounts[entry.payee] = payee
        }
        return Ledger(accounts: accounts.values.sorted { ($0.earned + $0.spent, $0.node) > ($1.earned + $1.spent, $1.node) }, entries: entries.count)
    }

    struct Plugins: Encodable {
        struct Loaded: Encodable {
            var id: String
            var version: String
            var slot: String?
            var state: String
        }
        var slots: [PluginReport]
        /// Every plugin this node loaded since start, in order (swaps leave the old one draining, then unloaded).
        var history: [Loaded]
        var swaps: Int
    }

    func plugins() -> Plugins {
        let slots = state.plugins()
        let history = node.host.pluginHistory.map { Plugins.Loaded(id: $0.id, version: $0.version, slot: $0.spec.explicitSlot, state: "\($0.state)") }
        return Plugins(slots: slots, history: history, swaps: slots.reduce(0) { $0 + max(0, $1.generation - 1) })
    }

    // MARK: The event stream

    /// One event's data: everything but the resources' census, which the stream sends from the cache.
    struct Snapshot: Encodable {
        var overview: Overview
        var mesh: MeshView
        var resources: Resources
        var jobs: Jobs
        var ledger: Ledger
        var plugins: Plugins
    }

    func snapshot() -> Snapshot {
        maps.refreshIfStale()
        return Snapshot(overview: overview(), mesh: mesh(), resources: cachedResources(), jobs: jobs(), ledger: ledger(), plugins: plugins())
    }
}
