// SPDX-License-Identifier: Apache-2.0
import APIModel
import DataPath
import Foundation
import Host
import Identity
import Mesh
import MeshCore
import Node
import Primitives
import Replication
import Wire

typealias ReplicaSummary = ReplicaService.Summary

/// The node's state as the API's reports (read-only; every figure from the part of the node that owns it).
extension ControlState {
    var pins: PinSet? {
        node.pins ?? (try? PinSet(folder: (node.configuration.dataDirectory as NSString).appendingPathComponent("pins")))
    }

    func status() -> StatusReport {
        let host = node.host
        let heap = host.arena.heap.statistics
        let peers = node.peers
        let summary = peers?.membership?.summary
        let space = node.store?.capacity()
        let replication = node.replicas.map { replicas -> StatusReport.Replication in
            let s = replicas.summary
            let now = peers?.clock.now() ?? 0
            let last = s.lastRepairRoundAt.map { at in
                StatusReport.Repair(
                    secondsAgo: now > at ? Double(now - at) / 1e9 : 0,
                    durationSeconds: s.lastRepairRoundStartedAt.map { at >= $0 ? Double(at - $0) / 1e9 : 0 },
                    checked: s.resources, pushed: s.repairedPieces, backlog: s.piecesBelowTarget, remaining: s.piecesStillBelowTarget)
            }
            var report = StatusReport.Replication(
                resources: s.resources, underReplicated: s.underReplicated, repairedPieces: s.repairedPieces, releasedPieces: s.releasedPieces,
                ledgerEntries: s.ledgerEntries, creditsEarned: s.earned, creditsSpent: s.spent, lastRepair: last)
            report.creditsEnforced = replicas.creditsEnforced
            report.creditBalance = s.balance
            report.bouncedPayments = s.bouncedPayments
            report.unpaidRefusals = s.unpaidRefusals
            report.unpaidReleases = s.unpaidReleases
            if replicas.creditsEnforced {
                let wall = peers?.clock.wallSeconds() ?? Date().timeIntervalSince1970
                let owned = replicas.ownedResources.prefix(StatusReport.Billing.listed).map { owned, bill in
                    StatusReport.Billing.Owned(
                        id: owned.resource.description, sizeBytes: owned.size, budget: owned.budget, ticketBudget: owned.ticketBudget,
                        copiesPaid: bill?.replicas, creditsLastPeriod: bill?.total, degraded: bill?.degraded, billedSecondsAgo: max(0, wall - owned.billedAt))
                }
                report.billing = StatusReport.Billing(
                    periodSeconds: replicas.billingPeriod, graceSeconds: replicas.paymentGrace, chargedResources: s.chargedResources,
                    lapsingResources: s.lapsingResources, ownedResources: s.ownedResources, degradedResources: s.degradedResources,
                    unpaidResources: s.unpaidOwnedResources, billedCredits: s.billedCredits,
                    lastBilledSecondsAgo: s.lastBilledAt.map { max(0, wall - $0) }, owned: Array(owned))
            }
            return report
        }
        var report = StatusReport(
            id: node.identity?.id.description, name: host.manifest.nodeName, version: BuildInfo.version, pid: getpid(), uptimeSeconds: uptimeSeconds,
            listening: peers?.listening ?? [],
            members: summary.map { summary in
                let membership = peers?.membership
                return StatusReport.Members(
                    alive: summary.alive, suspect: summary.suspect, dead: summary.dead, maxMembers: membership?.maximumMembers,
                    partial: membership?.isPartial, routingContacts: membership?.contacts.count, evictions: membership?.evictions)
            },
            connections: peers?.peers.count ?? 0,
            store: space.map { StatusReport.Store(usedBytes: $0.used, totalBytes: $0.total, freeBytes: $0.total - min($0.total, $0.used), pinnedResources: pins?.pinned.count) },
            arena: StatusReport.Arena(
                sizeBytes: host.arena.size, heapUsedBytes: heap.bytesInUse, heapCapacityBytes: heap.capacity, inboxUsedBytes: host.arena.inbox.usedBytes,
                inboxCapacityBytes: host.arena.inbox.capacity, backpressured: host.arena.switchboard.isBackpressured,
                backpressurePauses: host.arena.switchboard.backpressureCounts.pauses),
            replication: replication, plugins: host.slots.count,
            lamport: StatusReport.Lamport(time: node.lamport.time, refusedRemoteTimes: node.lamport.refused))
        report.cache = node.cache.map { cache in
            let c = cache.statistics
            return StatusReport.Cache(
                capacityBytes: c.capacityBytes, bytes: c.bytes, entries: c.entries, hits: c.hits, misses: c.misses, evictions: c.evictions,
                hitRate: c.hitRate, averageLatencySeconds: c.averageLatencySeconds, localBytes: c.localBytes, regionBytes: c.regionBytes,
                remoteBytes: c.remoteBytes, announcedResources: cache.roots.count)
        }
        return report
    }

    func members() -> [MemberReport] {
        guard let peers = node.peers, let membership = peers.membership else { return [] }
        let now = peers.clock.now()
        // RTT by member: the session's keepalive estimate.
        var rtt: [MemberID: Double] = [:]
        for peer in peers.peers { if let node = peer.node, let value = peer.rttMicroseconds { rtt[Membership.member(node)] = value } }
        // Regions from the statuses members gossiped; this node's own from what it publishes.
        let known = peers.gossip?.known ?? [:]
        let own = peers.memberList().first?.status
        return membership.view.map { view in
            MemberReport(
                id: String(format: "%016llx", view.member), state: "\(view.status)", incarnation: UInt64(view.incarnation), address: view.address ?? "",
                stateAgeSeconds: view.changedAt.map { now > $0 ? Double(now - $0) / 1e9 : 0 }, rttMicroseconds: rtt[view.member], isSelf: view.isSelf,
                region: (view.isSelf ? own : known[view.member])?.regionName)
        }
    }

    func peerReports() -> [PeerReport] {
        guard let peers = node.peers else { return [] }
        let now = peers.clock.now()
        let byNode = Dictionary(peers.layer.traffic.snapshot.byPeer.map { ($0.node, $0.counts) }, uniquingKeysWith: { a, _ in a })
        return peers.peers.map { peer in
            PeerReport(
                connection: peer.connection, address: peer.address, inbound: peer.inbound, node: peer.node?.description, rttMicroseconds: peer.rttMicroseconds,
                openSeconds: now > peer.openedAt ? Double(now - peer.openedAt) / 1e9 : 0,
                lastHeardSecondsAgo: peer.lastHeard == 0 ? nil : (now > peer.lastHeard ? Double(now - peer.lastHeard) / 1e9 : 0),
                traffic: peer.node.flatMap { byNode[$0] }.map { Self.traffic($0) })
        }
    }

    static func traffic(_ counts: Mesh.Traffic.Counts) -> APIModel.Traffic {
        APIModel.Traffic(framesIn: counts.framesIn, bytesIn: counts.bytesIn, framesOut: counts.framesOut, bytesOut: counts.bytesOut)
    }

    func stats() -> StatsReport {
        guard let traffic = node.peers?.layer.traffic else {
            return StatsReport(uptimeSeconds: uptimeSeconds, total: APIModel.Traffic(), rates: nil, byPeer: [], byType: [])
        }
        let snapshot = traffic.snapshot
        let total = snapshot.total
        var byPeer = snapshot.byPeer.map { StatsReport.ByPeer(node: $0.node.description, traffic: Self.traffic($0.counts)) }
        if snapshot.otherPeers != Mesh.Traffic.Counts() { byPeer.append(StatsReport.ByPeer(node: "other", traffic: Self.traffic(snapshot.otherPeers))) }
        return StatsReport(
            uptimeSeconds: uptimeSeconds, total: Self.traffic(total), rates: sampler.rates(now: total), byPeer: byPeer,
            byType: snapshot.byType.map { StatsReport.ByType(type: Self.typeName($0.type), traffic: Self.traffic($0.counts)) })
    }

    /// A frame type's name for reports and metric labels (handshake frames before a session are one bucket).
    static func typeName(_ type: FrameType) -> String { type == .handshakeInit ? "HANDSHAKE" : "\(type)" }

    func plugins() -> [PluginReport] {
        node.host.slots.sorted { $0.key < $1.key }.compactMap { name, slot in
            guard let plugin = slot.active else { return nil }
            return Self.report(plugin, slot: name, generation: slot.generation, history: node.host.pluginHistory)
        }
    }

    static func report(_ plugin: LoadedPlugin, slot: String, generation: Int, history: [LoadedPlugin]) -> PluginReport {
        let draining = history.filter { $0 !== plugin && $0.state == .draining && $0.spec.explicitSlot == slot }.count
        return PluginReport(
            slot: slot, kind: "\(plugin.kind)", id: plugin.id, version: plugin.version, abi: "\(plugin.abiVersion.major).\(plugin.abiVersion.minor)",
            generation: generation, path: plugin.path, draining: draining)
    }
}

extension ControlState {
    /// Every figure the metrics read at a scrape, gathered once.
    struct Figures {
        var uptime: Double
        var connections: Int
        var members: (alive: Int, suspect: Int, dead: Int)
        var routing: (contacts: Int, partial: Bool, evictions: UInt64)
        var store: (total: UInt64, used: UInt64)
        var pinned: Int
        var replication: ReplicaSummary
        var demand: (resources: Int, rate: Double)
        var heapUsed: Int, heapCapacity: Int, inboxUsed: Int, inboxCapacity: Int
        var backpressured: Bool
        var pauses: UInt64
        var generations: [(String, Int)]
        var historyCount: Int
        var unknownFrames: Int
        var chunks: (served: UInt64, bytes: UInt64, missing: UInt64)
        var jobs: [(String, UInt64)]
        var traffic: Mesh.Traffic.Snapshot

        static let zero = Figures(
            uptime: 0, connections: 0, members: (0, 0, 0), routing: (0, false, 0), store: (0, 0), pinned: 0, replication: ReplicaSummary(), demand: (0, 0), heapUsed: 0, heapCapacity: 0,
            inboxUsed: 0, inboxCapacity: 0, backpressured: false, pauses: 0, generations: [], historyCount: 0, unknownFrames: 0, chunks: (0, 0, 0), jobs: [],
            traffic: Mesh.Traffic.Snapshot(byType: [], byPeer: [], otherPeers: Mesh.Traffic.Counts()))
    }

    func figures() -> Figures {
        let host = node.host
        let heap = host.arena.heap.statistics
        let summary = node.peers?.membership?.summary
        let space = node.store?.capacity()
        return Figures(
            uptime: uptimeSeconds, connections: node.peers?.peers.count ?? 0, members: (summary?.alive ?? 0, summary?.suspect ?? 0, summary?.dead ?? 0),
            routing: node.peers?.membership.map { ($0.contacts.count, $0.isPartial, $0.evictions) } ?? (0, false, 0),
            store: (space?.total ?? 0, space?.used ?? 0), pinned: pins?.pinned.count ?? 0, replication: node.replicas?.summary ?? ReplicaSummary(),
            demand: node.replicas.map { ($0.demand.resources, $0.demand.requestsPerSecond) } ?? (0, 0),
            heapUsed: heap.bytesInUse, heapCapacity: heap.capacity, inboxUsed: host.arena.inbox.usedBytes, inboxCapacity: host.arena.inbox.capacity,
            backpressured: host.arena.switchboard.isBackpressured, pauses: host.arena.switchboard.backpressureCounts.pauses,
            generations: host.slots.map { ($0.key, $0.value.generation) }.sorted { $0.0 < $1.0 }, historyCount: host.pluginHistory.count,
            unknownFrames: node.peers?.registry.unknownFrames ?? 0, chunks: node.peers?.chunksServed ?? (0, 0, 0),
            jobs: (node.compute?.jobOutcomes ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            traffic: node.peers?.layer.traffic.snapshot ?? Figures.zero.traffic)
    }
}
