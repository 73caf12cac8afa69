// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Testing

@testable import Replication

/// Holders that lie: ledger entries that are not their payer's.
@Suite("Hostile holders")
struct HostileHolderTests {
    static func entry(payer: NodeIdentity, signer: NodeIdentity, payee: NodeIdentity, lamport: UInt64) -> LedgerEntry {
        var entry = LedgerEntry(
            payer: payer.id.bytes, payee: payee.id.bytes, lamport: lamport, amount: 10, resource: Array(repeating: 7, count: 32), bytes: 1 << 20,
            payerKey: signer.publicKey)
        entry.signature = signer.sign(entry.signedBytes)
        return entry
    }

    @Test("a ledger entry whose payer key does not hash to its payer is refused, however well it is signed")
    func ledgerPayerKey() {
        let payer = NodeIdentity.ephemeral(), mallory = NodeIdentity.ephemeral(), payee = NodeIdentity.ephemeral()
        #expect(ReplicaService.problem(with: Self.entry(payer: payer, signer: payer, payee: payee, lamport: 1)) == nil)
        // Mallory debits the payer: signed by Mallory, with Mallory's key, in the payer's name.
        let debited = Self.entry(payer: payer, signer: mallory, payee: mallory, lamport: 1)
        #expect(NodeIdentity.verify(debited.signature, of: debited.signedBytes, by: debited.payerKey))
        #expect(ReplicaService.problem(with: debited) == "its payer key does not hash to its payer")
        var changed = Self.entry(payer: payer, signer: payer, payee: payee, lamport: 2)
        changed.amount = 1_000
        #expect(ReplicaService.problem(with: changed) == "its signature does not verify")
    }
}
