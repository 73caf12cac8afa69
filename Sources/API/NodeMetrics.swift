// SPDX-License-Identifier: Apache-2.0
import CoreMetrics
import Foundation
import Host
import Mesh
import Node
import Prometheus
import Synchronization
import Wire

/// The node's Prometheus metrics (docs/api.md, Metrics): one swift-prometheus registry, which is also the
/// process's swift-metrics backend (``bootstrap()``), so libraries that report through swift-metrics land here.
///
/// Every family is registered at start with help text, its unit in its name (`_bytes`, `_seconds`) and `_total`
/// on counters; label sets known at start (frame types, member states, outcomes) are registered at zero.
/// Events are recorded as they happen (requests, round trips, jobs: histograms); everything the node already
/// counts is read at scrape time (``refresh(_:)``): gauges are set, counters advanced by what they gained.
public final class NodeMetrics: Sendable {
    public static let shared = NodeMetrics()

    public let registry = PrometheusCollectorRegistry()
    private let bootstrapped = Atomic<Bool>(false)
    private let mirrors = Mutex<[String: Int64]>([:])
    private let swapBaseline = Mutex<Int?>(nil)

    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2) + .microseconds(500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(120),
    ]

    init() {}

    /// Makes this registry the process's swift-metrics backend (once; later calls do nothing).
    public func bootstrap() {
        guard !bootstrapped.exchange(true, ordering: .relaxed) else { return }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    // MARK: Families

    private func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Counter {
        registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    private func histogram(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: Self.durationBuckets)
    }

    /// The descriptor of a full metric name (the name already carries prefix and unit).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    enum Help {
        static let wireFrames = "Frames through the node's sessions, by direction and frame type."
        static let wireBytes = "Bytes through the node's sessions (sealed, as on the wire), by direction and frame type."
        static let peerFrames = "Frames through the node's sessions, by direction and peer node."
        static let peerBytes = "Bytes through the node's sessions (sealed), by direction and peer node."
        static let requests = "Requests this node sent, by frame type and outcome."
        static let requestDuration = "Seconds from sending a request to its answer, timeout or failure, by frame type."
        static let rtt = "Keepalive round-trip times of the node's sessions."
        static let jobs = "Chunk jobs run for the mesh by outcome, and JOB_RUN requests refused."
        static let jobDuration = "Seconds one chunk job ran, by outcome."
        static let members = "Members in this node's SWIM view (itself excluded), by state."
    }

    /// Registers every family and installs the event observers on `node` (call once, after the node is built).
    func attach(_ node: MeshNode) {
        gauge("inos_build_info", "The build: version, Swift and API version (value 1).", [("version", BuildInfo.version), ("swift", BuildInfo.swift), ("api", BuildInfo.apiVersion)]).set(to: 1.0)
        let types = (node.peers?.registry.registrations.map(\.type) ?? []) + [.handshakeInit]
        for direction in ["in", "out"] {
            for type in Set(types) {
                let name = ControlState.typeName(type)
                _ = counter("inos_wire_frames_total", Help.wireFrames, [("direction", direction), ("type", name)])
                _ = counter("inos_wire_bytes_total", Help.wireBytes, [("direction", direction), ("type", name)])
            }
            _ = counter("inos_peer_frames_total", Help.peerFrames, [("direction", direction), ("peer", "other")])
            _ = counter("inos_peer_bytes_total", Help.peerBytes, [("direction", direction), ("peer", "other")])
        }
        let requestTypes = node.peers?.registry.registrations.filter { $0.kind == .request }.map(\.type) ?? []
        for type in requestTypes {
            for outcome in MeshObserver.Outcome.allCases { _ = counter("inos_requests_total", Help.requests, [("type", "\(type)"), ("outcome", outcome.rawValue)]) }
            _ = histogram("inos_request_duration_seconds", Help.requestDuration, [("type", "\(type)")])
        }
        let rtt = histogram("inos_rtt_seconds", Help.rtt)
        for state in ["alive", "suspect", "dead"] { _ = gauge("inos_members", Help.members, [("state", state)]) }
        for outcome in ["succeeded", "failed", "refused"] { _ = counter("inos_jobs_total", Help.jobs, [("outcome", outcome)]) }
        for outcome in ["succeeded", "failed"] { _ = histogram("inos_job_duration_seconds", Help.jobDuration, [("outcome", outcome)]) }
        _ = counter("inos_gateway_sent_bytes_total", "Content bytes the gateway sent.")
        _ = histogram("inos_gateway_request_duration_seconds", "Seconds from a gateway request to its answer's head (streamed bodies go on).", [("route", "ipfs")])
        swapBaseline.withLock { $0 = node.host.pluginHistory.count }
        // Every scrape-time family once, at zero.
        refreshGauges(node, ControlState.Figures.zero)

        node.peers?.layer.observe(
            MeshObserver(
                requestFinished: { [self] type, outcome, seconds in
                    counter("inos_requests_total", Help.requests, [("type", "\(type)"), ("outcome", outcome.rawValue)]).increment()
                    histogram("inos_request_duration_seconds", Help.requestDuration, [("type", "\(type)")]).record(Self.duration(seconds))
                },
                roundTrip: { seconds in rtt.record(Self.duration(seconds)) }))
        node.compute?.observeJobs { [self] outcome, seconds in
            histogram("inos_job_duration_seconds", Help.jobDuration, [("outcome", outcome)]).record(Self.duration(seconds))
        }
    }

    /// A gateway request done: `inos_gateway_requests_total{route,method,status}` and its duration.
    func gatewayRequest(route: String, method: String, status: Int, since started: ContinuousClock.Instant) {
        counter("inos_gateway_requests_total", "Gateway requests by route, method and status.", [("route", route), ("method", method), ("status", "\(status)")]).increment()
        histogram("inos_gateway_request_duration_seconds", "Seconds from a gateway request to its answer's head (streamed bodies go on).", [("route", route)])
            .record(ContinuousClock.now - started)
    }

    func gatewayBytes(_ bytes: UInt64) {
        counter("inos_gateway_sent_bytes_total", "Content bytes the gateway sent.").increment(by: Int64(clamping: bytes))
    }

    static func duration(_ seconds: Double) -> Duration {
        .nanoseconds(Int64(max(0, min(seconds, 86_400)) * 1e9))
    }

    // MARK: Scrape

    /// Reads the node's figures into the registry, then renders the text exposition format.
    func scrape(_ state: ControlState) -> [UInt8] {
        refreshGauges(state.node, state.figures())
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 << 10)
        registry.emit(into: &buffer)
        return buffer
    }

    /// Advances a mirrored counter to `value` (what the node counted since start): by the difference since the
    /// last scrape, so the counter never goes down.
    private func mirror(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: UInt64) {
        let key = name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        let target = Int64(clamping: value)
        let delta = mirrors.withLock { mirrors -> Int64 in
            let last = mirrors[key] ?? 0
            guard target > last else {
                if mirrors[key] == nil { mirrors[key] = 0 }
                return 0
            }
            mirrors[key] = target
            return target - last
        }
        let series = counter(name, help, labels)
        if delta > 0 { series.increment(by: delta) }
    }

    private func refreshGauges(_ node: MeshNode, _ f: ControlState.Figures) {
        gauge("inos_uptime_seconds", "Seconds since the node started.").set(to: f.uptime)
        gauge("inos_connections", "Open connections (sessions and handshakes).").set(to: Double(f.connections))
        for (state, count) in [("alive", f.members.alive), ("suspect", f.members.suspect), ("dead", f.members.dead)] {
            gauge("inos_members", Help.members, [("state", state)]).set(to: Double(count))
        }
        gauge("inos_routing_contacts", "Contacts in this node's Kademlia routing table (k-buckets of 20).").set(to: Double(f.routing.contacts))
        gauge("inos_members_view_partial", "1 once SWIM's view was full (the mesh outgrew [mesh] max_members): lookups route through the k-buckets.")
            .set(to: f.routing.partial ? 1 : 0)
        mirror("inos_members_evicted_total", "Members evicted from the full SWIM view to make room for newcomers.", [], f.routing.evictions)
        gauge("inos_store_capacity_bytes", "The store's capacity.").set(to: Double(f.store.total))
        gauge("inos_store_used_bytes", "Bytes the store uses.").set(to: Double(f.store.used))
        gauge("inos_store_free_bytes", "Bytes free in the store.").set(to: Double(f.store.total - min(f.store.total, f.store.used)))
        gauge("inos_store_pinned_resources", "Resources pinned on this node.").set(to: Double(f.pinned))
        gauge("inos_replication_resources", "Resources this node holds for the mesh.").set(to: Double(f.replication.resources))
        gauge("inos_replication_under_replicated_resources", "Resources this node leads that were below their target copies in the last repair round.")
            .set(to: Double(f.replication.underReplicated))
        gauge("inos_replication_pieces_below_target", "Pieces below their target copies at the start of the last repair round (the repair backlog).")
            .set(to: Double(f.replication.piecesBelowTarget))
        gauge("inos_replication_pieces_still_below_target", "Of those, the pieces still below target when the round ended (a push failed or found no session).")
            .set(to: Double(f.replication.piecesStillBelowTarget))
        gauge("inos_demand_resources", "Resources with requests counted toward demand here.").set(to: Double(f.demand.resources))
        gauge("inos_demand_requests_per_second", "Summed demand rate (requests per second, decaying) of those resources.").set(to: f.demand.rate)
        gauge("inos_ledger_entries", "Entries in this node's copy of the credit ledger.").set(to: Double(f.replication.ledgerEntries))
        gauge("inos_arena_heap_used_bytes", "Bytes of the arena's payload heap in use.").set(to: Double(f.heapUsed))
        gauge("inos_arena_heap_capacity_bytes", "The arena's payload heap size.").set(to: Double(f.heapCapacity))
        gauge("inos_arena_inbox_used_bytes", "Bytes waiting in the arena's inbox ring.").set(to: Double(f.inboxUsed))
        gauge("inos_arena_inbox_capacity_bytes", "The inbox ring's capacity.").set(to: Double(f.inboxCapacity))
        gauge("inos_backpressure", "1 while transports are paused (the inbox is past its high watermark).").set(to: f.backpressured ? 1 : 0)
        for (slot, generation) in f.generations {
            gauge("inos_plugin_generation", "The generation serving each plugin slot (1 at start, +1 per swap).", [("slot", slot)]).set(to: Double(generation))
        }

        mirror("inos_backpressure_pauses_total", "Times transports were paused by backpressure.", [], f.pauses)
        mirror("inos_plugin_swaps_total", "Plugins loaded by hot swaps since start.", [], UInt64(max(0, f.historyCount - (swapBaseline.withLock { $0 } ?? f.historyCount))))
        mirror("inos_unknown_frames_total", "Frames of a type no service registered (answered ERROR).", [], UInt64(f.unknownFrames))
        let stalls = node.reactorStalls
        mirror("inos_reactor_stalls_total", "Reactor callbacks that ran past a second (peers' handshakes, probes and requests waited meanwhile; the log says where and why).",
               [], stalls.count)
        gauge("inos_reactor_longest_stall_seconds", "The longest reactor callback past a second since start (0: none).").set(to: stalls.longestSeconds)
        mirror("inos_lamport_refused_total", "Remote Lamport times a day or more past this node's wall clock, not witnessed (a peer's lie or a clock far off).",
               [], node.lamport.refused)
        mirror("inos_chunks_served_total", "Chunk requests answered with the chunk.", [], f.chunks.served)
        mirror("inos_chunks_served_bytes_total", "Stored bytes of the chunks served.", [], f.chunks.bytes)
        mirror("inos_chunks_missing_total", "Chunk requests answered \"missing\".", [], f.chunks.missing)
        mirror("inos_pieces_stored_total", "Pieces peers stored here, each verified against its ID.", [], UInt64(f.replication.storedPieces))
        mirror("inos_pieces_mismatched_total", "Pieces refused because their bytes did not match their ID.", [], UInt64(f.replication.mismatchedPieces))
        mirror("inos_pieces_repaired_total", "Pieces repair copied to a holder (or here).", [], UInt64(f.replication.repairedPieces))
        mirror("inos_pieces_repaired_bytes_total", "Bytes repair copied.", [], f.replication.repairedBytes)
        mirror("inos_pieces_rebuilt_total", "Pieces repair rebuilt from their Reed-Solomon stripe.", [], UInt64(f.replication.rebuiltPieces))
        mirror("inos_pieces_released_total", "Pieces released (over target, or the owner's release).", [], UInt64(f.replication.releasedPieces))
        mirror("inos_repair_rounds_total", "Repair rounds finished.", [], UInt64(f.replication.repairRounds))
        mirror("inos_repair_rounds_superseded_total", "Repair rounds cancelled for a new one because the mesh changed while they ran.", [],
               UInt64(f.replication.supersededRounds))
        mirror("inos_ledger_credits_earned_total", "Credits this node earned (ledger).", [], f.replication.earned)
        mirror("inos_ledger_credits_spent_total", "Credits this node spent (ledger).", [], f.replication.spent)
        // Charging per period (docs/credits.md): as a holder, and as an owner.
        gauge("inos_billing_charged_resources", "Held resources whose owner pays by the period.").set(to: Double(f.replication.chargedResources))
        gauge("inos_billing_lapsing_resources", "Of those, the resources past their last paid period (released after the grace unless paid).")
            .set(to: Double(f.replication.lapsingResources))
        gauge("inos_billing_owned_resources", "Resources this node owns and pays its holders for each period.").set(to: Double(f.replication.ownedResources))
        gauge("inos_billing_degraded_resources", "Owned resources whose last bill paid fewer copies than were held.").set(to: Double(f.replication.degradedResources))
        gauge("inos_billing_unpaid_resources", "Owned resources whose last bill could pay no copy.").set(to: Double(f.replication.unpaidOwnedResources))
        mirror("inos_billing_credits_paid_total", "Credits this node paid its holders in billing rounds.", [], f.replication.billedCredits)
        mirror("inos_billing_unpaid_releases_total", "Resources this node released because their owner's payments stopped (or never came).", [],
               UInt64(f.replication.unpaidReleases))
        if let cache = node.cache?.statistics {
            // The seed's cache metrics: hits, misses, evictions, hit rate, average latency.
            gauge("inos_cache_capacity_bytes", "The edge cache's bound ([cache] size_mib).").set(to: Double(cache.capacityBytes))
            gauge("inos_cache_bytes", "Bytes of fetched objects the edge cache keeps.").set(to: Double(cache.bytes))
            gauge("inos_cache_entries", "Objects the edge cache keeps.").set(to: Double(cache.entries))
            gauge("inos_cache_hit_ratio", "Reads the store answered, over all gateway reads (0 before the first).").set(to: cache.hitRate)
            gauge("inos_cache_average_latency_seconds", "Mean time of a gateway read to its verified bytes, hits and misses.").set(to: cache.averageLatencySeconds)
            mirror("inos_cache_hits_total", "Gateway reads the store answered.", [], UInt64(cache.hits))
            mirror("inos_cache_misses_total", "Gateway reads that fetched from a holder.", [], UInt64(cache.misses))
            mirror("inos_cache_evictions_total", "Objects the edge cache's bound pushed out.", [], UInt64(cache.evictions))
            mirror("inos_cache_evicted_bytes_total", "Bytes eviction removed from the store.", [], cache.evictedBytes)
            gauge("inos_cache_announced_resources", "Resources this node announces as an edge cache (withdrawn on eviction).")
                .set(to: Double(node.cache?.roots.count ?? 0))
            for (source, bytes) in [("local", cache.localBytes), ("region", cache.regionBytes), ("remote", cache.remoteBytes)] {
                mirror("inos_read_bytes_total", "Bytes gateway reads got, by source: this node's store, a holder or cache in its region, one elsewhere.",
                       [("source", source)], bytes)
            }
        }
        for (outcome, count) in f.jobs { mirror("inos_jobs_total", Help.jobs, [("outcome", outcome)], count) }
        for (type, counts) in f.traffic.byType {
            let name = ControlState.typeName(type)
            mirror("inos_wire_frames_total", Help.wireFrames, [("direction", "in"), ("type", name)], counts.framesIn)
            mirror("inos_wire_frames_total", Help.wireFrames, [("direction", "out"), ("type", name)], counts.framesOut)
            mirror("inos_wire_bytes_total", Help.wireBytes, [("direction", "in"), ("type", name)], counts.bytesIn)
            mirror("inos_wire_bytes_total", Help.wireBytes, [("direction", "out"), ("type", name)], counts.bytesOut)
        }
        for (peer, counts) in f.traffic.byPeer.map({ ($0.node.description, $0.counts) }) + [("other", f.traffic.otherPeers)] {
            mirror("inos_peer_frames_total", Help.peerFrames, [("direction", "in"), ("peer", peer)], counts.framesIn)
            mirror("inos_peer_frames_total", Help.peerFrames, [("direction", "out"), ("peer", peer)], counts.framesOut)
            mirror("inos_peer_bytes_total", Help.peerBytes, [("direction", "in"), ("peer", peer)], counts.bytesIn)
            mirror("inos_peer_bytes_total", Help.peerBytes, [("direction", "out"), ("peer", peer)], counts.bytesOut)
        }
    }
}
