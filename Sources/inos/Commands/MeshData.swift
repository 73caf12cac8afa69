// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Content
import DataPath
import Dispatch
import Foundation
import Host
import Identity
import Logging
import Mesh
import Node
import Primitives
import Replication
import Session

/// A process that talks to the mesh without being a member (the CLI): a client node (its host, store and peer
/// layer with a reactor) and a mesh client on it.
struct MeshClientProcess {
    let node: MeshNode
    let store: ContentStore
    let client: MeshClient

    init(_ options: StoreOptions, meshKey: MeshKeyOptions, label: String) throws {
        let node = try options.clientNode(meshKey: meshKey, label: label)
        do {
            guard let store = node.store else { throw InosError(.unavailable, "no store plugin in slot \"store\"") }
            self.store = store
            client = try node.meshClient(label: label)
        } catch {
            node.close()
            throw error
        }
        self.node = node
    }

    func close() {
        client.closeSessions()
        node.close()
    }
}

extension Put {
    /// `inos put FILE --mesh ADDR`: store here, place by the allocator, push to the holders, wait for durable acks.
    func putIntoMesh(_ entry: String) async throws {
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.put")
        defer { process.close() }
        let bar = progress.reporter("put")
        defer { bar.finish(failed: true) }  // only when the put did not finish
        let report = try await process.client.put(file: file, entry: entry, budget: budget, pins: try store.pins(), progress: bar.update)
        bar.finish()
        let plan = report.plan
        var lines = ["resource \(report.id): \(report.size) bytes, \(report.pieceCount) piece(s)"]
        var strategy = "strategy: \(plan.strategy); \(plan.replicas) replica(s) (ideal \(plan.idealReplicas)"
        if report.wantedReplicas != plan.replicas { strategy += "; the budget of \(budget) credits/hour capped \(report.wantedReplicas)" }
        strategy += "), \(plan.copies) cop\(plan.copies == 1 ? "y" : "ies") per piece"
        if plan.dataShards > 0 { strategy += ", Reed-Solomon \(plan.dataShards)+\(plan.parityShards) per stripe" }
        lines.append(strategy + "; \(report.creditsPerHour) credits/hour")
        for holder in report.holders.sorted(by: { $0.address < $1.address }) {
            let failures = holder.failures.isEmpty ? "" : " — \(holder.failures.count) failure(s): \(holder.failures[0])"
            lines.append("  \(holder.address) (member \(String(holder.member, radix: 16))): \(holder.pieces) piece(s), \(holder.bytes) bytes\(failures)")
        }
        let minimum = report.copies.min() ?? 0
        lines.append(String(format: "acknowledged after %.2f s (every piece durable on ≥ %d other node(s)); all pushes done after %.2f s; fewest copies of a piece: %d",
                            report.acknowledgedAfter ?? 0, report.quorum.min() ?? 0, report.seconds, minimum))
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        print(report.id)
    }
}

extension Get {
    /// `inos get ID --mesh ADDR -o FILE`: routed, multi-source read with long-tail re-asks; verified.
    func getFromMesh(_ cid: ContentID, entry: String) async throws {
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.get")
        defer { process.close() }
        let bar = progress.reporter("get")
        defer { bar.finish(failed: true) }  // only when the get did not finish
        let report = try await process.client.get(cid, entry: entry, output: output, pins: try store.pins(), progress: bar.update)
        bar.finish()
        var lines: [String] = []
        for source in report.sources.sorted(by: { $0.address < $1.address }) {
            lines.append(String(format: "  source %@: rtt %.0f µs, load %.2f, holds %d piece(s), delivered %d", source.address, source.rttMicroseconds, source.load, source.pieces, source.served))
        }
        lines.append(String(format: "fetched %d piece(s), %d bytes from %d holder(s) in %.2f s; %d re-asked (long tail), %d of them answered first by the second holder; %d rebuilt from parity",
                            report.fetched, report.bytes, report.sources.count, report.seconds, report.hedged, report.hedgeWins, report.rebuilt))
        if !report.unreachable.isEmpty { lines.append("\(report.unreachable.count) piece(s) no holder had") }
        lines.append(output.map { "wrote \($0)" } ?? "stored and pinned \(cid) in the local store")
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
