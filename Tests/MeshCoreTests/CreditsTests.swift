// SPDX-License-Identifier: Apache-2.0
import HostTestSupport
import MeshCore
import Testing

@Suite("Credits, ledger and demand")
struct CreditsTests {
    static let gb: UInt64 = 1 << 30

    @Test("the seed's price table: 1 GB × 5 = 100, × 50 = 350, × 500 = 1,200 credits/hour")
    func seedPrices() {
        let pricing = Pricing()
        #expect(pricing.creditsPerHour(size: Self.gb, replicas: 5) == 100)
        #expect(pricing.creditsPerHour(size: Self.gb, replicas: 50) == 350)
        #expect(pricing.creditsPerHour(size: Self.gb, replicas: 500) == 1200)
        // Diminishing returns: every replica costs something, and never more than the one before it.
        var previous = 0.0, marginal = Double.infinity
        for r in 1...700 {
            let factor = Pricing.replicationFactor(r)
            #expect(factor - previous > 0 && factor - previous <= marginal + 1e-12)
            marginal = factor - previous
            previous = factor
        }
        #expect(pricing.creditsPerHour(size: 2 * Self.gb, replicas: 5) == 200, "linear in size")
        #expect(pricing.creditsPerHour(size: 1, replicas: 5) == 1, "a non-empty resource costs at least a credit")
        #expect(pricing.creditsPerHour(size: 0, replicas: 5) == 0)
    }

    @Test("a budget caps the replicas it pays for")
    func budgets() {
        let pricing = Pricing()
        #expect(pricing.affordableReplicas(size: Self.gb, wanted: 700, budget: 350) == 50)
        #expect(pricing.affordableReplicas(size: Self.gb, wanted: 30, budget: 350) == 30)
        #expect(pricing.affordableReplicas(size: Self.gb, wanted: 700, budget: 1200) == 500)
        #expect(pricing.affordableReplicas(size: Self.gb, wanted: 10, budget: 19) == 0)
    }

    static func entry(payer: UInt8, payee: UInt8, lamport: UInt64, amount: UInt64) -> LedgerEntry {
        LedgerEntry(
            payer: Array(repeating: payer, count: 32), payee: Array(repeating: payee, count: 32), lamport: lamport, amount: amount,
            resource: Array(repeating: 7, count: 32), bytes: 1 << 20, payerKey: Array(repeating: payer ^ 0xFF, count: 32),
            signature: Array(repeating: 9, count: 64))
    }

    @Test("ledger entries round-trip, balances add up, a forged duplicate is refused")
    func ledger() throws {
        var ledger = Ledger()
        let a = Self.entry(payer: 1, payee: 2, lamport: 4, amount: 30)
        #expect(LedgerEntry(decoding: a.encoded[...]) == a)
        #expect(LedgerEntry(decoding: a.encoded.dropLast()) == nil)
        #expect(ledger.add(a) == .added)
        #expect(ledger.add(a) == .known)
        var forged = a
        forged.amount = 3000
        #expect(ledger.add(forged) == .conflicting)
        ledger.add(Self.entry(payer: 2, payee: 3, lamport: 2, amount: 10))
        // The payer signed two entries under one key: the kept one bounces (it proves the payer equivocated).
        #expect(ledger.balance(of: Array(repeating: 2, count: 32)) == (0, 10))
        #expect(ledger.equivocated == [a.key])
        #expect(ledger.ordered.map(\.lamport) == [2, 4])
    }

    @Test("with an issuer named, credits enter only as its grants, a payment its payer cannot cover bounces, and balances do not depend on arrival order")
    func enforcedBalances() {
        let issuer: UInt8 = 9, owner: UInt8 = 1, holder: UInt8 = 2, other: UInt8 = 3
        func id(_ b: UInt8) -> [UInt8] { Array(repeating: b, count: 32) }
        let entries = [
            Self.entry(payer: owner, payee: holder, lamport: 1, amount: 5),   // before any grant: bounces
            Self.entry(payer: issuer, payee: owner, lamport: 2, amount: 100),  // the grant
            Self.entry(payer: owner, payee: holder, lamport: 3, amount: 60),   // paid
            Self.entry(payer: owner, payee: other, lamport: 4, amount: 60),    // 40 left: bounces
            Self.entry(payer: holder, payee: other, lamport: 5, amount: 60),   // the holder spends what it earned
            Self.entry(payer: owner, payee: other, lamport: 6, amount: 40),    // exactly what is left
        ]
        func settled(_ order: [LedgerEntry]) -> Ledger {
            var ledger = Ledger(issuers: [id(issuer)])
            // (Entries read back at start skip the funding check, so the accounting alone is tested here.)
            for entry in order { #expect(ledger.add(entry, requireFunded: false) == .added) }
            return ledger
        }
        var inOrder = settled(entries)
        #expect(inOrder.isEnforced)
        #expect(inOrder.account(of: id(owner)).spent == 100)
        #expect(inOrder.account(of: id(owner)).bouncedEntries == 2)
        #expect(inOrder.account(of: id(owner)).bouncedCredits == 65)
        #expect(inOrder.available(to: id(owner)) == 0)
        #expect(inOrder.available(to: id(holder)) == 0)
        #expect(inOrder.available(to: id(other)) == 100)
        #expect(inOrder.available(to: id(issuer)) == nil, "an issuer's balance is unbounded")
        #expect(inOrder.isBounced(entries[0].key) && inOrder.isBounced(entries[3].key) && !inOrder.isBounced(entries[2].key))
        // Any arrival order (anti-entropy delivers leaves in tree order, a restart reads rows in any order): the same accounts.
        var generator = SeededRandom(seed: 7)
        for _ in 0..<20 {
            var shuffled = settled(entries.shuffled(using: &generator))
            #expect(shuffled.allAccounts() == inOrder.allAccounts())
        }
        // Without an issuer there is no economy: every entry counts.
        var open = Ledger()
        for entry in entries { open.add(entry) }
        #expect(!open.isEnforced && open.available(to: id(owner)) == nil)
        #expect(open.account(of: id(owner)).spent == 165 && open.account(of: id(owner)).bouncedEntries == 0)
    }

    @Test("with an issuer named, a key never paid cannot add entries; two entries signed with one Lamport time both bounce, in either order")
    func unfundedAndEquivocation() {
        func id(_ b: UInt8) -> [UInt8] { Array(repeating: b, count: 32) }
        var ledger = Ledger(issuers: [id(9)])
        let first = [ledger.add(Self.entry(payer: 1, payee: 2, lamport: 1, amount: 5)), ledger.add(Self.entry(payer: 9, payee: 1, lamport: 2, amount: 100))]
        #expect(first == [.unfunded, .added], "refused before the grant, taken after it")
        #expect(ledger.entries.count == 1)
        // Paid now: the payer may add entries. It signs two payments of all it has under one Lamport time.
        let toHolder = Self.entry(payer: 1, payee: 2, lamport: 3, amount: 100)
        let toOther = Self.entry(payer: 1, payee: 3, lamport: 3, amount: 100)
        var a = ledger, b = ledger
        let outcomes = [a.add(toHolder), a.add(toOther), b.add(toOther), b.add(toHolder)]
        #expect(outcomes == [.added, .conflicting, .added, .conflicting])
        for var side in [a, b] {
            let (payer, holder, other, left) = (side.account(of: id(1)), side.account(of: id(2)), side.account(of: id(3)), side.available(to: id(1)))
            #expect(payer.spent == 0 && left == 100, "the equivocated payment bounces")
            #expect(holder.earned == 0 && other.earned == 0)
        }
        let (left, right) = (a.allAccounts(), b.allAccounts())
        #expect(left == right)
    }

    @Test("the ledger keeps at most its per-payer and total bounds of entries; beyond, new entries are refused and nothing kept changes")
    func ledgerBounds() {
        var ledger = Ledger(limits: .init(perPayer: 3, total: 5))
        for lamport in 1...3 { #expect(ledger.add(Self.entry(payer: 1, payee: 2, lamport: UInt64(lamport), amount: 10)) == .added) }
        let fourth = Self.entry(payer: 1, payee: 2, lamport: 4, amount: 10)
        #expect(ledger.add(fourth) == .payerFull)
        #expect(ledger.add(Self.entry(payer: 1, payee: 2, lamport: 2, amount: 10)) == .known, "a kept entry is still known at the bound")
        #expect(ledger.entries[fourth.key] == nil && ledger.perPayer[Array(repeating: 1, count: 32)] == 3)
        #expect(ledger.add(Self.entry(payer: 3, payee: 2, lamport: 1, amount: 1)) == .added)
        #expect(ledger.add(Self.entry(payer: 4, payee: 2, lamport: 1, amount: 1)) == .added)
        #expect(ledger.add(Self.entry(payer: 5, payee: 2, lamport: 1, amount: 1)) == .full)
        #expect(ledger.entries.count == 5)
        #expect(ledger.balance(of: Array(repeating: 2, count: 32)).earned == 32)
        #expect(Ledger().limits == Ledger.Limits(perPayer: 10_000, total: 1_000_000))
    }

    @Test("two ledgers reconcile by Merkle anti-entropy, transferring only what differs")
    func reconcile() {
        var left = Ledger(), right = Ledger()
        for n in 0..<500 {
            let e = Self.entry(payer: UInt8(n % 7), payee: UInt8(n % 5), lamport: UInt64(n), amount: UInt64(n))
            left.add(e)
            if n % 50 != 0 { right.add(e) }
        }
        var l = left.tree, r = right.tree
        #expect(l.root() != r.root())
        let report = MerkleReplica.synchronize(&l, &r) { a, _ in a }
        #expect(l.root() == r.root())
        #expect(report.itemsTransferred == 10)
    }

    @Test("demand decays with its half-life and maps 1/hour → 0, 1000/s → 1")
    func demand() {
        var tracker = DemandTracker(halfLife: 60)
        let key: [UInt8] = [1, 2, 3]
        for second in 0..<600 { tracker.record(key, now: Double(second), count: 10) }
        #expect(abs(tracker.rate(key, now: 600) - 10) < 1, "a steady 10/s reads as about 10/s")
        #expect(abs(tracker.rate(key, now: 660) - tracker.rate(key, now: 600) / 2) < 0.01, "halves in a half-life")
        #expect(DemandTracker.score(rate: 1.0 / 3600) == 0)
        #expect(DemandTracker.score(rate: 1000) == 1)
        #expect(DemandTracker.score(rate: 10) > 0.6 && DemandTracker.score(rate: 10) < 0.8)
        tracker.prune(now: 60 * 60 * 24)
        #expect(tracker.keys.isEmpty)
    }
}

@Suite("Credits at their bounds")
struct CreditsBoundsTests {
    static let lamportLimit: UInt64 = 1 << 62

    @Test("ledger entries: Lamport 0, 1, 2^62 − 1, 2^62 decode; 2^62 + 1, max − 1 and max are refused")
    func lamport() {
        for value in [UInt64(0), 1, Self.lamportLimit - 1, Self.lamportLimit] {
            let entry = CreditsTests.entry(payer: 1, payee: 2, lamport: value, amount: 1)
            #expect(LedgerEntry(decoding: entry.encoded[...]) == entry)
        }
        for value in [Self.lamportLimit + 1, UInt64.max - 1, UInt64.max] {
            #expect(LedgerEntry(decoding: CreditsTests.entry(payer: 1, payee: 2, lamport: value, amount: 1).encoded[...]) == nil)
        }
    }

    @Test("ledger entries: amounts and sizes 0, 1, max − 1 and max decode; balances saturate at UInt64.max")
    func amounts() {
        var ledger = Ledger()
        for (n, value) in [UInt64(0), 1, .max - 1, .max].enumerated() {
            var entry = CreditsTests.entry(payer: 1, payee: 2, lamport: UInt64(n), amount: value)
            entry.bytes = value
            #expect(LedgerEntry(decoding: entry.encoded[...]) == entry)
            ledger.add(entry)
        }
        #expect(ledger.balance(of: Array(repeating: 2, count: 32)) == (UInt64.max, 0))
        #expect(ledger.balance(of: Array(repeating: 1, count: 32)) == (0, UInt64.max))
        var small = Ledger()
        small.add(CreditsTests.entry(payer: 1, payee: 2, lamport: 1, amount: .max - 1))
        small.add(CreditsTests.entry(payer: 1, payee: 2, lamport: 2, amount: 1))
        #expect(small.balance(of: Array(repeating: 2, count: 32)).earned == .max)
    }

    @Test("prices saturate for any size a peer names, and budgets of any size find their replicas without overflow")
    func pricing() {
        let pricing = Pricing()
        #expect(pricing.creditsPerHour(size: .max, replicas: 700) < .max)  // 2^34 GB × 700 replicas still has a price
        #expect(pricing.creditsPerHour(size: .max, replicas: .max) == .max)
        #expect(Pricing(baseRate: .max).creditsPerHour(size: 1 << 30, replicas: 1) == .max)
        #expect(pricing.creditsPerHour(size: .max - 1, replicas: 1) > 0)
        #expect(pricing.affordableReplicas(size: 1, wanted: .max, budget: .max) == .max)
        #expect(pricing.affordableReplicas(size: .max, wanted: .max, budget: .max) == .max)
        #expect(pricing.affordableReplicas(size: .max, wanted: .max - 1, budget: 0) == 0)
        #expect(pricing.affordableReplicas(size: 0, wanted: Int.min, budget: 0) == 0)
    }

    @Test("a period's bill pays every proven holder its share by bytes; a balance short of it pays the most copies it covers and names their price as the new budget; none covered pays nothing")
    func storageBill() {
        let gb: UInt64 = 1 << 30, hour = 3600.0
        // 1 GB held five times at the seed's prices: 100 credits/hour, 20 per holder.
        let full = StorageBill.compute(size: gb, held: [UInt64](repeating: gb, count: 5), budget: 1_000, balance: 10_000, periodSeconds: hour)
        #expect(full == StorageBill(replicas: 5, creditsPerHour: 100, total: 100, amounts: [20, 20, 20, 20, 20], budget: 1_000, degraded: false))
        #expect(StorageBill.compute(size: gb, held: [UInt64](repeating: gb, count: 5), budget: 1_000, balance: nil, periodSeconds: hour) == full)
        // A day's period costs 24 hours.
        #expect(StorageBill.compute(size: gb, held: [gb, gb, gb, gb, gb], budget: 1_000, balance: nil, periodSeconds: 86_400).total == 2_400)
        // 70 credits pay three copies (60): shared by all five holders until repair releases the surplus, and
        // the new budget is what three copies cost.
        let short = StorageBill.compute(size: gb, held: [UInt64](repeating: gb, count: 5), budget: 1_000, balance: 70, periodSeconds: hour)
        #expect(short.replicas == 3 && short.total == 60 && short.amounts == [12, 12, 12, 12, 12] && short.budget == 60 && short.degraded)
        // The owner's own budget capping the copies is not a degradation.
        let capped = StorageBill.compute(size: gb, held: [UInt64](repeating: gb, count: 5), budget: 60, balance: 10_000, periodSeconds: hour)
        #expect(capped.replicas == 3 && capped.budget == 60 && !capped.degraded)
        // Nothing covered: nothing paid.
        let none = StorageBill.compute(size: gb, held: [gb, gb], budget: 1_000, balance: 19, periodSeconds: hour)
        #expect(none.replicas == 0 && none.amounts == [0, 0] && none.total == 0 && none.degraded)
        // Uneven holdings share by bytes; the total is exact, every holder gets at least a credit.
        let uneven = StorageBill.compute(size: gb, held: [gb, gb / 2, gb / 2, 1], budget: 1_000, balance: nil, periodSeconds: hour)
        #expect(uneven.replicas == 3 && uneven.amounts.reduce(0, +) == uneven.total && uneven.amounts.allSatisfy { $0 >= 1 })
        #expect(uneven.amounts[0] > uneven.amounts[1] && uneven.amounts[1] == uneven.amounts[2])
        // A period too short to cost a credit is billed one per holder, and a balance short of that pays none.
        let tiny = StorageBill.compute(size: 1_000, held: [1_000, 1_000, 1_000], budget: 10, balance: nil, periodSeconds: 60)
        #expect(tiny.amounts == [1, 1, 1])
        #expect(StorageBill.compute(size: 1_000, held: [1_000, 1_000, 1_000], budget: 10, balance: 2, periodSeconds: 60).replicas == 0)
        // Hostile sizes do not trap.
        _ = StorageBill.compute(size: .max, held: [.max, .max], budget: .max, balance: .max, periodSeconds: .greatestFiniteMagnitude)
        _ = StorageBill.compute(size: 1, held: [.max, .max, .max], budget: 0, balance: 0, periodSeconds: -5)
        #expect(StorageBill.compute(size: 0, held: [], budget: 0, balance: 0, periodSeconds: hour).replicas == 0)
    }
}
