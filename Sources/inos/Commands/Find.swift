// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Content
import Dispatch
import Foundation
import Host
import Identity
import Logging
import Mesh
import Node
import Primitives

struct Find: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the nodes that hold a resource, from the mesh's DHT.",
        discussion: """
            A Kademlia lookup (α = 3) starting at the peer at --from, over secure sessions: it asks members ever \
            closer to the resource's ID for their closest members and for the provider records they keep — \
            nodes announce what they pin to the members closest to it. Prints one line per holder: its member \
            ID and the address it can be fetched from (inos fetch ID --from ADDRESS). With --caches, the edge \
            caches instead: nodes whose gateway read (some of) it lately, announced under the resource's cache \
            key for [cache] announce_seconds and withdrawn when their cache evicts it; reads use them, repair and \
            billing never count them.
            """)

    @Argument(help: "The resource ID (b…).") var id: String
    @Option(name: .long, help: "A node of the mesh, e.g. tcp://127.0.0.1:7400.") var from: String
    @Flag(name: .long, help: "List the edge caches that read it instead of its holders.") var caches = false
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions

    func run() throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        let node = try store.clientNode(meshKey: meshKey, label: "inos.find")
        defer { node.close() }
        guard let peers = node.peers else { throw InosError(.unavailable, "no transport plugin in slot \"transport\"") }
        do {
            let (connection, _) = try peers.connect(from)
            let kind: ProviderRecord.Kind = caches ? .cache : .holder
            let (holders, rounds, asked) = try peers.lookupProviders(kind.recordKey(Array(cid.bytes.suffix(32))), from: connection)
            FileHandle.standardError.write(Data("lookup: \(rounds) round(s), \(asked) member(s) asked\n".utf8))
            guard !holders.isEmpty else { throw InosError(.notFound, caches ? "no edge cache announces \(cid)" : "no provider records for \(cid)") }
            for holder in holders { print("\(String(holder.member, radix: 16)) \(holder.address)") }
        } catch let error as MeshError {
            throw error
        }
    }
}
