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
import Synchronization

struct Fetch: ParsableCommand {
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

    func run() throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        var expected: NodeID?
        if let expect {
            guard let node = NodeID(expect) else { throw ValidationError("--expect \(expect) is not a node ID (n…)") }
            expected = node
        }
        let client = try store.clientNode(meshKey: meshKey, label: "inos.fetch")
        defer { client.close() }
        guard let peers = client.peers, let data = client.store else { throw CommandFailure("no store plugin in slot \"store\"") }

        let (connection, node): (UInt64, NodeID)
        do { (connection, node) = try peers.connect(from, expecting: expected) } catch { throw CommandFailure(error.message) }
        FileHandle.standardError.write(Data("secure session with node \(node) at \(from)\n".utf8))

        let pins = try store.pins()
        let outcome: (fetched: Int, bytes: Int, missing: [ContentID], refused: [ContentID])
        do {
            outcome = try pins.withLock(exclusive: false) { () throws(DataPathError) in
                let result = try fetchAll(cid, data: data, peers: peers, connection: connection)
                try pins.pin(cid)
                return result
            }
        } catch {
            throw CommandFailure(error.description)
        }
        FileHandle.standardError.write(Data("fetched \(outcome.fetched) object(s), \(outcome.bytes) bytes; \(outcome.missing.count) missing at the peer, \(outcome.refused.count) refused (did not match their IDs)\n".utf8))
        if let output {
            do {
                let report = try data.get(cid, to: output, progress: ProgressBar("get").update)
                if !report.repaired.isEmpty {
                    FileHandle.standardError.write(Data("rebuilt \(report.repaired.count) chunk(s) from parity\n".utf8))
                }
                FileHandle.standardError.write(Data("wrote \(report.size) bytes to \(output)\n".utf8))
            } catch { throw CommandFailure(error.description) }
        }
        print(cid)
    }

    /// Fetches the manifest (or the single chunk) and then every chunk and parity shard it names.
    private func fetchAll(_ cid: ContentID, data: ContentStore, peers: PeerManager, connection: UInt64) throws(DataPathError)
        -> (fetched: Int, bytes: Int, missing: [ContentID], refused: [ContentID])
    {
        enum Outcome: Sendable { case stored(Int), refused(ContentID), missing }
        @Sendable func one(_ object: ContentID) -> Outcome {
            guard let stored = try? peers.fetchChunk(object.bytes, from: connection) else { return .missing }
            return (try? data.importObject(object, stored: stored)) == true ? .stored(stored.count) : .refused(object)
        }
        let firstBytes: Int
        switch one(cid) {
        case .missing: throw DataPathError(.notFound, "the peer does not have \(cid)", chunks: [cid])
        case .refused: throw DataPathError(.corrupt, "the peer's copy of \(cid) does not match its ID: refused", chunks: [cid])
        case .stored(let bytes): firstBytes = bytes
        }
        guard let manifest = try data.manifest(for: cid) else { return (1, firstBytes, [], []) }  // a single-chunk resource
        let entries = manifest.chunks + (manifest.erasure?.parity ?? [])
        let objects = entries.map(\.id)
        let total = entries.reduce(0) { $0 + Int($1.storedLength) }
        struct Tally: Sendable { var fetched = 1, bytes = 0, missing: [ContentID] = [], refused: [ContentID] = [], done = 0 }
        let tally = Mutex(Tally(bytes: firstBytes))
        let bar = ProgressBar("fetch")
        let gate = DispatchSemaphore(value: max(1, window))
        let group = DispatchGroup()
        for object in objects {
            gate.wait()
            group.enter()
            DispatchQueue.global().async {
                let result = one(object)
                let done = tally.withLock { tally -> Int in
                    switch result {
                    case .stored(let bytes):
                        tally.fetched += 1
                        tally.bytes += bytes
                    case .refused(let id): tally.refused.append(id)
                    case .missing: tally.missing.append(object)
                    }
                    return tally.bytes - firstBytes
                }
                bar.update(ContentStore.Progress(bytesDone: min(done, total), bytesTotal: total))
                gate.signal()
                group.leave()
            }
        }
        group.wait()
        let result = tally.withLock { $0 }
        return (result.fetched, result.bytes, result.missing, result.refused)
    }
}
