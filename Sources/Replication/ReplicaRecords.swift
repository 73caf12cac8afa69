// SPDX-License-Identifier: Apache-2.0
import Content
import MeshCore
import Primitives

/// Where a node keeps what replication must not forget across a restart or a `kill -9`: the ledger entries it
/// accepted and the owner ticket (the owner's signed policy) of each resource it holds. In a node this is the
/// Records module's SQLite database (`<data>/records.sqlite`); every write is one transaction, durable when it
/// returns, so a STORED answer is never given for an entry or ticket a crash could lose.
public protocol ReplicaRecords: Sendable {
    /// Every kept ledger entry (in no particular order).
    func ledgerEntries() throws(InosError) -> [LedgerEntry]
    /// Keeps `entries` (one transaction; an entry already kept is left as it is).
    func keep(_ entries: [LedgerEntry]) throws(InosError)
    /// Entries that conflict with a kept one (same payer and Lamport time, other content): the proof that their
    /// payer equivocated, read back at start so the kept entry keeps bouncing (``Ledger/equivocated``).
    func equivocations() throws(InosError) -> [LedgerEntry]
    /// Keeps `entry` as such a proof (once per key).
    func keepEquivocation(_ entry: LedgerEntry) throws(InosError)
    /// Every kept owner ticket.
    func ownerTickets() throws(InosError) -> [OwnerTicket]
    /// Keeps `ticket` as its resource's policy, replacing an older one.
    func keep(_ ticket: OwnerTicket) throws(InosError)
    /// Forgets the ticket of `resource` (this node no longer holds any of it).
    func forgetTicket(of resource: ContentID) throws(InosError)
}
