// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import Node
import Synchronization

/// The node's health as named checks (`inos health`, `/v1/health`) and its readiness (`/readyz`): each check
/// OK, WARN or ERR with a sentence an operator can act on.
extension ControlState {
    /// Backpressure held this long without a break is "stuck".
    static let stuckBackpressureSeconds = 10.0
    /// Free store space below these shares warns, then fails.
    static let storeWarnFraction = 0.10
    static let storeErrorFraction = 0.02

    func health() -> HealthReport {
        var checks: [HealthReport.Check] = []
        let configuration = node.configuration
        if let peers = node.peers, configuration.role == .member {
            let summary = peers.membership?.summary
            let alive = summary?.alive ?? 0
            if alive > 0 {
                checks.append(.init(name: "members", status: .ok, message: "\(alive) other member(s) alive, \(summary?.suspect ?? 0) suspect, \(summary?.dead ?? 0) dead"))
            } else if configuration.manifest.bootstrap.isEmpty {
                checks.append(.init(name: "members", status: .warn, message: "no other members: this node is alone (no bootstrap peers configured, none joined it)"))
            } else {
                checks.append(.init(name: "members", status: .err, message: "no members: none of the \(configuration.manifest.bootstrap.count) bootstrap peer(s) answered (\(peers.peers.count) connection(s) open)"))
            }
        }
        if let replicas = node.replicas {
            let s = replicas.summary
            if s.underReplicated > 0 {
                checks.append(.init(name: "under_replicated", status: .warn, message: "\(s.underReplicated) resource(s) this node leads below their target copies (\(s.piecesBelowTarget) piece(s)); repair is on it"))
            } else {
                checks.append(.init(name: "under_replicated", status: .ok, message: s.repairRounds == 0 ? "no repair round yet" : "every resource this node leads at its target copies"))
            }
        }
        if node.host.slot("store") != nil {
            if let space = node.store?.capacity(), space.total > 0 {
                let free = Double(space.total - min(space.total, space.used)) / Double(space.total)
                let text = "\(Int((free * 100).rounded()))% free (\(space.used >> 20) of \(space.total >> 20) MiB used)"
                checks.append(.init(name: "store_space", status: free < Self.storeErrorFraction ? .err : free < Self.storeWarnFraction ? .warn : .ok, message: text))
            } else {
                checks.append(.init(name: "store_space", status: .err, message: "the store plugin is loaded but the store does not answer"))
            }
        }
        let held = backpressureHeld()
        if let held, held >= Self.stuckBackpressureSeconds {
            checks.append(.init(name: "backpressure", status: .err, message: "transports paused for \(Int(held)) s: the inbox is not drained (a stuck handler or a flood)"))
        } else if held != nil {
            checks.append(.init(name: "backpressure", status: .warn, message: "transports paused now (the inbox is past its high watermark)"))
        } else {
            checks.append(.init(name: "backpressure", status: .ok, message: "\(node.host.arena.switchboard.backpressureCounts.pauses) pause(s) since start, none now"))
        }
        let empty = node.host.slots.filter { $0.value.active == nil }.map(\.key).sorted()
        if empty.isEmpty {
            checks.append(.init(name: "plugins", status: .ok, message: "\(node.host.slots.count) slot(s), each served"))
        } else {
            checks.append(.init(name: "plugins", status: .err, message: "slot(s) without a plugin: \(empty.joined(separator: ", "))"))
        }
        return HealthReport(checks: checks)
    }

    /// Ready to serve: plugins loaded, the store open (if it has one), and joined (a member with bootstrap peers
    /// has at least one other alive member).
    func readiness() -> HealthReport {
        var checks: [HealthReport.Check] = []
        let empty = node.host.slots.filter { $0.value.active == nil }.map(\.key)
        checks.append(.init(name: "plugins", status: empty.isEmpty ? .ok : .err, message: empty.isEmpty ? "loaded" : "empty slot(s): \(empty.sorted().joined(separator: ", "))"))
        if node.host.slot("store") != nil {
            checks.append(.init(name: "store", status: node.store == nil ? .err : .ok, message: node.store == nil ? "not open" : "open"))
        }
        if let peers = node.peers, node.configuration.role == .member, !node.configuration.manifest.bootstrap.isEmpty {
            let alive = peers.membership?.summary.alive ?? 0
            checks.append(.init(name: "joined", status: alive > 0 ? .ok : .err, message: alive > 0 ? "\(alive) other member(s) alive" : "not joined yet"))
        }
        return HealthReport(checks: checks)
    }

    /// Seconds the transports have been paused without a break, nil when they are not paused now (sampled by
    /// every look and by the traffic sampler).
    func backpressureHeld() -> Double? {
        let switchboard = node.host.arena.switchboard
        let pauses = switchboard.backpressureCounts.pauses
        return backpressure.withLock { state -> Double? in
            guard switchboard.isBackpressured else {
                state = nil
                return nil
            }
            // A new pause since the last look starts the clock again.
            if state == nil || state!.pauses != pauses { state = (ContinuousClock.now, pauses) }
            let held = ContinuousClock.now - state!.since
            return Double(held.components.seconds) + Double(held.components.attoseconds) / 1e18
        }
    }
}
