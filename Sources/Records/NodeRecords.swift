// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import GRDB
import MeshCore
import Primitives
import Replication

/// A node's durable records in one SQLite database, `<data>/records.sqlite`, through GRDB: the ledger entries it
/// accepted and the owner tickets of the resources it holds (a ticket is the owner's signed policy: size, budget,
/// validity). Replication reads them back at start (``ReplicaRecords``).
///
/// Durability: write-ahead log with `synchronous = FULL`, one transaction per write, so what a write returned for
/// survives `kill -9` and a power cut; a crash mid-write leaves the database as it was before it. The tables keep
/// each record's signed encoding (what the node verified) next to the columns an operator queries:
///
///     sqlite3 data/records.sqlite 'SELECT hex(payee), SUM(amount) FROM ledger_entry GROUP BY payee'
///
/// Amounts above 2^63 − 1 (a hostile payer can sign any) are clamped in the `amount` column; the encoding holds
/// the signed value, and balances are computed from it (``Ledger``), never from SQL sums.
public final class NodeRecords: ReplicaRecords {
    /// The file's name in the data directory.
    public static let fileName = "records.sqlite"

    private let database: DatabaseQueue
    public let path: String

    /// Opens (creating and migrating) the records in `dataDirectory`.
    public init(dataDirectory: String) throws(InosError) {
        path = (dataDirectory as NSString).appendingPathComponent(Self.fileName)
        var configuration = Configuration()
        configuration.journalMode = .wal
        // Another process holding the write lock (there should be none: one node per data directory) is waited
        // for, not failed on at once.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw InosError(.io, "cannot open the node's records at \(path): \(error)")
        }
    }

    /// The schema, one migration per version (GRDB records which ran).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: ledger entries and owner tickets") { db in
            try db.create(table: "ledger_entry") { t in
                t.primaryKey("key", .blob)  // payer ‖ Lamport time (big-endian): one entry per payer and time
                t.column("payer", .blob).notNull().indexed()
                t.column("payee", .blob).notNull().indexed()
                t.column("lamport", .integer).notNull()
                t.column("amount", .integer).notNull()
                t.column("resource", .blob).notNull()
                t.column("encoded", .blob).notNull()  // what the payer signed, and its signature
            }
            try db.create(table: "owner_ticket") { t in
                t.primaryKey("resource", .blob)
                t.column("owner", .blob).notNull().indexed()
                t.column("size", .integer).notNull()
                t.column("budget", .integer).notNull()
                t.column("issued", .integer).notNull()
                t.column("expiry", .integer).notNull()
                t.column("encoded", .blob).notNull()
            }
        }
        migrator.registerMigration("v2: equivocation proofs") { db in
            try db.create(table: "ledger_equivocation") { t in
                t.primaryKey("key", .blob)  // the key of the kept entry this one conflicts with
                t.column("payer", .blob).notNull()
                t.column("encoded", .blob).notNull()
            }
        }
        migrator.registerMigration("v3: arrivals and owned resources") { db in
            // When this node kept each entry and first ticket (its wall clock): leases run from them.
            try db.alter(table: "ledger_entry") { t in t.add(column: "arrived", .double) }
            try db.alter(table: "owner_ticket") { t in t.add(column: "arrived", .double) }
            try db.create(table: "owned_resource") { t in
                t.primaryKey("resource", .blob)
                t.column("size", .integer).notNull()
                t.column("budget", .integer).notNull()
                t.column("ticket_budget", .integer).notNull()
                t.column("billed_at", .double).notNull()
            }
        }
        return migrator
    }

    /// The rows `SELECT columns FROM table` (plus `filter`) reads; a failed read names the table and the file.
    private func rows(_ columns: String, of table: String, _ filter: String = "") throws(InosError) -> [Row] {
        do { return try database.read { db in try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table) \(filter)") } } catch {
            throw InosError(.io, "cannot read table \(table) from \(path): \(error)")
        }
    }

    /// Every row's signed encoding from `table`, decoded by `decode` (nil: the row is corrupt, and so the records).
    private func encodings<Record>(of table: String, as what: String, _ decode: ([UInt8]) -> Record?) throws(InosError) -> [Record] {
        let rows: [Data] = try rows("encoded", of: table).map { $0["encoded"] }
        var records: [Record] = []
        records.reserveCapacity(rows.count)
        for row in rows {
            guard let record = decode(Array(row)) else { throw InosError(.corrupt, "\(path): a row of \(table) (\(what)) does not decode (\(row.count) bytes)") }
            records.append(record)
        }
        return records
    }

    public func ledgerEntries() throws(InosError) -> [LedgerEntry] {
        try encodings(of: "ledger_entry", as: "ledger entry") { LedgerEntry(decoding: $0[...]) }
    }

    public func ledgerArrivals() throws(InosError) -> [[UInt8]: Double] {
        var arrivals: [[UInt8]: Double] = [:]
        for row in try rows("key, arrived", of: "ledger_entry", "WHERE arrived IS NOT NULL") {
            let key: Data = row["key"]
            arrivals[Array(key)] = row["arrived"]
        }
        return arrivals
    }

    public func keep(_ entries: [LedgerEntry], arrived: Double) throws(InosError) {
        guard !entries.isEmpty else { return }
        do {
            try database.write { db in
                let statement = try db.cachedStatement(
                    sql: "INSERT OR IGNORE INTO ledger_entry (key, payer, payee, lamport, amount, resource, encoded, arrived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                for entry in entries {
                    try statement.execute(arguments: [
                        Data(entry.key), Data(entry.payer), Data(entry.payee), Int64(clamping: entry.lamport), Int64(clamping: entry.amount),
                        Data(entry.resource), Data(entry.encoded), arrived,
                    ])
                }
            }
        } catch {
            throw InosError(.io, "cannot keep \(entries.count) ledger entries in \(path): \(error)")
        }
    }

    public func equivocations() throws(InosError) -> [LedgerEntry] {
        try encodings(of: "ledger_equivocation", as: "equivocation proof") { LedgerEntry(decoding: $0[...]) }
    }

    public func keepEquivocation(_ entry: LedgerEntry) throws(InosError) {
        do {
            try database.write { db in
                try db.execute(
                    sql: "INSERT OR IGNORE INTO ledger_equivocation (key, payer, encoded) VALUES (?, ?, ?)",
                    arguments: [Data(entry.key), Data(entry.payer), Data(entry.encoded)])
            }
        } catch {
            throw InosError(.io, "cannot keep an equivocation proof in \(path): \(error)")
        }
    }

    public func ownerTickets() throws(InosError) -> [(ticket: OwnerTicket, arrived: Double?)] {
        return try rows("encoded, arrived", of: "owner_ticket").map { row throws(InosError) in
            let encoded: Data = row["encoded"]
            guard let (ticket, rest) = OwnerTicket.decode(Array(encoded)[...]), rest.isEmpty else {
                throw InosError(.corrupt, "\(path): a row of owner_ticket (owner ticket) does not decode (\(encoded.count) bytes)")
            }
            return (ticket, row["arrived"])
        }
    }

    public func keep(_ ticket: OwnerTicket, arrived: Double) throws(InosError) {
        do {
            try database.write { db in
                // A newer ticket replaces the policy, not the arrival: leases count from the first.
                try db.execute(
                    sql: """
                        INSERT INTO owner_ticket (resource, owner, size, budget, issued, expiry, encoded, arrived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(resource) DO UPDATE SET owner = excluded.owner, size = excluded.size, budget = excluded.budget,
                            issued = excluded.issued, expiry = excluded.expiry, encoded = excluded.encoded,
                            arrived = COALESCE(owner_ticket.arrived, excluded.arrived)
                        """,
                    arguments: [
                        Data(ticket.resource.bytes), Data(ticket.owner.bytes), Int64(clamping: ticket.size), Int64(clamping: ticket.budget),
                        Int64(clamping: ticket.issued), Int64(clamping: ticket.expiry), Data(ticket.encoded), arrived,
                    ])
            }
        } catch {
            throw InosError(.io, "cannot keep the owner ticket of \(ticket.resource) in \(path): \(error)")
        }
    }

    public func forgetTicket(of resource: ContentID) throws(InosError) {
        do {
            try database.write { db in try db.execute(sql: "DELETE FROM owner_ticket WHERE resource = ?", arguments: [Data(resource.bytes)]) }
        } catch {
            throw InosError(.io, "cannot forget the owner ticket of \(resource) in \(path): \(error)")
        }
    }

    public func ownedResources() throws(InosError) -> [OwnedResource] {
        return try rows("resource, size, budget, ticket_budget, billed_at", of: "owned_resource").map { row throws(InosError) in
            let bytes: Data = row["resource"]
            guard let resource = try? ContentID(bytes: Array(bytes)) else {
                throw InosError(.corrupt, "\(path): a row of owned_resource names no resource (\(bytes.count) bytes)")
            }
            let size: Int64 = row["size"], budget: Int64 = row["budget"], ticketBudget: Int64 = row["ticket_budget"]
            return OwnedResource(resource: resource, size: UInt64(max(0, size)), budget: UInt64(max(0, budget)),
                                 ticketBudget: UInt64(max(0, ticketBudget)), billedAt: row["billed_at"])
        }
    }

    public func keep(_ owned: OwnedResource) throws(InosError) {
        do {
            try database.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO owned_resource (resource, size, budget, ticket_budget, billed_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [Data(owned.resource.bytes), Int64(clamping: owned.size), Int64(clamping: owned.budget),
                                Int64(clamping: owned.ticketBudget), owned.billedAt])
            }
        } catch {
            throw InosError(.io, "cannot keep owned resource \(owned.resource) in \(path): \(error)")
        }
    }

    public func forgetOwned(_ resource: ContentID) throws(InosError) {
        do {
            try database.write { db in try db.execute(sql: "DELETE FROM owned_resource WHERE resource = ?", arguments: [Data(resource.bytes)]) }
        } catch {
            throw InosError(.io, "cannot forget owned resource \(resource) in \(path): \(error)")
        }
    }
}
