// SPDX-License-Identifier: Apache-2.0
//
// The seed's economic model: storage is priced per GB-hour with diminishing returns per replica, an owner's
// budget caps the replicas it buys, and every node keeps a ledger of what it earned and spent.
import Primitives
import Wire

/// Storage prices: credits per hour for a resource of some size held by some number of replicas.
///
/// The seed gives both a formula (tiers of marginal weight: replicas 1–7 at 1.0, 8–50 at 0.5, 51–500 at 0.2,
/// 501–700 at 0.1) and an example table (1 GB × 5 replicas = 100, × 50 = 350, × 500 = 1,200 credits/hour).
/// The two disagree — the formula's weights give 570 and 2,370 — so INOS keeps the formula's tier boundaries
/// and base rate (20 credits per GB-hour per full-price replica) and sets the marginal weights so that the
/// table holds: 1 for replicas 1–7, 21/86 for 8–50, 17/180 for 51–500, 17/360 for 501 and up. Every extra
/// replica still costs something, and less than the one before its tier.
public struct Pricing: Sendable, Equatable {
    /// Credits per GB-hour for one full-price replica.
    public var baseRate: UInt64 = 20

    public init(baseRate: UInt64 = 20) { self.baseRate = baseRate }

    static let gb: Double = 1_073_741_824

    /// The replication factor: how many full-price replicas `replicas` cost.
    public static func replicationFactor(_ replicas: Int) -> Double {
        let r = Double(max(replicas, 0))
        let first = min(r, 7)
        let second = min(max(r - 7, 0), 43) * 21 / 86
        let third = min(max(r - 50, 0), 450) * 17 / 180
        let fourth = max(r - 500, 0) * 17 / 360
        return first + second + third + fourth
    }

    /// Credits per hour for `size` bytes held by `replicas` nodes (rounded to the nearest credit; a
    /// non-empty resource costs at least one).
    public func creditsPerHour(size: UInt64, replicas: Int) -> UInt64 {
        guard size > 0, replicas > 0 else { return 0 }
        let cost = (Double(size) / Self.gb * Double(baseRate) * Self.replicationFactor(replicas)).rounded()
        // A size or rate a peer named can make the cost exceed UInt64: it saturates (no budget pays that).
        guard cost < 0x1p64 else { return .max }
        return max(1, UInt64(cost))
    }

    /// The most replicas (up to `wanted`) a budget of `budget` credits per hour pays for.
    public func affordableReplicas(size: UInt64, wanted: Int, budget: UInt64) -> Int {
        var low = 0, high = max(wanted, 0)
        while low < high {
            let mid = high - (high - low) / 2  // ⌈(low + high) / 2⌉ without overflowing for wanted = Int.max
            if creditsPerHour(size: size, replicas: mid) <= budget { low = mid } else { high = mid - 1 }
        }
        return low
    }
}

/// A signed ledger entry: `payer` pays `payee` `amount` credits for holding `resource` (`bytes` of it)
/// during one accounting period. Issued and signed by the payer; ordered by the payer's Lamport time.
/// The encoding is what is signed (everything but the signature).
public struct LedgerEntry: Sendable, Hashable {
    public var payer: [UInt8]      // 32-byte node ID
    public var payee: [UInt8]      // 32-byte node ID
    public var lamport: UInt64
    public var amount: UInt64      // credits (milli-credits would be finer; periods are short enough)
    public var resource: [UInt8]   // 32-byte digest
    public var bytes: UInt64
    public var payerKey: [UInt8]   // the payer's Ed25519 public key (its ID is SHA-256 of it)
    public var signature: [UInt8]  // 64 bytes, over `signedBytes`

    public init(payer: [UInt8], payee: [UInt8], lamport: UInt64, amount: UInt64, resource: [UInt8], bytes: UInt64,
                payerKey: [UInt8], signature: [UInt8] = []) {
        self.payer = payer
        self.payee = payee
        self.lamport = lamport
        self.amount = amount
        self.resource = resource
        self.bytes = bytes
        self.payerKey = payerKey
        self.signature = signature
    }

    /// The entry's identity in the ledger: one entry per payer and Lamport time.
    public var key: [UInt8] {
        var key = ByteWriter(appendingTo: payer)
        key.bigEndian(lamport)
        return key.bytes
    }

    public var signedBytes: [UInt8] {
        var out = Array("inos-ledger-v1".utf8) + payer + payee
        for word in [lamport, amount, bytes] { withUnsafeBytes(of: word.littleEndian) { out += $0 } }
        return out + resource + payerKey
    }

    public static let encodedSize = 14 + 32 + 32 + 24 + 32 + 32 + 64

    public var encoded: [UInt8] { signedBytes + signature }

    /// Decodes an entry (its signature is not checked here). Nil if the size or tag is wrong or its Lamport time
    /// is above ``WireLimits/maximumLamport``; any amount is accepted (balances saturate).
    public init?(decoding bytes: ArraySlice<UInt8>) {
        var reader = ByteReader(bytes)
        guard bytes.count == Self.encodedSize, let tag = reader.bytes(14), tag.elementsEqual("inos-ledger-v1".utf8),
            let payer = reader.bytes(32), let payee = reader.bytes(32), let lamport = reader.lamport(),
            let amount = reader.read(UInt64.self), let size = reader.read(UInt64.self), let resource = reader.bytes(32),
            let payerKey = reader.bytes(32), let signature = reader.bytes(64), reader.atEnd
        else { return nil }
        self.payer = Array(payer)
        self.payee = Array(payee)
        self.lamport = lamport
        self.amount = amount
        self.bytes = size
        self.resource = Array(resource)
        self.payerKey = Array(payerKey)
        self.signature = Array(signature)
    }
}

/// A node's view of the ledger: entries by key, an account per node, and a Merkle tree over the entries so
/// two nodes reconcile by comparing roots and pulling only differing leaves (anti-entropy). Entries are
/// immutable: the same key with different content is a forgery or a bug and is refused.
///
/// **Accounts.** Where the mesh names credit *issuers* (``issuers``, from the manifest's `[credits]`), credits
/// enter only as entries an issuer signed (grants) and every other payer can spend only what it was paid: the
/// entries are applied in causal order (``ordered``: Lamport time, then payer) and one whose payer's balance at
/// that point does not cover it *bounces* — it stays in the ledger (so every node keeps the same entries and
/// anti-entropy converges) but moves no credits. Balances are therefore a function of the set of entries alone:
/// two nodes holding the same entries agree on every balance and on which payments bounced, whatever order the
/// entries reached them in. Where no issuer is named the mesh keeps no economy: every entry counts and nothing
/// bounces (``isEnforced`` false). docs/credits.md.
///
/// The ledger is bounded (``Limits``): entries per payer and in all. Entries are never dropped (they are what
/// balances are), so past a bound new entries are refused — ``Insert/payerFull`` or ``Insert/full`` — and the
/// caller logs why (docs/security.md, "Self-certified records and caps").
public struct Ledger: Sendable {
    /// Bounds on the entries kept.
    public struct Limits: Sendable, Equatable {
        /// Entries one payer may have here: a payer pays each holder once per accounting period, so 10,000
        /// is years of periods for a few holders — and all a hostile payer can make every node keep.
        public var perPayer = 10_000
        /// Entries in all: ≈ 0.7 KiB each with the Merkle mirror and the dictionary, so ≈ 700 MiB at most.
        public var total = 1_000_000
        public init(perPayer: Int = 10_000, total: Int = 1_000_000) {
            self.perPayer = max(1, perPayer)
            self.total = max(1, total)
        }
    }

    /// One node's account: what it was paid and what it paid (entries that bounced excluded), and its bounced
    /// payments. Sums saturate at `UInt64.max`: amounts are what payers signed, and a hostile payer can sign any.
    public struct Account: Sendable, Equatable {
        public var earned: UInt64 = 0
        public var spent: UInt64 = 0
        /// Payments this node signed that its balance did not cover when they came in causal order.
        public var bouncedEntries = 0
        public var bouncedCredits: UInt64 = 0
        public init() {}
        /// What the node may still spend: earned − spent (an issuer's is unbounded; ``Ledger/available(to:)``).
        public var balance: UInt64 { earned > spent ? earned - spent : 0 }
    }

    public private(set) var entries: [[UInt8]: LedgerEntry] = [:]
    public private(set) var tree = MerkleReplica(depth: 2, digest: sha256Digest64)
    /// Entries kept per payer (node ID).
    public private(set) var perPayer: [[UInt8]: Int] = [:]
    public let limits: Limits
    /// The node IDs whose entries mint credits (grants); empty: no economy, every entry counts.
    public let issuers: Set<[UInt8]>

    /// Accounts from the entries applied so far, in causal order; recomputed from every entry when one arrives
    /// that sorts before the last applied (``settle()``).
    private var accounts: [[UInt8]: Account] = [:]
    private var bounced: Set<[UInt8]> = []
    /// Keys under which this node saw two different entries signed by the same payer (equivocation: the payer
    /// signed two payments with one Lamport time, e.g. to pay two holders with the same credits). The entry kept
    /// there bounces, wherever it came from — every node that sees both does the same, so balances still agree.
    public private(set) var equivocated: Set<[UInt8]> = []
    /// The keys of the entries that moved credits (bounced ones excluded), in causal order: by payer ‖ resource,
    /// then payee — what a holder was paid for a resource, and whom an owner paid for it.
    private var paymentKeys: [[UInt8]: [[UInt8]: [[UInt8]]]] = [:]
    private var lastApplied: (lamport: UInt64, payer: [UInt8])?
    private var unsettled = false

    public init(limits: Limits = Limits(), issuers: Set<[UInt8]> = []) {
        self.limits = limits
        self.issuers = issuers
    }

    /// Records that the payer of the entry under `key` equivocated (a proof read back from the node's records):
    /// the entry kept there bounces.
    public mutating func markEquivocated(_ key: [UInt8]) {
        if equivocated.insert(key).inserted { unsettled = true }
    }

    /// Whether balances gate payments (an issuer is named).
    public var isEnforced: Bool { !issuers.isEmpty }

    public enum Insert: Equatable {
        case added, known
        /// Another entry is kept under its key: the payer equivocated; the kept one bounces from now on.
        case conflicting
        /// Refused where credits are enforced: its payer was never paid in this ledger (it has nothing to spend,
        /// and entries from such keys could only fill the ledger; offered again once it was paid, it is taken).
        case unfunded
        /// Refused: its payer already has ``Limits/perPayer`` entries here.
        case payerFull
        /// Refused: the ledger already holds ``Limits/total`` entries.
        case full
    }

    /// Whether `entry` could be added (the checks of ``add(_:requireFunded:)`` without adding it); a conflicting
    /// entry is remembered as the payer's equivocation.
    public mutating func check(_ entry: LedgerEntry, requireFunded: Bool = true) -> Insert {
        if let existing = entries[entry.key] {
            if existing == entry { return .known }
            if equivocated.insert(entry.key).inserted { unsettled = true }
            return .conflicting
        }
        if requireFunded, isEnforced, !issuers.contains(entry.payer), account(of: entry.payer).earned == 0 { return .unfunded }
        guard perPayer[entry.payer, default: 0] < limits.perPayer else { return .payerFull }
        guard entries.count < limits.total else { return .full }
        return .added
    }

    /// Adds a verified entry (the caller checks the signature), within the bounds of ``limits``. `requireFunded`
    /// false: also from a payer never paid here (entries this node kept before, read back at start).
    @discardableResult
    public mutating func add(_ entry: LedgerEntry, requireFunded: Bool = true) -> Insert {
        let verdict = check(entry, requireFunded: requireFunded)
        guard verdict == .added else { return verdict }
        entries[entry.key] = entry
        perPayer[entry.payer, default: 0] += 1
        tree.set(Self.treeKey(entry), entry.encoded)
        if !unsettled, lastApplied.map({ Self.precedes(($0.lamport, $0.payer), (entry.lamport, entry.payer)) }) ?? true {
            apply(entry)  // the common case: a new entry is the latest
        } else {
            unsettled = true
        }
        return .added
    }

    /// The tree's root, a node's children and a leaf's entries (encoded), for anti-entropy.
    public mutating func root() -> UInt64 { tree.root() }
    public mutating func children(level: Int, node: Int) -> [UInt64] { tree.children(level: level, node: node) }
    public func leaf(_ node: Int) -> [UInt8] { tree.items(inLeaf: node).flatMap(\.1) }

    /// Where an entry sits in the tree: the payer's first 24 bytes, then its Lamport time.
    public static func treeKey(_ entry: LedgerEntry) -> Key256 {
        Key256(bigEndian: entry.payer, last: entry.lamport)
    }

    /// Credits earned and spent by `node` (bounced entries excluded).
    public mutating func balance(of node: [UInt8]) -> (earned: UInt64, spent: UInt64) {
        let account = account(of: node)
        return (account.earned, account.spent)
    }

    /// `node`'s account.
    public mutating func account(of node: [UInt8]) -> Account {
        settle()
        return accounts[node] ?? Account()
    }

    /// Every account with an entry, by node ID.
    public mutating func allAccounts() -> [[UInt8]: Account] {
        settle()
        return accounts
    }

    /// What `node` may spend now: nil when unbounded (no economy, or `node` is an issuer).
    public mutating func available(to node: [UInt8]) -> UInt64? {
        guard isEnforced, !issuers.contains(node) else { return nil }
        return account(of: node).balance
    }

    /// The keys of the entries (not bounced) in which `payer` paid `payee` for `resource`, in causal order: a
    /// holder's lease runs from the arrival of the latest (``StorageBill``).
    public mutating func paymentKeys(by payer: [UInt8], to payee: [UInt8], for resource: [UInt8]) -> [[UInt8]] {
        payees(of: payer, for: resource)[payee] ?? []
    }

    /// Every payee `payer` paid for `resource` (bounced entries excluded), with the keys of those entries.
    public mutating func payees(of payer: [UInt8], for resource: [UInt8]) -> [[UInt8]: [[UInt8]]] {
        settle()
        return paymentKeys[payer + resource] ?? [:]
    }

    /// Whether the entry with `key` bounced (its payer could not cover it).
    public mutating func isBounced(_ key: [UInt8]) -> Bool {
        settle()
        return bounced.contains(key)
    }

    /// Entries in causal order: by the payer's Lamport time, then payer.
    public var ordered: [LedgerEntry] {
        entries.values.sorted { Self.precedes(($0.lamport, $0.payer), ($1.lamport, $1.payer)) }
    }

    static func precedes(_ a: (UInt64, [UInt8]), _ b: (UInt64, [UInt8])) -> Bool {
        a.0 != b.0 ? a.0 < b.0 : a.1.lexicographicallyPrecedes(b.1)
    }

    /// Recomputes every account from the entries in causal order, if an entry arrived out of it.
    private mutating func settle() {
        guard unsettled else { return }
        accounts = [:]
        bounced = []
        paymentKeys = [:]
        lastApplied = nil
        for entry in ordered { apply(entry) }
        unsettled = false
    }

    /// Applies `entry`, the latest in causal order: it moves credits if its payer may pay it, else bounces.
    private mutating func apply(_ entry: LedgerEntry) {
        lastApplied = (entry.lamport, entry.payer)
        let payer = accounts[entry.payer] ?? Account()
        if equivocated.contains(entry.key) || isEnforced && !issuers.contains(entry.payer) && payer.balance < entry.amount {
            accounts[entry.payer, default: Account()].bouncedEntries += 1
            accounts[entry.payer, default: Account()].bouncedCredits = payer.bouncedCredits.saturatingAdd(entry.amount)
            bounced.insert(entry.key)
            return
        }
        accounts[entry.payer, default: Account()].spent = payer.spent.saturatingAdd(entry.amount)
        let payee = accounts[entry.payee] ?? Account()
        accounts[entry.payee, default: Account()].earned = payee.earned.saturatingAdd(entry.amount)
        paymentKeys[entry.payer + entry.resource, default: [:]][entry.payee, default: []].append(entry.key)
    }
}

/// One accounting period's bill for a resource its owner keeps in the mesh: what the owner pays each holder that
/// proved it holds pieces (by the bytes it holds), and — when the owner's balance does not pay for every copy held —
/// how many copies it pays for instead, and the budget its new owner ticket names so repair keeps no more than
/// those (docs/credits.md, "Charging per period"). I/O-free: the owner's node computes it each period
/// (`ReplicaService.billingRound()`), and the tests replay it.
public struct StorageBill: Sendable, Equatable {
    /// Full copies the bill pays for (0: the balance pays none — no payment is made, and the holders release the
    /// resource once their last paid period and the grace after it are over).
    public var replicas: Int
    /// What those copies cost per hour at the seed's prices.
    public var creditsPerHour: UInt64
    /// What this period costs: `creditsPerHour` for the period's length (at least 1 when anything is paid).
    public var total: UInt64
    /// Per holder, in the order given: its share of `total` by bytes held (0: not paid this period).
    public var amounts: [UInt64]
    /// The budget (credits per hour) the resource's owner ticket should name: the owner's own when it pays for
    /// every copy held, else the price of `replicas` copies, so the allocator's cap keeps repair at that many.
    public var budget: UInt64
    /// Whether the balance paid for fewer copies than are held (or, within the owner's budget, wanted).
    public var degraded: Bool

    public init(replicas: Int, creditsPerHour: UInt64, total: UInt64, amounts: [UInt64], budget: UInt64, degraded: Bool) {
        self.replicas = replicas
        self.creditsPerHour = creditsPerHour
        self.total = total
        self.amounts = amounts
        self.budget = budget
        self.degraded = degraded
    }

    /// The bill for a resource of `size` bytes whose holders hold `held` bytes each, under the owner's `budget`
    /// (credits per hour, the ticket's cap) with `balance` credits to spend (nil: unbounded, an issuer's or a
    /// mesh without an economy), for a period of `periodSeconds`.
    /// `copyBytes` is what one whole copy takes as stored (compressed; default `size`): holdings count copies by it.
    public static func compute(size: UInt64, held: [UInt64], budget: UInt64, balance: UInt64?, pricing: Pricing = Pricing(),
                               periodSeconds: Double, copyBytes: UInt64? = nil) -> StorageBill {
        let totalHeld = held.reduce(UInt64(0)) { $0.saturatingAdd($1) }
        let copy = max(1, copyBytes ?? size)
        let hours = max(periodSeconds, 1) / 3600
        guard size > 0, totalHeld > 0 else {
            return StorageBill(replicas: 0, creditsPerHour: 0, total: 0, amounts: held.map { _ in 0 }, budget: budget, degraded: false)
        }
        // Copies held (a holder of some shards counts by its bytes), then as many as the owner's budget pays for.
        let copiesHeld = Int(min(UInt64(Int.max), (totalHeld / copy) + (totalHeld % copy == 0 ? 0 : 1)))
        let wanted = max(1, pricing.affordableReplicas(size: size, wanted: copiesHeld, budget: budget))
        // What `replicas` copies cost this period, shared by bytes held (rounded down; what rounding left goes a
        // credit at a time to the largest holders), and at least one credit to every holder: a payment of 0 renews
        // nothing, and a period too short to cost a credit is billed one per holder.
        func amounts(_ replicas: Int) -> [UInt64] {
            let cost = (Double(pricing.creditsPerHour(size: size, replicas: replicas)) * hours).rounded(.up)
            let total = cost < 0x1p63 ? max(1, UInt64(cost)) : 1 << 63
            var amounts = held.map { UInt64((Double(total) * Double($0) / Double(totalHeld)).rounded(.down)) }
            var left = total - min(total, amounts.reduce(0) { $0.saturatingAdd($1) })
            for i in held.indices.sorted(by: { held[$0] != held[$1] ? held[$0] > held[$1] : $0 < $1 }) where left > 0 && held[i] > 0 {
                amounts[i] += 1
                left -= 1
            }
            for i in held.indices where held[i] > 0 && amounts[i] == 0 { amounts[i] = 1 }
            return amounts
        }
        func total(_ replicas: Int) -> UInt64 { amounts(replicas).reduce(0) { $0.saturatingAdd($1) } }
        var replicas = wanted
        if let balance, total(wanted) > balance {
            // The most copies the balance pays for this period (the bill grows with replicas).
            var low = 0, high = wanted - 1
            while low < high {
                let mid = high - (high - low) / 2
                if total(mid) <= balance { low = mid } else { high = mid - 1 }
            }
            replicas = low > 0 && total(low) <= balance ? low : 0
        }
        guard replicas > 0 else {
            return StorageBill(replicas: 0, creditsPerHour: 0, total: 0, amounts: held.map { _ in 0 }, budget: budget, degraded: true)
        }
        let perHour = pricing.creditsPerHour(size: size, replicas: replicas)
        let paid = amounts(replicas)
        return StorageBill(replicas: replicas, creditsPerHour: perHour, total: paid.reduce(0) { $0.saturatingAdd($1) }, amounts: paid,
                           budget: replicas < wanted ? perHour : budget, degraded: replicas < wanted)
    }
}
