// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Mesh
import MeshCore
import Primitives
import Replication
import Synchronization
import Wire

/// Runs a data-parallel job over a stored resource on the mesh: the resource's chunks run where they already
/// are (the holders HAVE says), on the least-loaded of them, as many nodes as the seed's size tiers ask for;
/// a node that fails or does not answer has its chunks run elsewhere; per-chunk results are reduced in chunk
/// order.
public struct JobSubmitter: Sendable {
    public let client: MeshClient

    public init(client: MeshClient) {
        self.client = client
        client.peers.register([ComputeService.jobDone])
    }

    public struct Part: Sendable {
        public var address: String
        public var member: MemberID
        public var chunks: [Int]
        public var failed: String?
    }

    public struct Report: Sendable {
        public var resource: ContentID
        public var result: [UInt8]
        public var requiredNodes: Int
        public var parts: [Part]
        /// Chunks that ran again elsewhere after their node failed.
        public var retried: Int
        public var seconds: Double
    }

    public func submit(_ id: ContentID, function: String, parameters: String, reduce: WorkPlanner.Reduce, entry: String,
                       timeout: Double = 600, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws(InosError) -> Report {
        let started = client.peers.clock.now()
        let census = try await client.census(id, entry: entry)
        guard !census.holders.isEmpty else { throw InosError(.unavailable, "no holder of \(id) answered") }
        // The manifest: which chunks there are, and the job's size.
        if !client.store.contains(id) {
            var connections: [UInt64] = []
            for holder in census.holders {
                if let (connection, _) = try? await client.session(holder.address, member: holder.member) { connections.append(connection) }
            }
            _ = await client.peers.fetchVerified(id, into: client.store, from: connections)
        }
        let manifest: ResourceManifest
        do {
            guard let found = try client.store.manifest(for: id) else {
                throw InosError(.invalidArgument, "\(id) is a single chunk (no manifest): run it where it is with inos job run")
            }
            manifest = found
        } catch let error as InosError { throw error } catch { throw InosError("the manifest of \(id)", wrapping: error) }
        let chunkCount = manifest.chunks.count
        let entryConnection = try await client.session(entry).connection
        let loads = Dictionary(((try? await client.peers.members(on: entryConnection)) ?? []).compactMap { info in
            info.status.map { (info.member, $0.load) }
        }) { a, _ in a }
        let workers = census.holders.map { holder in
            WorkPlanner.Worker(member: holder.member, load: loads[holder.member] ?? holder.load, holds: Array(holder.pieces.prefix(chunkCount)))
        }
        let required = WorkPlanner.requiredNodes(jobBytes: manifest.size)

        var results = [[UInt8]?](repeating: nil, count: chunkCount)
        var pending = Array(0..<chunkCount)
        var excluded: Set<MemberID> = []
        var parts: [Part] = []
        var retried = 0
        while !pending.isEmpty {
            let (assignment, unplaced) = WorkPlanner.assign(chunks: pending, workers: workers, required: required, excluding: excluded)
            guard unplaced.isEmpty else {
                throw InosError(.unavailable, "chunk(s) \(unplaced.prefix(8).map(String.init).joined(separator: ", ")) of \(id) have no live holder left (failed: \(parts.compactMap(\.failed).joined(separator: "; ")))")
            }
            // Every part at once, each suspended on its JOB_DONE.
            let round = await withTaskGroup(of: (Int, Result<[JobWire.Outcome], InosError>).self) { group in
                for (worker, chunks) in assignment {
                    let holder = census.holders[worker]
                    group.addTask { [client] in
                        do throws(InosError) {
                            let (connection, _) = try await client.session(holder.address, member: holder.member)
                            let payload = JobWire.encode(JobWire.Run(resource: id, function: function, parameters: parameters, chunks: chunks))
                            let answer: WireMessage
                            do throws(MeshError) { answer = try await client.peers.request(.jobRun, payload: payload, on: connection, timeout: timeout) } catch {
                                throw InosError(.failed, "JOB_RUN at \(holder.address)", cause: error)
                            }
                            guard answer.header.type == .jobDone, let outcomes = JobWire.decodeDone(answer.payload) else {
                                throw InosError(.malformed, "unexpected answer \(answer.header.type) to JOB_RUN")
                            }
                            return (worker, .success(outcomes))
                        } catch {
                            return (worker, .failure(error))
                        }
                    }
                }
                var all: [(Int, Result<[JobWire.Outcome], InosError>)] = []
                // Chunks computed so far (as each part answers; a retried chunk counts once it succeeds).
                var finished = Set(results.indices.filter { results[$0] != nil })
                for await part in group {
                    all.append(part)
                    if case .success(let outcomes) = part.1 {
                        for outcome in outcomes where (assignment[part.0] ?? []).contains(outcome.chunk) {
                            if case .success = outcome.result { finished.insert(outcome.chunk) }
                        }
                    }
                    progress(TransferProgress(
                        bytesDone: finished.reduce(0) { $0 + Int(manifest.chunks[$1].length) }, bytesTotal: Int(manifest.size),
                        piecesDone: finished.count, piecesTotal: chunkCount, holders: census.holders.count))
                }
                return all.sorted { $0.0 < $1.0 }
            }
            var next: [Int] = []
            for (worker, outcome) in round {
                let holder = census.holders[worker]
                let chunks = assignment[worker] ?? []
                switch outcome {
                case .failure(let error):
                    // The node failed or did not answer: its part runs elsewhere.
                    excluded.insert(holder.member)
                    parts.append(Part(address: holder.address, member: holder.member, chunks: chunks, failed: "\(error)"))
                    next += chunks
                case .success(let outcomes):
                    var done: [Int] = []
                    var trouble: String?
                    for outcome in outcomes where chunks.contains(outcome.chunk) {
                        switch outcome.result {
                        case .success(let bytes):
                            results[outcome.chunk] = bytes
                            done.append(outcome.chunk)
                        case .failure(let failure) where failure.retryable:
                            // The node could not run it (chunk missing there, runner crashed or timed out).
                            excluded.insert(holder.member)
                            next.append(outcome.chunk)
                            trouble = trouble ?? "chunk \(outcome.chunk): \(failure.message)"
                        case .failure(let failure):
                            throw InosError(.refused, "\(function) failed on chunk \(outcome.chunk) at \(holder.address): \(failure.message)")
                        }
                    }
                    next += chunks.filter { chunk in !done.contains(chunk) && !next.contains(chunk) && results[chunk] == nil }
                    parts.append(Part(address: holder.address, member: holder.member, chunks: done, failed: trouble))
                }
            }
            retried += next.count
            pending = next.sorted()
        }
        guard let reduced = WorkPlanner.reduce(results.map { $0 ?? [] }, reduce) else {
            throw InosError(.invalidArgument, "the per-chunk results of \(function) are not whitespace-separated numbers of one shape: use --reduce concat")
        }
        return Report(resource: id, result: reduced, requiredNodes: required, parts: parts, retried: retried,
                      seconds: Double(client.peers.clock.now() - started) / 1e9)
    }
}
