// SPDX-License-Identifier: Apache-2.0
import APIModel
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
        if let client = try store.runningNode() {
            let bar = progress.reporter("put")
            defer { bar.finish(failed: true) }
            let result = try await streamedCall(client, "/v1/mesh/put", MeshPutRequest(path: absolutePath(file), entry: entry, budget: budget), bar: bar, as: MeshResult.self)
            bar.finish()
            FileHandle.standardError.write(Data((result.summary.joined(separator: "\n") + "\n").utf8))
            return print(result.id)
        }
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.put")
        defer { process.close() }
        let bar = progress.reporter("put")
        defer { bar.finish(failed: true) }  // only when the put did not finish
        let report = try await process.client.put(file: file, entry: entry, budget: budget, pins: try store.pins(), progress: bar.update)
        bar.finish()
        let lines = report.summaryLines(budget: budget)
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        print(report.id)
    }
}

extension Get {
    /// `inos get ID --mesh ADDR -o FILE`: routed, multi-source read with long-tail re-asks; verified.
    func getFromMesh(_ cid: ContentID, entry: String) async throws {
        if let client = try store.runningNode() {
            let bar = progress.reporter("get")
            defer { bar.finish(failed: true) }
            let result = try await streamedCall(
                client, "/v1/mesh/get", MeshGetRequest(id: cid.description, entry: entry, output: output.map(absolutePath)), bar: bar, as: MeshResult.self)
            bar.finish()
            return FileHandle.standardError.write(Data((result.summary.joined(separator: "\n") + "\n").utf8))
        }
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.get")
        defer { process.close() }
        let bar = progress.reporter("get")
        defer { bar.finish(failed: true) }  // only when the get did not finish
        let report = try await process.client.get(cid, entry: entry, output: output, pins: try store.pins(), progress: bar.update)
        bar.finish()
        let lines = report.summaryLines(cid, output: output)
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
