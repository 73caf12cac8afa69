// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Identity
import Primitives
import Replication

/// `inos credits`: the mesh's credit economy (docs/credits.md).
struct Credits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant credits as one of the mesh's issuers; a node's balance is in `inos status`.",
        discussion: """
            Where the manifests name credit issuers ([credits] issuers = ["n…"]), a put is paid from its owner's \
            balance and a holder takes a new resource only from an owner whose balance pays one copy of it for an \
            hour. Credits enter as grants an issuer signs; every other node spends only what it was paid.
            """,
        subcommands: [Grant.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant credits to a node, signed with this data directory's identity (an issuer's).",
            discussion: """
                Sends one signed ledger entry to the member at --mesh, which keeps it and spreads it to every member \
                by anti-entropy. It mints credits only if this identity (inos id) is in the members' [credits] \
                issuers; from anyone else it is a payment from its own balance.
                """)

        @Argument(help: "The node ID (n…) to credit, as `inos id` prints it.") var node: String
        @Option(name: .long, help: "Credits to grant.") var amount: UInt64
        @Option(name: .long, help: "A member's address, e.g. tcp://127.0.0.1:7400.") var mesh: String
        @OptionGroup var store: StoreOptions
        @OptionGroup var meshKey: MeshKeyOptions

        func run() async throws {
            guard let payee = NodeID(node) else { throw ValidationError("\(node) is not a node ID (n and 52 base32 characters, as `inos id` prints it)") }
            guard amount > 0 else { throw ValidationError("--amount must be at least 1") }
            let process = try MeshClientProcess(store, meshKey: meshKey, label: "inos.credits")
            defer { process.close() }
            let grant = try await process.client.grant(amount, to: payee, entry: mesh)
            print("granted \(amount) credits to \(payee), signed by \(process.client.identity.id) (Lamport time \(grant.lamport)); kept by \(mesh), spreading to every member")
        }
    }
}
