// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Identity
import MeshCore
import Records
import Replication
import Testing

@Suite("The node's records (SQLite)")
struct NodeRecordsTests {
    static func folder() -> String { NSTemporaryDirectory() + "records-\(UUID().uuidString)" }

    static func entry(_ payer: NodeIdentity, to payee: NodeID, lamport: UInt64, amount: UInt64) -> LedgerEntry {
        var entry = LedgerEntry(
            payer: payer.id.bytes, payee: payee.bytes, lamport: lamport, amount: amount, resource: [UInt8](repeating: 3, count: 32),
            bytes: 1 << 20, payerKey: payer.publicKey)
        entry.signature = payer.sign(entry.signedBytes)
        return entry
    }

    @Test("ledger entries and owner tickets read back after the database is closed and opened again; a kept entry is not doubled, a newer ticket replaces the old, a forgotten one is gone")
    func roundTrip() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let payer = NodeIdentity.ephemeral(), payee = NodeIdentity.ephemeral()
        // Amounts past Int64.max are kept exactly (the encoding is what counts; the column is clamped).
        let entries = [Self.entry(payer, to: payee.id, lamport: 1, amount: 5), Self.entry(payer, to: payee.id, lamport: 2, amount: .max)]
        let a = ContentID(hashing: [1, 2, 3]), b = ContentID(hashing: [4, 5, 6])
        let old = OwnerTicket(resource: a, size: 100, budget: 50, owner: payer, now: Date(timeIntervalSince1970: 1_000))
        let new = OwnerTicket(resource: a, size: 100, budget: 80, owner: payer, now: Date(timeIntervalSince1970: 2_000))
        do {
            let records = try NodeRecords(dataDirectory: folder)
            try records.keep(entries, arrived: 10)
            try records.keep([entries[0]], arrived: 20)
            try records.keep(old, arrived: 30)
            try records.keep(new, arrived: 40)
            try records.keep(OwnerTicket(resource: b, size: 7, budget: 1, owner: payee), arrived: 50)
            try records.forgetTicket(of: b)
            try records.keep(OwnedResource(resource: a, size: 100, budget: 50, billedAt: 60))
            try records.keep(OwnedResource(resource: a, size: 100, budget: 50, ticketBudget: 20, billedAt: 70))
            try records.keep(OwnedResource(resource: b, size: 7, budget: 1, billedAt: 80))
            try records.forgetOwned(b)
        }
        let reopened = try NodeRecords(dataDirectory: folder)
        #expect(Set(try reopened.ledgerEntries()) == Set(entries))
        #expect(try reopened.ledgerEntries().count == 2)
        // An entry kept again keeps its first arrival.
        #expect(try reopened.ledgerArrivals() == [entries[0].key: 10, entries[1].key: 10])
        let tickets = try reopened.ownerTickets()
        #expect(tickets.count == 1 && tickets.first?.ticket.encoded == new.encoded, "\(tickets.map(\.ticket.budget))")
        // A newer ticket replaces the policy, not when the resource first arrived: a lease counts from that.
        #expect(tickets.first?.arrived == 30)
        #expect(try reopened.ownedResources() == [OwnedResource(resource: a, size: 100, budget: 50, ticketBudget: 20, billedAt: 70)])
    }

    @Test("an equivocation proof is kept once per key and read back after a reopen; marked in a ledger, the kept entry bounces")
    func equivocationProofs() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let payer = NodeIdentity.ephemeral(), a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let kept = Self.entry(payer, to: a.id, lamport: 7, amount: 10), other = Self.entry(payer, to: b.id, lamport: 7, amount: 10)
        do {
            let records = try NodeRecords(dataDirectory: folder)
            try records.keep([kept], arrived: 1)
            try records.keepEquivocation(other)
            try records.keepEquivocation(other)
        }
        let reopened = try NodeRecords(dataDirectory: folder)
        let proofs = try reopened.equivocations()
        #expect(proofs == [other])
        var ledger = Ledger()
        for entry in try reopened.ledgerEntries() { ledger.add(entry) }
        #expect(ledger.account(of: a.id.bytes).earned == 10)
        for proof in proofs { ledger.markEquivocated(proof.key) }
        #expect(ledger.account(of: a.id.bytes).earned == 0 && ledger.isBounced(kept.key))
    }

    @Test("a database that is not the node's records stops the node with the file's path, not a crash")
    func unreadable() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: folder + "/" + NodeRecords.fileName))
        do {
            _ = try NodeRecords(dataDirectory: folder)
            Issue.record("a file of junk opened as the records")
        } catch {
            #expect(error.message.contains(NodeRecords.fileName), "\(error.message)")
        }
    }
}
