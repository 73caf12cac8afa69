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
import Synchronization

struct Fetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a resource from a peer over a secure session, verify it, store and pin it here.",
        discussion: """
            Asks the peer at --from for the resource's manifest, then for every chunk and parity shard, several \
            at a time. Each object is checked against the ID it was asked for before it is stored, so a peer \
            cannot plant anything; objects the peer lacks are rebuilt from parity when the file is written (-o).
            """)

    @Argument(help: "The resource ID (b…).") var id: String
    @Option(name: .long, help: "The peer's address, e.g. tcp://127.0.0.1:7400.") var from: String
    @Option(name: .long, help: "Refuse the peer unless it proves to be this node (n…).") var expect: String?
    @Option(name: .shortAndLong, help: "Also write the resource to this file.") var output: String?
    @Option(name: .long, help: "Requests in flight at once.") var window = 8
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions
    @OptionGroup var progress: ProgressOptions

    func run() async throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        var expected: NodeID?
        if let expect {
            guard let node = NodeID(expect) else { throw ValidationError("--expect \(expect) is not a node ID (n…)") }
            expected = node
        }
        let client = try store.clientNode(meshKey: meshKey, label: "inos.fetch")
        defer { client.close() }
        guard let peers = client.peers, let data = client.store else { throw InosError(.unavailable, "no store plugin in slot \"store\"") }

        let (connection, node): (UInt64, NodeID)
        (connection, node) = try await peers.connect(from, expecting: expected)
        FileHandle.standardError.write(Data("secure session with node \(node) at \(from)\n".utf8))

        let pins = try store.pins()
        let outcome: (fetched: Int, bytes: Int, missing: [ContentID], refused: [ContentID])
        do {
            outcome = try await pins.withLock(exclusive: false) { () async throws(DataPathError) in
                let result = try await fetchAll(cid, data: data, peers: peers, connection: connection)
                try pins.pin(cid)
                return result
            }
        } catch {
            throw error
        }
        FileHandle.standardError.write(Data("fetched \(outcome.fetched) object(s), \(outcome.bytes) bytes; \(outcome.missing.count) missing at the peer, \(outcome.refused.count) refused (did not match their IDs)\n".utf8))
        if let output {
            do {
                let bar = progress.reporter("write")
                defer { bar.finish(failed: true) }  // only when writing did not finish
                let report = try data.get(cid, to: output, progress: bar.update)
                bar.finish()
                if !report.repaired.isEmpty {
                    FileHandle.standardError.write(Data("rebuilt \(report.repaired.count) chunk(s) from parity\n".utf8))
                }
                FileHandle.standardError.write(Data("wrote \(report.size) bytes to \(output)\n".utf8))
            }
        }
        print(cid)
    }

    /// Fetches the manifest (or the single chunk) and then every chunk and parity shard it names, `window` at a
    /// time (a task group: each fetch suspends on its answer, no thread waits).
    private func fetchAll(_ cid: ContentID, data: ContentStore, peers: PeerManager, connection: UInt64) async throws(DataPathError)
        -> (fetched: Int, bytes: Int, missing: [ContentID], refused: [ContentID])
    {
        enum Outcome: Sendable { case stored(Int), refused(ContentID), missing(ContentID) }
        @Sendable func one(_ object: ContentID) async -> Outcome {
            // Verified and stored from the arena block the chunk arrived in: no copy on the way.
            let outcome = try? await peers.withFetchedChunk(object.bytes, from: connection) { stored -> Outcome in
                (try? data.importObject(object, stored: stored)) == true ? .stored(stored.count) : .refused(object)
            }
            return outcome ?? .missing(object)
        }
        let firstBytes: Int
        switch await one(cid) {
        case .missing: throw DataPathError(.notFound, "the peer does not have \(cid)", chunks: [cid])
        case .refused: throw DataPathError(.corrupt, "the peer's copy of \(cid) does not match its ID: refused", chunks: [cid])
        case .stored(let bytes): firstBytes = bytes
        }
        guard let manifest = try data.manifest(for: cid) else { return (1, firstBytes, [], []) }  // a single-chunk resource
        let entries = manifest.chunks + (manifest.erasure?.parity ?? [])
        let total = entries.reduce(0) { $0 + Int($1.storedLength) }
        var fetched = 1, bytes = firstBytes, missing: [ContentID] = [], refused: [ContentID] = []
        let bar = progress.reporter("fetch")
        defer { bar.finish() }
        await withTaskGroup(of: Outcome.self) { group in
            var next = entries.makeIterator()
            for _ in 0..<max(1, window) { if let entry = next.next() { group.addTask { await one(entry.id) } } }
            for await result in group {
                switch result {
                case .stored(let count):
                    fetched += 1
                    bytes += count
                case .refused(let id): refused.append(id)
                case .missing(let id): missing.append(id)
                }
                bar.update(TransferProgress(
                    bytesDone: min(bytes - firstBytes, total), bytesTotal: total, piecesDone: fetched - 1 + missing.count + refused.count,
                    piecesTotal: entries.count, holders: 1))
                if let entry = next.next() { group.addTask { await one(entry.id) } }
            }
        }
        return (fetched, bytes, missing, refused)
    }
}
