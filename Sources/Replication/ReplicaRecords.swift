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
    /// When this node kept each entry (its wall clock, seconds since 1970), by entry key; entries kept before
    /// arrivals were recorded are absent. A holder's lease runs from the arrival of its owner's latest payment.
    func ledgerArrivals() throws(InosError) -> [[UInt8]: Double]
    /// Keeps `entries`, which arrived at `arrived` (one transaction; an entry already kept is left as it is).
    func keep(_ entries: [LedgerEntry], arrived: Double) throws(InosError)
    /// Entries that conflict with a kept one (same payer and Lamport time, other content): the proof that their
    /// payer equivocated, read back at start so the kept entry keeps bouncing (``Ledger/equivocated``).
    func equivocations() throws(InosError) -> [LedgerEntry]
    /// Keeps `entry` as such a proof (once per key).
    func keepEquivocation(_ entry: LedgerEntry) throws(InosError)
    /// Every kept owner ticket, with when this node first kept a ticket for its resource (nil: before arrivals
    /// were recorded).
    func ownerTickets() throws(InosError) -> [(ticket: OwnerTicket, arrived: Double?)]
    /// Keeps `ticket` as its resource's policy, replacing an older one; `arrived` is kept only for the resource's
    /// first ticket (a newer ticket does not restart what the holder was paid for).
    func keep(_ ticket: OwnerTicket, arrived: Double) throws(InosError)
    /// Forgets the ticket of `resource` (this node no longer holds any of it).
    func forgetTicket(of resource: ContentID) throws(InosError)
    /// The resources this node owns in the mesh and bills each period (``OwnedResource``).
    func ownedResources() throws(InosError) -> [OwnedResource]
    /// Keeps `owned` (replacing what was kept for its resource).
    func keep(_ owned: OwnedResource) throws(InosError)
    /// Stops billing `resource`.
    func forgetOwned(_ resource: ContentID) throws(InosError)
}

/// A resource this node put into the mesh as its owner and pays its holders for, period by period.
public struct OwnedResource: Sendable, Equatable {
    public var resource: ContentID
    public var size: UInt64
    /// The owner's budget (credits per hour): the most its copies may cost.
    public var budget: UInt64
    /// The budget the newest ticket sent to the holders names: below ``budget`` while the balance pays for fewer
    /// copies (degraded).
    public var ticketBudget: UInt64
    /// When its holders were last paid (wall clock, seconds since 1970).
    public var billedAt: Double

    public init(resource: ContentID, size: UInt64, budget: UInt64, ticketBudget: UInt64? = nil, billedAt: Double) {
        self.resource = resource
        self.size = size
        self.budget = budget
        self.ticketBudget = ticketBudget ?? budget
        self.billedAt = billedAt
    }
}
