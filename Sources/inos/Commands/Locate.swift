// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Content
import Foundation
import Primitives
import Replication

struct Locate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where a resource's pieces are in the mesh: its holders and the copies of every piece.",
        discussion: "Finds the resource's providers through the member at --mesh and asks each which pieces it holds (HAVE).")

    @Argument(help: "The resource ID (b…).") var id: String
    @Option(name: .long, help: "A member's address, e.g. tcp://127.0.0.1:7400.") var mesh: String
    @OptionGroup var store: StoreOptions
    @OptionGroup var meshKey: MeshKeyOptions

    func run() async throws {
        let cid: ContentID
        do { cid = try ContentID(id) } catch { throw ValidationError(error.description) }
        let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.locate")
        defer { process.close() }
        let census: MeshClient.Census
        census = try await process.client.census(cid, entry: mesh)
        for holder in census.holders {
            let map = holder.pieces.map { $0 ? "#" : "." }.joined()
            print("\(holder.address) member \(String(holder.member, radix: 16)): \(holder.pieces.filter { $0 }.count)/\(census.pieceCount) pieces [\(map)]")
        }
        for address in census.unanswered { print("\(address): provider record, but no answer (down?)") }
        let copies = census.copies
        print("copies per piece: \(copies.map(String.init).joined(separator: " ")) — fewest \(copies.min() ?? 0), most \(copies.max() ?? 0)")
    }
}
