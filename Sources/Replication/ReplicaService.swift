// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Host
import Identity
import Logging
import Mesh
import MeshCore
import Primitives
import Synchronization
import Wire

/// The node's side of replication: holds what others ask it to (STORE, durably, verified against the ID),
/// says what it holds (HAVE), drops what it no longer must keep (RELEASE), keeps the ledger, tracks demand
/// for the pieces it serves — and repairs: every interval, for each resource it holds, the alive holder with
/// the lowest member ID compares where the pieces are with where the allocator says they should be, pushes
/// missing copies (rate-limited, so foreground reads keep their bandwidth) and releases surplus ones when
/// demand falls.
public final class ReplicaService: Sendable {
    public struct Options: Sendable {
        /// Seconds between repair rounds.
        public var repairInterval: Double = 10
        /// Bytes per second repair may push.
        public var repairBytesPerSecond: Double = 32 * 1_048_576
        /// Half-life of the demand estimate, seconds.
        public var demandHalfLife: Double = 600
        /// Free space a STORE may not take: the larger of these.
        public var reserveBytes: UInt64 = 64 << 20
        public var reserveFraction = 0.05
        /// The share of the store's capacity one owner's pieces may fill.
        public var ownerShare = 0.5
        /// Resources one owner may have here.
        public var resourcesPerOwner = 10_000
        /// Confirmed copies elsewhere a replicated piece must keep for a RELEASE not from its owner (erasure shards: 1).
        public var releaseFloor = MeshClient.minimumReplicas
        /// The nodes whose ledger entries grant credits (the manifest's `[credits] issuers`). Empty: no economy —
        /// every entry counts and no STORE is refused for its owner's balance. Set: a node takes a new resource
        /// only from an owner whose balance (in this node's ledger) pays one copy of it for an hour, and payments
        /// a payer cannot cover bounce (``Ledger``; docs/credits.md).
        public var creditIssuers: [NodeID] = []
        /// Where credits are enforced, the accounting period (seconds): an owner pays each holder of its resource
        /// once per period, ahead (the put pays the first; the owner's node the next ones, ``billingRound()``), and a
        /// payment renews the holder's lease for one period from its arrival. The manifest's `[credits]
        /// period_seconds`; every node of a mesh should use the same.
        public var billingPeriod: Double = 86_400
        /// Where credits are enforced: seconds a holder keeps a resource past the end of its last paid period (or,
        /// never paid, past one period after it got it) before it releases it — an owner's node that was down for a
        /// while does not lose its data at once. The manifest's `[credits] grace_seconds`.
        public var paymentGrace: Double = 3_600
        /// The seed's prices (credits per GB-hour and per replica).
        public var pricing = Pricing()
        public init() {}
    }

    public struct Summary: Sendable, Equatable {
        public var resources = 0
        /// Across the resources this node leads: the smallest copies/target ratio seen in the last round.
        public var underReplicated = 0
        /// Pieces below their target copies at the start of the last repair round, across the resources this node leads.
        public var piecesBelowTarget = 0
        /// Of those, the pieces still below target when the round finished (a push failed or found no session).
        public var piecesStillBelowTarget = 0
        public var repairRounds = 0
        /// Rounds cancelled because the mesh changed while they ran (a new one started on the new view).
        public var supersededRounds = 0
        /// When the last repair round started and finished (the node's clock, nanoseconds), nil before the first.
        public var lastRepairRoundStartedAt: UInt64?
        public var lastRepairRoundAt: UInt64?
        public var repairedPieces = 0
        public var repairedBytes: UInt64 = 0
        /// Pieces peers stored here (STORE accepted: verified against their IDs), and those refused because
        /// their bytes did not match their ID.
        public var storedPieces = 0
        public var mismatchedPieces = 0
        /// Pieces repair rebuilt from their Reed-Solomon stripe (no copy was left).
        public var rebuiltPieces = 0

        public init() {}
        public var releasedPieces = 0
        public var ledgerEntries = 0
        public var earned: UInt64 = 0
        public var spent: UInt64 = 0
        /// What this node may spend (earned − spent), nil when unbounded (no economy, or this node is an issuer).
        public var balance: UInt64?
        /// This node's own payments that bounced (its balance did not cover them).
        public var bouncedPayments = 0
        /// New resources refused because their owner's balance here did not pay for a copy.
        public var unpaidRefusals = 0
        /// Resources released because their owner's payments for them here stopped (or never came) and the grace
        /// period after the last paid one ended.
        public var unpaidReleases = 0
        /// Held resources whose owner pays by the period (credits enforced, the owner no issuer), and those of them
        /// past their last paid period (in the grace period: released at its end unless a payment comes).
        public var chargedResources = 0
        public var lapsingResources = 0
        /// As an owner: the resources this node bills each period, those its balance paid fewer copies of than are
        /// held (degraded: their tickets now name a budget for those copies), and those it could pay nothing for.
        public var ownedResources = 0
        public var degradedResources = 0
        public var unpaidOwnedResources = 0
        /// Credits this node paid its holders in billing rounds, the rounds, and when the last ended (wall clock).
        public var billedCredits: UInt64 = 0
        public var billingRounds = 0
        public var lastBilledAt: Double?
    }

    let peers: PeerManager
    let store: ContentStore
    let pins: PinSet
    let identity: NodeIdentity
    let allocator: AllocatorHandle?
    let logger: Logger
    let options: Options
    /// Where tickets were kept before the records database (read once, moved into it).
    let policyFolder: String
    let records: any ReplicaRecords
    /// The peer layer's clock: repair rounds, the repair rate limit, demand and ticket validity count on it.
    var clock: any MeshClock { peers.clock }
    let statusProvider: @Sendable () -> NodeStatus
    /// The node's clock: kept ledger entries are witnessed on it.
    let lamport: NodeLamport
    private let demandTracker: Mutex<DemandTracker>
    private let ledger: Mutex<Ledger>
    /// When a bound refusal was last logged, per payer ([] for the total bound).
    private let fullReported = Mutex<[[UInt8]: UInt64]>([:])
    private let owners = Mutex<[ContentID: ContentID]>([:])
    private let tickets = Mutex<[ContentID: OwnerTicket]>([:])
    /// When this node kept each ledger entry (wall clock, seconds), by key; and when it first kept a ticket for
    /// each resource it holds. Both durable in the records: leases (``lease(for:)``) run from them.
    private let arrivals = Mutex<[[UInt8]: Double]>([:])
    private let ticketArrivals = Mutex<[ContentID: Double]>([:])
    /// When this service started (wall clock): the arrival of what was kept before arrivals were recorded.
    let startedAt: Double
    /// The resources this node owns and bills (``billingRound()``), and what the last bill of each was.
    let owned = Mutex<[ContentID: OwnedResource]>([:])
    let lastBills = Mutex<[ContentID: StorageBill]>([:])
    private let usage = Mutex<[NodeID: OwnerUsage]>([:])
    private let counters = Mutex(Summary())
    private let running = Atomic<Bool>(true)
    private let tokens: Mutex<TokenBucket>

    public init(peers: PeerManager, store: ContentStore, pins: PinSet, identity: NodeIdentity, allocator: AllocatorHandle?,
                dataDirectory: String, records: any ReplicaRecords, logger: Logger, options: Options = Options(),
                lamport: NodeLamport = .startingAtWallClock(), status: @escaping @Sendable () -> NodeStatus) {
        self.peers = peers
        self.store = store
        self.pins = pins
        self.identity = identity
        self.allocator = allocator
        self.logger = logger
        self.options = options
        self.statusProvider = status
        self.lamport = lamport
        policyFolder = (dataDirectory as NSString).appendingPathComponent("replicas")
        self.records = records
        ledger = Mutex(Ledger(issuers: Set(options.creditIssuers.map(\.bytes))))
        demandTracker = Mutex(DemandTracker(halfLife: options.demandHalfLife))
        tokens = Mutex(TokenBucket(rate: max(1, options.repairBytesPerSecond), now: peers.clock.now()))
        startedAt = peers.clock.wallSeconds()
    }

    /// Reads the kept ledger entries and owner tickets back (moving tickets of an older layout into the records),
    /// then registers the handlers and the ledger tree. Throws when the records cannot be read: a node that
    /// forgot its ledger or its owners' policies must not serve as if it had none.
    public func start() throws(InosError) {
        try restoreRecords()
        for resource in pins.pinned { index(resource) }
        countUsage()
        peers.register(ReplicationFrames.responses)
        peers.onChunkServed { [self] key in served(key) }
        // STORE writes a piece's bytes: the bulk lane, as chunk reads.
        peers.serveInPlace(.store, "STORE", owner: "replication", lane: .bulk) { [self] payload, peer, _ in (.stored, handleStore(payload, from: peer)) }
        peers.serve(.have, "HAVE", owner: "replication", lane: .control) { [self] payload, _, _ in
            guard let resource = ReplicationWire.decodeHave(payload) else { return (.haveReply, ReplicationWire.haveReply(.init(load: 0, demand: 0, pieces: []))) }
            return (.haveReply, ReplicationWire.haveReply(holding(resource)))
        }
        // RELEASE asks the census's holders before it answers: in tasks of its own, bounded (a flood is told busy).
        peers.serveAsync(.release, "RELEASE", owner: "replication", limit: 32, perPeer: 4) { [self] payload, peer, _ in
            (.stored, await handleRelease(payload, from: peer))
        }
        // CHALLENGE: prove a HAVE claim by hashing the piece's stored bytes with the challenger's nonce.
        peers.serveChallenges { [store] piece in try? store.storedObject(piece) }
        // LEDGER: kept if valid; answered STORED (kept or already known) or malformed/unauthorized, so payers know.
        peers.serve(.ledger, "LEDGER", owner: "replication", lane: .control) { [self] payload, _, _ in
            guard let entry = LedgerEntry(decoding: payload[...]) else { return (.stored, ReplicationWire.stored(.malformed)) }
            if ledger.withLock({ $0.entries[entry.key] == entry }) { return (.stored, ReplicationWire.stored(.stored)) }
            return (.stored, ReplicationWire.stored(admit([entry])[0]))
        }
        peers.synchronize(tree: 1, MerkleTreeAccess(
            depth: 2,
            root: { [self] in ledger.withLock { $0.root() } },
            children: { [self] level, node in ledger.withLock { $0.children(level: level, node: node) } },
            leaf: { [self] node in ledger.withLock { $0.leaf(node) } },
            apply: { [self] bytes in
                var offered: [LedgerEntry] = []
                for start in stride(from: 0, to: bytes.count - bytes.count % LedgerEntry.encodedSize, by: LedgerEntry.encodedSize) {
                    if let entry = LedgerEntry(decoding: bytes[start..<(start + LedgerEntry.encodedSize)]) { offered.append(entry) }
                }
                return admit(offered).filter { $0 == .stored }.count
            }))
        // The repair loop is ``run()``: the node runs it as a task next to its reactor.
    }

    public func stop() { running.store(false, ordering: .relaxed) }
    var runningFlag: Bool { running.load(ordering: .relaxed) }
    func setCounter(_ body: (inout Summary) -> Void) { counters.withLock { body(&$0) } }
    func withTokens<R>(_ body: (inout TokenBucket) -> R) -> R { tokens.withLock { body(&$0) } }

    public var summary: Summary {
        var summary = counters.withLock { $0 }
        let me = identity.id.bytes
        (summary.ledgerEntries, summary.earned, summary.spent, summary.balance, summary.bouncedPayments) = ledger.withLock { l in
            let account = l.account(of: me)
            return (l.entries.count, account.earned, account.spent, l.available(to: me), account.bouncedEntries)
        }
        if creditsEnforced {
            let now = clock.wallSeconds()
            let leases = tickets.withLock { Array($0.keys) }.compactMap { lease(for: $0) }
            summary.chargedResources = leases.count
            summary.lapsingResources = leases.filter { now > $0.paidThrough }.count
        }
        let bills = lastBills.withLock { $0 }
        summary.ownedResources = owned.withLock { $0.count }
        summary.degradedResources = bills.values.filter { $0.degraded && $0.replicas > 0 }.count
        summary.unpaidOwnedResources = bills.values.filter { $0.replicas == 0 }.count
        return summary
    }

    /// A holder's lease on a resource whose owner pays by the period: when the owner's latest payment for it
    /// arrived here (nil: none yet), when this node got the resource, and until when it is paid for.
    public struct Lease: Sendable, Equatable {
        public var owner: NodeID
        public var paidAt: Double?
        public var heldSince: Double
        /// The end of the last paid period (never paid: one period after it was got); released `paymentGrace` after.
        public var paidThrough: Double
    }

    /// This node's lease on `resource`; nil when it is not charged: no economy, no ticket kept, or an owner that
    /// is an issuer (its balance is unbounded).
    public func lease(for resource: ContentID) -> Lease? {
        guard let ticket = ticket(for: resource), ticket.owner != identity.id, available(to: ticket.owner) != nil else { return nil }
        let keys = ledger.withLock { $0.paymentKeys(by: ticket.owner.bytes, to: identity.id.bytes, for: Array(resource.bytes.suffix(32))) }
        let latest = latestArrival(of: keys)
        let since = ticketArrivals.withLock { $0[resource] } ?? startedAt
        return Lease(owner: ticket.owner, paidAt: latest, heldSince: since, paidThrough: (latest ?? since) + options.billingPeriod)
    }

    /// When the latest of the entries under `keys` arrived here (nil: none); an entry kept before arrivals were
    /// recorded counts as arriving at this start.
    private func latestArrival(of keys: [[UInt8]]) -> Double? {
        arrivals.withLock { arrived in keys.map { arrived[$0] ?? startedAt }.max() }
    }

    /// The members whose lease on `resource` is current as this node's ledger shows it: its owner's latest
    /// payment to each arrived here within the last period. Nil where the resource is not charged by the period.
    func paidMembers(of resource: ContentID) -> Set<MemberID>? {
        guard let ticket = ticket(for: resource), available(to: ticket.owner) != nil else { return nil }
        let payees = ledger.withLock { $0.payees(of: ticket.owner.bytes, for: Array(resource.bytes.suffix(32))) }
        let since = clock.wallSeconds() - options.billingPeriod
        return Set(payees.compactMap { payee, keys in
            guard let node = NodeID(bytes: payee), let latest = latestArrival(of: keys), latest >= since else { return nil }
            return Membership.member(node)
        })
    }

    /// Releases what this node holds for owners that stopped paying for it (or never did): a resource whose lease
    /// (``lease(for:)``) ended ``Options/paymentGrace`` seconds ago. Run at the start of each repair round. Returns
    /// the resources released.
    @discardableResult
    public func releaseUnpaid() -> [ContentID] {
        guard creditsEnforced else { return [] }
        let now = clock.wallSeconds()
        var released: [ContentID] = []
        for resource in tickets.withLock({ Array($0.keys) }) {
            guard let lease = lease(for: resource), now > lease.paidThrough + options.paymentGrace, store.contains(resource),
                let pieces = try? store.pieces(of: resource)
            else { continue }
            do {
                let dropped = try release(resource, [Bool](repeating: true, count: pieces.count))
                let why = lease.paidAt == nil ? "has not paid for it since this node got it" : "stopped paying for it (its last paid period ended)"
                logger.warning("released \(resource) (\(dropped) piece(s)): owner \(lease.owner) \(why), and the grace of \(options.paymentGrace) s is over")
                setCounter { $0.unpaidReleases += 1 }
                released.append(resource)
            } catch {
                logger.error("cannot release unpaid \(resource): \(error.description)")
            }
        }
        return released
    }

    /// The mesh's prices, and its accounting period and grace (seconds), as this node applies them.
    public var pricing: Pricing { options.pricing }
    public var billingPeriod: Double { options.billingPeriod }
    public var paymentGrace: Double { options.paymentGrace }

    /// Whether balances gate puts here (credit issuers are named).
    public var creditsEnforced: Bool { ledger.withLock { $0.isEnforced } }

    /// What `node` may spend in this node's ledger; nil when unbounded (no economy, or an issuer).
    public func available(to node: NodeID) -> UInt64? { ledger.withLock { $0.available(to: node.bytes) } }

    /// `node`'s account in this node's ledger.
    public func account(of node: NodeID) -> Ledger.Account { ledger.withLock { $0.account(of: node.bytes) } }

    public var ledgerEntries: [LedgerEntry] { ledger.withLock { $0.ordered } }

    /// The demand this node sees now: resources with requests counted, and their summed request rate (per second).
    public var demand: (resources: Int, requestsPerSecond: Double) {
        let now = clock.seconds()
        return demandTracker.withLock { tracker in (tracker.keys.count, tracker.keys.reduce(0) { $0 + tracker.rate($1, now: now) }) }
    }

    /// Counts a request served for `key` (a piece or a manifest) toward its resource's demand.
    public func served(_ key: [UInt8]) {
        guard let id = try? ContentID(bytes: key) else { return }
        let resource = owners.withLock { $0[id] } ?? id
        demandTracker.withLock { $0.record(Array(resource.bytes.suffix(32)), now: clock.seconds()) }
    }

    /// Remembers which resource each of `resource`'s pieces belongs to (for demand).
    private func index(_ resource: ContentID) {
        guard let pieces = try? store.pieces(of: resource) else { return }
        owners.withLock { owners in for piece in pieces { owners[piece.id] = resource } }
    }

    // MARK: Handlers

    private func handleStore(_ payload: UnsafeRawBufferPointer, from peer: NodeID) -> [UInt8] {
        guard let (resource, offered, piece, data) = ReplicationWire.decodeStore(payload) else { return ReplicationWire.stored(.malformed) }
        // Authorization: the owner's signed ticket for this resource, and only the pieces it names.
        guard let offered else { return ReplicationWire.stored(.unauthorized, "no owner ticket: a STORE must carry the owner's signed ticket") }
        guard offered.resource == resource else { return ReplicationWire.stored(.unauthorized, "the owner ticket is for another resource") }
        if let problem = offered.problem(now: UInt64(clock.wallSeconds())) { return ReplicationWire.stored(.unauthorized, problem) }
        let kept = ticket(for: resource)
        if let kept, kept.ownerKey != offered.ownerKey {
            logger.warning("refused piece \(piece) from \(peer): \(resource) is held for owner \(kept.owner), the ticket names \(offered.owner)")
            return ReplicationWire.stored(.unauthorized, "this resource is held for another owner")
        }
        // The decoded length a compressed piece may claim: what the manifest lists for it (or the ticket's size).
        var length = offered.size
        if piece == resource, resource.codec == .manifest {
            // A manifest is kept only if it decodes (bounded: counts checked against its bytes) and is the size
            // the owner's ticket names: an undecodable one would be pinned junk.
            guard let manifest = try? ResourceManifest(decoding: Array(data), expected: resource) else {
                return ReplicationWire.stored(.malformed, "the manifest of \(resource) does not decode")
            }
            guard manifest.size == offered.size else {
                return ReplicationWire.stored(.unauthorized, "the manifest is of \(manifest.size) bytes, the owner ticket names \(offered.size)")
            }
        } else if piece != resource {
            // A chunk or parity shard: only one the resource's manifest lists (the manifest comes first).
            guard let manifest = try? store.manifest(for: resource),
                let listed = (manifest.chunks + (manifest.erasure?.parity ?? [])).first(where: { $0.id == piece })
            else {
                return ReplicationWire.stored(.unauthorized, "piece \(piece) is not one of \(resource)'s pieces here (its manifest must be stored first)")
            }
            length = listed.length
        }
        // Space: a reserve stays free for the node itself, and one owner may fill only its share.
        if let space = store.capacity(), space.total > 0 {
            let free = space.total - min(space.total, space.used)
            let reserve = max(options.reserveBytes, UInt64(Double(space.total) * options.reserveFraction))
            if free < UInt64(data.count) + reserve {
                return ReplicationWire.stored(.noSpace, "\(data.count) bytes do not fit: \(free) bytes free, \(reserve) kept in reserve")
            }
            let quota = UInt64(Double(space.total) * options.ownerShare)
            let used = usage.withLock { $0[offered.owner]?.bytes ?? 0 }
            if !store.contains(piece), used + UInt64(data.count) > quota {
                return ReplicationWire.stored(.noSpace, "owner \(offered.owner) has \(used) bytes here; its quota is \(quota)")
            }
        }
        // Credits: a new resource only from an owner whose balance here pays one copy of it for an hour.
        if kept == nil, let balance = available(to: offered.owner) {
            let price = options.pricing.creditsPerHour(size: offered.size, replicas: 1)
            if balance < price {
                setCounter { $0.unpaidRefusals += 1 }
                return ReplicationWire.stored(
                    .unauthorized,
                    "owner \(offered.owner) has \(balance) credits in this node's ledger; one copy of \(offered.size) bytes costs \(price) credits/hour (docs/credits.md)")
            }
        }
        if kept == nil, usage.withLock({ $0[offered.owner]?.resources ?? 0 }) >= options.resourcesPerOwner {
            return ReplicationWire.stored(.noSpace, "owner \(offered.owner) already has \(options.resourcesPerOwner) resources here")
        }
        do {
            let present = store.contains(piece)
            let (accepted, newlyPinned) = try pins.withLock(exclusive: false) { () throws(DataPathError) -> (Bool, Bool) in
                guard try store.importObject(piece, stored: data, length: length) else { return (false, false) }
                let fresh = !pins.isPinned(resource)
                try pins.pin(resource)
                return (true, fresh)
            }
            guard accepted else {
                setCounter { $0.mismatchedPieces += 1 }
                logger.warning("refused piece \(piece) from \(peer): its bytes do not match its ID")
                return ReplicationWire.stored(.mismatch)
            }
            // The stored policy changes only with a newer ticket from the same owner.
            // A piece is answered STORED only with its owner's policy durable beside it.
            if kept == nil || offered.issued > kept!.issued {
                do throws(InosError) { try saveTicket(offered) } catch { return ReplicationWire.stored(.failed, "cannot keep the owner ticket: \(error.message)") }
                if kept != nil, offered.budget != kept!.budget {
                    logger.info("owner \(offered.owner) changed the budget of \(resource) from \(kept!.budget) to \(offered.budget) credits/hour")
                }
            }
            usage.withLock { usage in
                if kept == nil { usage[offered.owner, default: .init()].resources += 1 }
                if !present { usage[offered.owner, default: .init()].bytes += UInt64(data.count) }
            }
            if piece == resource { index(resource) } else { owners.withLock { $0[piece] = resource } }
            if newlyPinned { peers.announceNow(Array(resource.bytes.suffix(32))) }
            setCounter { $0.storedPieces += 1 }
            return ReplicationWire.stored(.stored)
        } catch {
            logger.error("storing piece \(piece) for \(peer) failed: \(error.description)")
            return ReplicationWire.stored(.failed, error.description)
        }
    }

    /// What this node holds of `resource`, piece by piece (nothing when it lacks the manifest).
    func holding(_ resource: ContentID) -> ReplicationWire.Holding {
        let status = statusProvider()
        let rate = demandTracker.withLock { $0.rate(Array(resource.bytes.suffix(32)), now: clock.seconds()) }
        guard store.contains(resource), let pieces = try? store.pieces(of: resource) else {
            return .init(load: status.load, demand: rate, pieces: [])
        }
        return .init(load: status.load, demand: rate, pieces: pieces.map { store.contains($0.id) })
    }

    /// RELEASE: from the resource's owner, the flagged pieces go. From anyone else (the repair leader), only the
    /// flagged pieces that keep at least ``Options/releaseFloor`` confirmed copies elsewhere: this node asks the
    /// holders the sender's census names (HAVE) and counts only those that say they hold the piece. It runs in a
    /// task of its own (``PeerManager/serveAsync(_:_:owner:limit:perPeer:_:)``), never on a lane's worker.
    private func handleRelease(_ payload: [UInt8], from peer: NodeID) async -> [UInt8] {
        guard let (resource, flags, claimed) = ReplicationWire.decodeRelease(payload) else { return ReplicationWire.stored(.malformed) }
        guard let kept = ticket(for: resource) else { return ReplicationWire.stored(.unauthorized, "no owner ticket is kept here for \(resource)") }
        var allowed = flags
        if kept.owner != peer {
            let me = peers.memberID
            let alive = Set(peers.memberList().map(\.member))
            let others = Set(claimed).subtracting([me ?? 0]).filter { alive.contains($0) }
            let erasure = (try? store.manifest(for: resource))?.erasure != nil
            let floor = erasure ? 1 : options.releaseFloor
            let confirmed = await confirmations(of: resource, flags: flags, asking: others.sorted(), floor: floor)
            for i in flags.indices where flags[i] && confirmed[i] < floor { allowed[i] = false }
            let refused = zip(flags, allowed).filter { $0.0 && !$0.1 }.count
            if refused > 0 {
                logger.warning("release of \(refused) piece(s) of \(resource) asked by \(peer) refused: fewer than \(floor) other holders confirm them")
            }
            guard allowed.contains(true) else { return ReplicationWire.stored(.unauthorized, "the census does not show enough other copies") }
        }
        do {
            let dropped = try release(resource, allowed)
            logger.info("released \(dropped) piece(s) of \(resource) at the request of \(peer)\(kept.owner == peer ? " (its owner)" : "")")
            return ReplicationWire.stored(.stored)
        } catch { return ReplicationWire.stored(.failed, error.description) }
    }

    /// Asked at once of a RELEASE's census (at most this many HAVEs in flight).
    static let releaseConfirmationWidth = 16

    /// How many of `members` say (HAVE) they hold each flagged piece of `resource`. Asked concurrently, at most
    /// ``releaseConfirmationWidth`` at once, and no further once every flagged piece has `floor` confirmations:
    /// a census of five costs one round trip, not five, and a member that went away costs its timeout once.
    private func confirmations(of resource: ContentID, flags: [Bool], asking members: [MemberID], floor: Int) async -> [Int] {
        var confirmed = [Int](repeating: 0, count: flags.count)
        let limit = min(members.count, ReplicationWire.releaseHoldersLimit)
        guard limit > 0 else { return confirmed }
        await withTaskGroup(of: ReplicationWire.Holding?.self) { group in
            var next = 0
            // Starts the next member's HAVE; false when none is left (a member without a session is skipped).
            func askNext() -> Bool {
                while next < limit {
                    let member = members[next]
                    next += 1
                    guard let connection = peers.session(with: member) else { continue }
                    group.addTask { try? await self.peers.holding(resource, on: connection, timeout: 3).holding }
                    return true
                }
                return false
            }
            for _ in 0..<Self.releaseConfirmationWidth {
                guard askNext() else { break }
            }
            for await holding in group {
                if let holding, holding.pieces.count == flags.count {
                    for (i, held) in holding.pieces.enumerated() where held { confirmed[i] += 1 }
                }
                if flags.indices.allSatisfy({ !flags[$0] || confirmed[$0] >= floor }) {
                    group.cancelAll()
                    break
                }
                _ = askNext()
            }
        }
        return confirmed
    }

    /// Drops the flagged pieces of `resource` (never its manifest while a piece is kept); a node left with no
    /// piece unpins the resource and stops announcing it. Returns the pieces dropped.
    func release(_ resource: ContentID, _ flags: [Bool]) throws(DataPathError) -> Int {
        guard let pieces = try? store.pieces(of: resource), flags.count == pieces.count else {
            throw DataPathError(.invalidArgument, "release of \(resource): \(flags.count) flags for a resource this node does not know that way")
        }
        var dropped = 0
        try pins.withLock(exclusive: true) { () throws(DataPathError) in
            for (i, drop) in flags.enumerated() where drop && pieces[i].id != resource && store.contains(pieces[i].id) {
                store.remove(pieces[i].id)
                dropped += 1
            }
            // Holding nothing more of it: stop keeping (and announcing) the resource.
            if !pieces.contains(where: { $0.id != resource && store.contains($0.id) }) {
                // A single-chunk resource is its own one piece: dropping the resource drops that piece.
                if pieces.count == 1, pieces[0].id == resource, flags[0], store.contains(resource) { dropped += 1 }
                pins.unpin(resource)
                store.remove(resource)
            }
        }
        if let owner = ticket(for: resource)?.owner {
            let freed = flags.indices.filter { flags[$0] && pieces[$0].id != resource && !store.contains(pieces[$0].id) }.reduce(UInt64(0)) { $0 + pieces[$1].storedLength }
            let gone = !store.contains(resource)
            usage.withLock { usage in
                usage[owner, default: .init()].bytes -= min(usage[owner]?.bytes ?? 0, freed)
                if gone { usage[owner, default: .init()].resources -= min(usage[owner]?.resources ?? 0, 1) }
            }
            if gone { removeTicket(resource) }
        }
        counters.withLock { $0.releasedPieces += dropped }
        return dropped
    }

    /// Verifies and keeps a ledger entry: signed by its payer, whose ID is the hash of the key it carries.
    @discardableResult
    func accept(_ entry: LedgerEntry) -> Bool { admit([entry])[0] == .stored }

    /// Why `entry` is not the payer's own, or nil: the payer's ID must be the SHA-256 of the key the entry
    /// carries, and the signature that key's. (The payer is the party the entry debits, so only it can issue it.)
    static func problem(with entry: LedgerEntry) -> String? {
        guard NodeID(publicKey: entry.payerKey).bytes == entry.payer else { return "its payer key does not hash to its payer" }
        guard NodeIdentity.verify(entry.signature, of: entry.signedBytes, by: entry.payerKey) else { return "its signature does not verify" }
        return nil
    }

    /// ``accept(_:)`` for a batch, with the answer each entry gets: stored (added, or already kept), unauthorized
    /// (not the payer's, or conflicting with a kept one), no space (the ledger's bounds, ``Ledger/Limits``) or
    /// failed (the records could not keep it). New entries are written to the records in one transaction before
    /// they count: an entry answered STORED survives a crash. Every refusal is logged with its reason.
    func admit(_ entries: [LedgerEntry]) -> [ReplicationWire.Status] {
        var answers = [ReplicationWire.Status](repeating: .stored, count: entries.count)
        var fresh: [Int] = []
        var seen = Set<[UInt8]>()
        // A time more than a day past this node's wall clock is a lie (honest entries are stamped at their payer's
        // wall clock): kept, it would sort after every honest entry and make each later one re-settle the ledger.
        let ceiling = NodeLamport.wallMicroseconds() &+ LamportClock.wallAllowance
        for (i, entry) in entries.enumerated() {
            if entry.lamport > ceiling {
                if reportFull(entry.payer) { logger.warning("ledger entry from payer \(NodeID(publicKey: entry.payerKey)) refused: its Lamport time is more than a day past this node's clock") }
                answers[i] = .unauthorized
                continue
            }
            if let problem = Self.problem(with: entry) {
                logger.warning("ledger entry refused: \(problem)")
                answers[i] = .unauthorized
                continue
            }
            let (verdict, limits) = ledger.withLock { ($0.check(entry), $0.limits) }
            let payer = NodeID(publicKey: entry.payerKey)
            switch verdict {
            case .added: if seen.insert(entry.key).inserted { fresh.append(i) }
            case .known: break
            case .conflicting:
                if reportFull(entry.key) { logger.warning("payer \(payer) signed two different ledger entries with one Lamport time: the kept one bounces") }
                // The proof outlives a restart (anti-entropy would bring it back, but only from a node that keeps the other entry).
                do throws(InosError) { try records.keepEquivocation(entry) } catch { logger.error("cannot keep the proof that \(payer) equivocated: \(error.message)") }
                answers[i] = .unauthorized
            case .unfunded:
                if reportFull(payer.bytes) { logger.warning("ledger entries from payer \(payer) refused: it was never paid in this node's ledger (nothing to spend)") }
                answers[i] = .unauthorized
            case .payerFull:
                if reportFull(payer.bytes) { logger.warning("ledger entry from payer \(payer) refused: it has \(limits.perPayer) entries here (the per-payer bound)") }
                answers[i] = .noSpace
            case .full:
                if reportFull([]) { logger.warning("ledger entry from payer \(payer) refused: the ledger holds \(limits.total) entries (its bound)") }
                answers[i] = .noSpace
            }
        }
        guard !fresh.isEmpty else { return answers }
        let arrived = clock.wallSeconds()
        do throws(InosError) {
            try records.keep(fresh.map { entries[$0] }, arrived: arrived)
        } catch {
            logger.error("cannot keep \(fresh.count) ledger entries: \(error.message)")
            for i in fresh { answers[i] = .failed }
            return answers
        }
        var added = false
        for i in fresh {
            // Funding was decided by the check above: asked again here, each out-of-order add would re-settle the
            // whole ledger for the next one.
            switch ledger.withLock({ $0.add(entries[i], requireFunded: false) }) {
            case .added:
                lamport.witness(entries[i].lamport)  // only a kept entry moves this node's clock
                arrivals.withLock { $0[entries[i].key] = arrived }
                added = true
            case .known: break
            case .conflicting, .unfunded: answers[i] = .unauthorized  // changed between check and add
            case .payerFull, .full: answers[i] = .noSpace
            }
        }
        if added { peers.treeChanged() }
        return answers
    }

    /// Whether a bound refusal for `payer` ([] for the total) is to be logged: once per payer per 10 minutes, so a
    /// payer over its bound (or anti-entropy offering the same refused entries every round) does not flood the log.
    private func reportFull(_ payer: [UInt8]) -> Bool {
        let now = clock.now()
        return fullReported.withLock { reported in
            if reported.count > 4096 { reported = reported.filter { now - $0.value < 600_000_000_000 } }
            if reported.count > 4096 { reported = [:] }  // many payers over their bound at once: start again
            if let last = reported[payer], now - last < 600_000_000_000 { return false }
            reported[payer] = now
            return true
        }
    }

    // MARK: Owner tickets and policies

    /// Kept in the records (one transaction, durable when it returns): a crash leaves the old or the new ticket.
    private func saveTicket(_ ticket: OwnerTicket) throws(InosError) {
        let arrived = clock.wallSeconds()
        do throws(InosError) {
            try records.keep(ticket, arrived: arrived)
        } catch {
            logger.error("cannot keep the owner ticket of \(ticket.resource): \(error.message)")
            throw error
        }
        tickets.withLock { $0[ticket.resource] = ticket }
        ticketArrivals.withLock { if $0[ticket.resource] == nil { $0[ticket.resource] = arrived } }
    }

    private func removeTicket(_ resource: ContentID) {
        tickets.withLock { $0[resource] = nil }
        ticketArrivals.withLock { $0[resource] = nil }
        do throws(InosError) { try records.forgetTicket(of: resource) } catch {
            logger.error("cannot forget the owner ticket of \(resource): \(error.message)")
        }
    }

    /// The owner ticket kept for `resource` (its first owner's newest), if any.
    public func ticket(for resource: ContentID) -> OwnerTicket? { tickets.withLock { $0[resource] } }

    /// Reads the ledger entries and tickets back from the records; tickets an older node kept as files under
    /// `replicas/` (checked: decoded, signed by their owner) move into the records and their files go.
    private func restoreRecords() throws(InosError) {
        var restored: [ContentID: OwnerTicket] = [:], arrived: [ContentID: Double] = [:]
        for (ticket, when) in try records.ownerTickets() {
            restored[ticket.resource] = ticket
            arrived[ticket.resource] = when
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: policyFolder))?.filter { $0.hasSuffix(".ticket") } ?? []
        for file in files {
            let path = (policyFolder as NSString).appendingPathComponent(file)
            if let bytes = FileManager.default.contents(atPath: path), let (ticket, rest) = OwnerTicket.decode(Array(bytes)[...]), rest.isEmpty,
                file == ticket.resource.description + ".ticket", NodeIdentity.verify(ticket.signature, of: ticket.signedBytes, by: ticket.ownerKey)
            {
                // Kept only where the records hold none for it, or an older one of the same owner.
                let newer = restored[ticket.resource].map { $0.ownerKey == ticket.ownerKey && ticket.issued > $0.issued } ?? true
                if newer {
                    try records.keep(ticket, arrived: startedAt)
                    restored[ticket.resource] = ticket
                }
            } else {
                logger.warning("owner ticket file \(path) does not decode or verify: left out")
                continue
            }
            try? FileManager.default.removeItem(atPath: path)
        }
        if !files.isEmpty { logger.info("moved \(files.count) owner ticket file(s) from \(policyFolder) into the records") }
        tickets.withLock { $0 = restored }
        ticketArrivals.withLock { $0 = arrived }
        let kept = try records.ledgerArrivals()
        arrivals.withLock { $0 = kept }
        var ownedNow: [ContentID: OwnedResource] = [:]
        for resource in try records.ownedResources() { ownedNow[resource.resource] = resource }
        owned.withLock { $0 = ownedNow }
        let entries = try records.ledgerEntries()
        let proofs = try records.equivocations()
        var refused = 0
        ledger.withLock { ledger in
            for entry in entries where ledger.add(entry, requireFunded: false) != .added { refused += 1 }
            for proof in proofs { ledger.markEquivocated(proof.key) }
        }
        if !proofs.isEmpty { logger.info("\(proofs.count) equivocation proof(s) read back: those payers' entries under them bounce") }
        if let latest = entries.map(\.lamport).max() { lamport.witness(latest) }
        if refused > 0 { logger.warning("\(refused) kept ledger entries were over the ledger's bounds or conflicting: not counted") }
    }

    /// The owner's policy for `resource`, from its ticket.
    func policy(for resource: ContentID) -> ReplicationWire.Policy? { ticket(for: resource)?.policy }

    /// Bytes and resources each owner has here, from the kept tickets and the pieces held (at start).
    private func countUsage() {
        var counted: [NodeID: OwnerUsage] = [:]
        for resource in pins.pinned {
            guard let ticket = ticket(for: resource) else { continue }
            counted[ticket.owner, default: .init()].resources += 1
            let held = ((try? store.pieces(of: resource)) ?? []).filter { $0.id != resource && store.contains($0.id) }
            counted[ticket.owner, default: .init()].bytes += held.reduce(0) { $0 + $1.storedLength }
        }
        usage.withLock { $0 = counted }
    }
}

struct OwnerUsage: Sendable {
    var bytes: UInt64 = 0
    var resources = 0
}
