// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import ArgumentParser
import Foundation
import Primitives

// The operator's commands: each asks the running node through its control API (docs/api.md).

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What the running node is doing: identity, members, connections, store, arena, repair.")
    @OptionGroup var node: NodeAPIOptions
    @Flag(name: .long, help: "Print the API's JSON.") var json = false
    @Flag(name: .long, help: "List the pinned resources instead, each with its IPFS CID (the first 1,000).") var resources = false

    func run() async throws {
        if resources {
            let list = try await node.client().call(.GET, "/v1/resources", as: [ResourceReport].self)
            if json { return try printJSON(list) }
            guard !list.isEmpty else { return print("no pinned resources") }
            return printTable(
                header: ["RESOURCE", "IPFS CID", "SIZE", "CHUNKS", "PARITY"],
                rows: list.map { [$0.id, $0.ipfsCid, formatBytes($0.size), "\($0.chunks)", $0.parity ?? "-"] })
        }
        let status = try await node.client().call(.GET, "/v1/status", as: StatusReport.self)
        if json { return try printJSON(status) }
        var lines = [
            "node      \(status.name) \(status.id ?? "(no identity: no peer layer)")",
            "version   \(status.version), pid \(status.pid), up \(formatSeconds(status.uptimeSeconds))",
        ]
        if !status.listening.isEmpty { lines.append("listening \(status.listening.joined(separator: ", "))") }
        if let members = status.members {
            lines.append("members   \(members.alive) alive, \(members.suspect) suspect, \(members.dead) dead (besides this node)")
            if let contacts = members.routingContacts, let limit = members.maxMembers {
                let view = members.partial == true
                    ? "partial view (the mesh outgrew \(limit) members; \(members.evictions ?? 0) evicted): lookups route through"
                    : "whole mesh in view (up to \(limit) members);"
                lines.append("routing   \(view) \(contacts) k-bucket contact(s)")
            }
        }
        lines.append("peers     \(status.connections) connection(s)")
        if let store = status.store {
            let pinned = store.pinnedResources.map { ", \($0) resource(s) pinned" } ?? ""
            lines.append("store     \(formatBytes(store.usedBytes)) used of \(formatBytes(store.totalBytes)), \(formatBytes(store.freeBytes)) free\(pinned)")
        }
        let arena = status.arena
        lines.append(
            "arena     \(formatBytes(UInt64(arena.sizeBytes))); heap \(formatBytes(UInt64(arena.heapUsedBytes)))/\(formatBytes(UInt64(arena.heapCapacityBytes))) in use; inbox \(formatBytes(UInt64(arena.inboxUsedBytes)))/\(formatBytes(UInt64(arena.inboxCapacityBytes)))")
        lines.append("backpress \(arena.backpressured ? "PAUSED now" : "off"), \(arena.backpressurePauses) pause(s) since start")
        if let r = status.replication {
            lines.append("replicas  \(r.resources) resource(s) held, \(r.underReplicated) below target; \(r.repairedPieces) piece(s) repaired, \(r.releasedPieces) released")
            if let last = r.lastRepair {
                let left = last.remaining.map { ", \($0) still below when it ended" } ?? ""
                let took = last.durationSeconds.map { " (took \(formatSeconds($0)))" } ?? ""
                lines.append("repair    last round \(formatSeconds(last.secondsAgo)) ago\(took): backlog \(last.backlog) piece(s) below target\(left)")
            } else {
                lines.append("repair    no round yet")
            }
            lines.append("ledger    \(r.ledgerEntries) entr\(r.ledgerEntries == 1 ? "y" : "ies"); this node earned \(r.creditsEarned), spent \(r.creditsSpent) credits")
            if r.creditsEnforced == true {
                let balance = r.creditBalance.map { "balance \($0) credits" } ?? "an issuer (mints credits)"
                let bounced = (r.bouncedPayments ?? 0) > 0 ? "; \(r.bouncedPayments ?? 0) payment(s) bounced" : ""
                let refused = (r.unpaidRefusals ?? 0) > 0 ? "; \(r.unpaidRefusals ?? 0) unpaid resource(s) refused" : ""
                let released = (r.unpaidReleases ?? 0) > 0 ? "; \(r.unpaidReleases ?? 0) released for lack of payment" : ""
                lines.append("credits   enforced: \(balance)\(bounced)\(refused)\(released)")
                if let b = r.billing {
                    let lapsing = b.lapsingResources > 0 ? " (\(b.lapsingResources) past their paid period: released after \(formatSeconds(b.graceSeconds)) of grace unless paid)" : ""
                    lines.append("billing   period \(formatSeconds(b.periodSeconds)); holding \(b.chargedResources) charged resource(s)\(lapsing)")
                    if b.ownedResources > 0 {
                        let last = b.lastBilledSecondsAgo.map { "; last round \(formatSeconds($0)) ago" } ?? ""
                        let degraded = b.degradedResources > 0 ? ", \(b.degradedResources) degraded (the balance pays fewer copies)" : ""
                        let unpaid = b.unpaidResources > 0 ? ", \(b.unpaidResources) UNPAID (holders release them after the grace)" : ""
                        lines.append("owned     \(b.ownedResources) resource(s) billed\(degraded)\(unpaid); \(b.billedCredits) credits paid\(last)")
                        for o in b.owned where o.degraded == true || o.copiesPaid == 0 {
                            lines.append("          \(o.id): \(o.copiesPaid == 0 ? "no copy paid" : "\(o.copiesPaid ?? 0) cop\(o.copiesPaid == 1 ? "y" : "ies") paid"), \(o.creditsLastPeriod ?? 0) credits last period")
                        }
                    }
                }
            } else if r.creditsEnforced == false {
                lines.append("credits   not enforced (no [credits] issuers in the manifest): puts are not paid from balances")
            }
        }
        if let c = status.cache {
            let reads = c.hits + c.misses
            let rate = reads > 0 ? String(format: "; hit rate %.0f%%", c.hitRate * 100) + ", average read " + formatSeconds(c.averageLatencySeconds) : ""
            lines.append("cache     \(formatBytes(c.bytes)) of \(formatBytes(c.capacityBytes)) in \(c.entries) object(s); \(c.hits) hit(s), \(c.misses) miss(es), \(c.evictions) eviction(s)\(rate)")
            if let local = c.localBytes, let region = c.regionBytes, let remote = c.remoteBytes, Double(local) + Double(region) + Double(remote) > 0 {
                let inside = (Double(local) + Double(region)) / (Double(local) + Double(region) + Double(remote)) * 100
                lines.append(
                    "reads     \(formatBytes(local)) from this node, \(formatBytes(region)) from its region, \(formatBytes(remote)) from elsewhere "
                        + String(format: "(%.0f%% inside the region)", inside) + "; announced as a cache of \(c.announcedResources ?? 0) resource(s)")
            }
        }
        lines.append("plugins   \(status.plugins) slot(s) (inos plugins list)")
        if let pinned = status.store?.pinnedResources, pinned > 0 { lines.append("resources \(pinned) pinned (inos status --resources lists them with their IPFS CIDs)") }
        print(lines.joined(separator: "\n"))
    }
}

struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The mesh's members as the running node sees them: state, age, address, region, RTT.")
    @OptionGroup var node: NodeAPIOptions
    @Flag(name: .long, help: "Print the API's JSON.") var json = false

    func run() async throws {
        let members = try await node.client().call(.GET, "/v1/members", as: [MemberReport].self)
        if json { return try printJSON(members) }
        guard !members.isEmpty else { return print("no membership: this node has no peer layer (no listen or bootstrap address)") }
        printTable(
            header: ["MEMBER", "STATE", "SINCE", "INC", "ADDRESS", "REGION", "RTT"],
            rows: members.map { m in
                [
                    m.id + (m.isSelf ? " (self)" : ""), m.state, m.stateAgeSeconds.map { formatSeconds($0) + " ago" } ?? "-", "\(m.incarnation)",
                    m.address, m.region.map { $0.isEmpty ? "(none)" : $0 } ?? "-", m.rttMicroseconds.map { String(format: "%.0f µs", $0) } ?? "-",
                ]
            })
    }
}

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The running node's connections: address, direction, node, RTT, traffic.")
    @OptionGroup var node: NodeAPIOptions
    @Flag(name: .long, help: "Print the API's JSON.") var json = false

    func run() async throws {
        let peers = try await node.client().call(.GET, "/v1/peers", as: [PeerReport].self)
        if json { return try printJSON(peers) }
        guard !peers.isEmpty else { return print("no connections") }
        printTable(
            header: ["CONN", "DIR", "ADDRESS", "NODE", "RTT", "OPEN", "IN", "OUT"],
            rows: peers.map { p in
                [
                    "\(p.connection)", p.inbound ? "in" : "out", p.address, p.node.map { String($0.prefix(16)) + "…" } ?? "(handshake)",
                    p.rttMicroseconds.map { String(format: "%.0f µs", $0) } ?? "-", formatSeconds(p.openSeconds),
                    p.traffic.map { formatBytes($0.bytesIn) } ?? "-", p.traffic.map { formatBytes($0.bytesOut) } ?? "-",
                ]
            })
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bytes and frames in and out: totals, recent rates, per peer and per message type.")
    @OptionGroup var node: NodeAPIOptions
    @Flag(name: .long, help: "Print the API's JSON.") var json = false

    func run() async throws {
        let stats = try await node.client().call(.GET, "/v1/stats", as: StatsReport.self)
        if json { return try printJSON(stats) }
        let t = stats.total
        print("total     in \(formatBytes(t.bytesIn)) (\(t.framesIn) frames), out \(formatBytes(t.bytesOut)) (\(t.framesOut) frames) in \(formatSeconds(stats.uptimeSeconds))")
        if let r = stats.rates {
            print(String(format: "rate      in %@/s, out %@/s (last %.0f s)", formatBytes(UInt64(r.bytesInPerSecond)), formatBytes(UInt64(r.bytesOutPerSecond)), r.windowSeconds))
        }
        if !stats.byType.isEmpty {
            print("")
            printTable(
                header: ["TYPE", "IN", "FRAMES IN", "OUT", "FRAMES OUT"],
                rows: stats.byType.sorted { $0.traffic.bytesIn + $0.traffic.bytesOut > $1.traffic.bytesIn + $1.traffic.bytesOut }.map { row in
                    [row.type, formatBytes(row.traffic.bytesIn), "\(row.traffic.framesIn)", formatBytes(row.traffic.bytesOut), "\(row.traffic.framesOut)"]
                })
        }
        if !stats.byPeer.isEmpty {
            print("")
            printTable(
                header: ["PEER", "IN", "FRAMES IN", "OUT", "FRAMES OUT"],
                rows: stats.byPeer.map { row in
                    [row.node == "other" ? "other (handshakes, folded peers)" : String(row.node.prefix(16)) + "…", formatBytes(row.traffic.bytesIn), "\(row.traffic.framesIn)",
                     formatBytes(row.traffic.bytesOut), "\(row.traffic.framesOut)"]
                })
        }
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The running node's health checks (OK, WARN, ERR).",
        discussion: "Exits 0 when every check is OK, 1 when one warns, 2 when one fails, 3 when no node answers.")
    @OptionGroup var node: NodeAPIOptions
    @Flag(name: .long, help: "Print the API's JSON.") var json = false

    func run() async throws {
        let report: HealthReport
        do {
            // A failing check answers 503 with the same report.
            let client = try node.client()
            let response = try await Self.fetch(client)
            report = response
        } catch {
            Inos.report(error)
            throw ExitCode(3)
        }
        if json {
            try printJSON(report)
        } else {
            printTable(header: ["CHECK", "STATUS", "DETAIL"], rows: report.checks.map { [$0.name, $0.status.rawValue, $0.message] })
            print("overall: \(report.status.rawValue)")
        }
        if report.status != .ok { throw ExitCode(report.status.exitCode) }
    }

    /// The report, also when the node answers 503 (a failing check).
    static func fetch(_ client: APIClient) async throws -> HealthReport {
        let response = try await client.fetch(.GET, "/v1/health")
        do { return try API.decoder.decode(HealthReport.self, from: Data(response.body)) } catch {
            throw InosError(.malformed, "the node's health answer (HTTP \(response.status)) does not decode: \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
    }
}

struct Shutdown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the running node cleanly (as SIGTERM does).")
    @OptionGroup var node: NodeAPIOptions

    func run() async throws {
        let answer = try await node.client().call(.POST, "/v1/shutdown", Optional<Acknowledged>.none, as: Acknowledged.self)
        print("node \(answer.message)")
    }
}

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "The running node's log: change its level, follow it.", subcommands: [Level.self, Tail.self])

    struct Level: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the node's log level, or set it (trace, debug, info, notice, warning, error, critical).")
        @Argument(help: "The new level; without it, the current one is printed.") var level: String?
        @OptionGroup var node: NodeAPIOptions

        func run() async throws {
            let client = try node.client()
            let answer: LogLevelBody
            if let level {
                answer = try await client.call(.PUT, "/v1/log/level", LogLevelBody(level: level), as: LogLevelBody.self)
            } else {
                answer = try await client.call(.GET, "/v1/log/level", as: LogLevelBody.self)
            }
            print(answer.level)
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the node's recent log lines, then follow new ones (NDJSON with --json).")
        @Option(name: .long, help: "Recent lines to print first (0…1000).") var lines = 20
        @Flag(name: .long, help: "Print each record as the API's JSON line.") var json = false
        @OptionGroup var node: NodeAPIOptions

        func run() async throws {
            let raw = json
            try await node.client().stream(.GET, "/v1/log/tail?replay=\(max(0, min(lines, 1000)))") { line in
                if raw { return FileHandle.standardOutput.write(Data(line + [UInt8(ascii: "\n")])) }
                FileHandle.standardOutput.write(Data((Self.text(line) + "\n").utf8))
            }
        }

        /// A JSON log record as a text line (what the node prints), or the line as it came.
        static func text(_ line: [UInt8]) -> String {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return String(decoding: line, as: UTF8.self) }
            let time = object["time"] as? String ?? ""
            let level = object["level"] as? String ?? ""
            let label = object["label"] as? String ?? ""
            let message = object["message"] as? String ?? ""
            let metadata = (object["metadata"] as? [String: Any]).map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") } ?? ""
            return "\(time) \(level) \(label): \(message)\(metadata.isEmpty ? "" : " " + metadata)"
        }
    }
}
