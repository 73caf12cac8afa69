// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Mesh
import Replication

/// The one-line summary a node logs every `--status-interval` seconds: membership, replicas and the ledger,
/// sessions with their round-trip times, the payload heap and the inbox.
func statusLine(host: HostRuntime, peers: PeerManager?, replicas: ReplicaService?) -> String {
    let heap = host.arena.heap.statistics
    let sessions = (peers?.peers ?? []).compactMap { peer in
        peer.node.map { "\($0.description.prefix(12))… rtt \(peer.rttMicroseconds.map { String(format: "%.0f µs", $0) } ?? "?")" }
    }
    let members = peers?.membership?.summary
    let statuses = peers?.gossip?.known.count ?? 0
    let records = peers?.providerStore.count ?? 0
    let memberText = members.map {
        "members \($0.alive) alive, \($0.suspect) suspect, \($0.dead) dead, status from \(statuses), \(records) provider record(s); "
    } ?? ""
    let replicaText = replicas.map { r -> String in
        let s = r.summary
        return "replicas: \(s.resources) resource(s) held, \(s.underReplicated) under target, \(s.repairedPieces) piece(s) repaired, \(s.releasedPieces) released; ledger \(s.ledgerEntries) entr\(s.ledgerEntries == 1 ? "y" : "ies"), earned \(s.earned) spent \(s.spent) credits\(s.balance.map { ", balance \($0)" } ?? ""); "
    } ?? ""
    return "status: \(memberText)\(replicaText)\(peers?.peers.count ?? 0) connection(s) [\(sessions.joined(separator: ", "))], heap \(heap.bytesInUse)/\(heap.capacity) bytes, inbox \(host.arena.inbox.usedBytes) bytes, backpressure \(host.arena.switchboard.isBackpressured)"
}
