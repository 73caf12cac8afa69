// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Identity
import Mesh
import MeshCore
import Primitives

/// Charging per period, the owner's side (docs/credits.md, "Charging per period"). Where credits are enforced,
/// a holder keeps a resource only while its owner pays for it: each payment renews the holder's lease for one
/// period (``ReplicaService/lease(for:)``), and a holder whose lease ended ``Options/paymentGrace`` ago releases
/// the resource (``ReplicaService/releaseUnpaid()``). The put pays the first period; the owner's node pays the next
/// ones here: each period it finds the resource's holders, challenges each to prove a piece it claims, and pays
/// those that prove it their share of the period by bytes held (``StorageBill``). When its balance does not pay for
/// every copy held it pays for as many as it can, and sends the holders a newer owner ticket whose budget is those
/// copies' price, so repair releases the surplus instead of restoring it: the resource degrades to the copies it
/// pays for. When the balance pays for none, nothing is paid, and the holders release it after the grace period.
extension ReplicaService {
    /// Starts billing `resource`, which this node just put into the mesh as its owner and paid the first period
    /// of (no-op where credits are not enforced, or this node is an issuer: nothing it owns is charged).
    public func own(_ resource: ContentID, size: UInt64, budget: UInt64) {
        guard creditsEnforced, available(to: identity.id) != nil else { return }
        let record = OwnedResource(resource: resource, size: size, budget: budget, billedAt: clock.wallSeconds())
        do throws(InosError) { try records.keep(record) } catch {
            logger.error("cannot keep \(resource) as owned (its holders will not be paid after the first period): \(error.message)")
            return
        }
        owned.withLock { $0[resource] = record }
    }

    /// The resources this node bills, with their last bills (nil before the first billing round paid them).
    public var ownedResources: [(resource: OwnedResource, bill: StorageBill?)] {
        let bills = lastBills.withLock { $0 }
        return owned.withLock { $0.values.sorted { $0.resource.description < $1.resource.description } }.map { ($0, bills[$0.resource]) }
    }

    /// The billing loop: a round every eighth of a period (at least every second), so each holder is paid again
    /// within 0.8–0.93 of a period after its last payment. Runs until the task is cancelled or ``stop()``.
    public func runBilling() async {
        let step = clock.nanoseconds(max(1, options.billingPeriod / 8))
        while runningFlag, !Task.isCancelled {
            do { try await clock.sleep(until: clock.now() &+ step) } catch { return }
            guard runningFlag, !Task.isCancelled else { return }
            await billingRound()
        }
    }

    /// Pays the next period of every owned resource whose last payment is 0.8 of a period old. Public for tests.
    public func billingRound() async {
        guard creditsEnforced, available(to: identity.id) != nil else { return }
        let now = clock.wallSeconds()
        let due = owned.withLock { $0.values.filter { now - $0.billedAt >= options.billingPeriod * 0.8 } }
        guard !due.isEmpty else { return }
        // A few at once, as repair does: a holder that stopped answering costs each resource it holds its timeouts,
        // and billed one after another, such resources would push every other holder's payment past its lease.
        await withTaskGroup(of: Void.self) { group in
            var next = due.makeIterator()
            for _ in 0..<Self.resourcesInFlight {
                guard let resource = next.next() else { break }
                group.addTask { await self.bill(resource) }
            }
            while await group.next() != nil {
                if let resource = next.next() { group.addTask { await self.bill(resource) } }
            }
        }
        setCounter {
            $0.billingRounds += 1
            $0.lastBilledAt = clock.wallSeconds()
        }
    }

    /// A holder that proved (or could not be asked to prove) what it holds of an owned resource.
    private struct ProvenHolder: Sendable {
        var member: MemberID
        var node: NodeID
        var connection: UInt64
        var bytes: UInt64
        /// Which pieces it holds (HAVE).
        var pieces: [Bool]
    }

    /// One period's bill of `owned`: census, challenges, payments, and a newer ticket when the copies paid for change.
    private func bill(_ owned: OwnedResource) async {
        let resource = owned.resource
        let manifest: ResourceManifest?
        do { manifest = try store.manifest(for: resource) } catch {
            logger.warning("billing: \(resource) is not in this node's store any more; its holders cannot be challenged, so they are not paid")
            return
        }
        let pieces = ContentStore.pieces(of: resource, manifest: manifest)
        let holders = await provenHolders(of: resource, pieces: pieces)
        let now = clock.wallSeconds()
        guard !holders.isEmpty else {
            // Nobody holds it: its leases ran out (or every holder failed its challenge) — stop billing once no
            // lease can still be running.
            if now - owned.billedAt > options.billingPeriod + options.paymentGrace {
                logger.warning("billing: no member proves it holds \(resource) any more; billing it stopped")
                self.owned.withLock { $0[resource] = nil }
                lastBills.withLock { $0[resource] = nil }
                do throws(InosError) { try records.forgetOwned(resource) } catch { logger.error("cannot forget owned \(resource): \(error.message)") }
            } else {
                logger.warning("billing: no member proves it holds \(resource) now; nothing paid this round")
            }
            return
        }
        let balance = available(to: identity.id)
        // One copy as stored: the data pieces (chunks; parity shards held count as fractions of a copy beyond).
        let copyBytes = (manifest?.chunks.map(\.storedLength) ?? pieces.map(\.storedLength)).reduce(UInt64(0)) { $0.saturatingAdd($1) }
        func compute(_ paying: [ProvenHolder]) -> StorageBill {
            StorageBill.compute(size: owned.size, held: paying.map(\.bytes), budget: owned.budget, balance: balance,
                                pricing: options.pricing, periodSeconds: options.billingPeriod, copyBytes: copyBytes > 0 ? copyBytes : nil)
        }
        var bill = compute(holders)
        var paying = holders
        if bill.degraded, bill.replicas > 0 {
            // Fewer copies paid than held: only enough holders to keep that many copies of every piece are paid; the
            // others' leases run out and they release their copies themselves (a holder's own decision, so no
            // census floor stands in the way), while the newer ticket keeps repair from restoring them.
            paying = Self.covering(holders, copies: bill.replicas, pieces: pieces.count)
            var shared = compute(paying)
            // The copies, their price and the ticket's budget stay the degraded bill's; the payments are the subset's.
            if shared.replicas > 0, shared.total <= balance ?? .max {
                shared.replicas = bill.replicas
                shared.creditsPerHour = bill.creditsPerHour
                shared.budget = bill.budget
                shared.degraded = true
                bill = shared
            } else {
                paying = holders
            }
        }
        lastBills.withLock { $0[resource] = bill }
        guard bill.replicas > 0 else {
            logger.warning("billing: a balance of \(balance ?? 0) credits pays for no copy of \(resource) this period; its \(holders.count) holder(s) release it \(options.paymentGrace) s after their paid period ends")
            return
        }
        // The ticket first, so repair caps the copies at what is paid before the unpaid surplus lapses.
        var record = owned
        if bill.budget != owned.ticketBudget {
            if await sendTicket(of: resource, budget: bill.budget, size: owned.size, to: paying) {
                record.ticketBudget = bill.budget
                logger.info("billing: \(resource) \(bill.degraded ? "degraded to" : "back at") \(bill.replicas) cop\(bill.replicas == 1 ? "y" : "ies") (ticket budget \(bill.budget) credits/hour; balance \(balance.map(String.init) ?? "unbounded"))")
            }
        }
        var paid: UInt64 = 0
        await withTaskGroup(of: Void.self) { group in
            for (holder, amount) in zip(paying, bill.amounts) where amount > 0 {
                var entry = LedgerEntry(
                    payer: identity.id.bytes, payee: holder.node.bytes, lamport: lamport.nextLedgerTime(), amount: amount,
                    resource: Array(resource.bytes.suffix(32)), bytes: holder.bytes, payerKey: identity.publicKey)
                entry.signature = identity.sign(entry.signedBytes)
                // Kept here first: this node's balance counts the payment before the next bill is computed.
                guard admit([entry])[0] == .stored else {
                    logger.warning("billing: this node's own payment to \(holder.node) for \(resource) was not kept")
                    continue
                }
                // Kept here, it counts as paid: a holder that missed the request gets it by anti-entropy.
                paid = paid.saturatingAdd(amount)
                group.addTask { [peers, logger] in
                    do throws(MeshError) {
                        let answer = try await peers.request(.ledger, payload: entry.encoded, on: holder.connection, timeout: 10)
                        if (try? PeerManager.storeStatus(answer)) != .stored {
                            logger.warning("billing: member \(String(holder.member, radix: 16)) did not keep its payment for \(resource)")
                        }
                    } catch {
                        logger.warning("billing: payment to member \(String(holder.member, radix: 16)) for \(resource) not confirmed (anti-entropy brings it): \(error.message)")
                    }
                }
            }
        }
        record.billedAt = now
        self.owned.withLock { $0[resource] = record }
        do throws(InosError) { try records.keep(record) } catch { logger.error("cannot keep the billing of \(resource): \(error.message)") }
        setCounter { $0.billedCredits = $0.billedCredits.saturatingAdd(paid) }
        logger.info("billing: paid \(paid) credits to \(bill.amounts.filter { $0 > 0 }.count) holder(s) of \(resource) for \(Int(options.billingPeriod)) s (\(bill.replicas) cop\(bill.replicas == 1 ? "y" : "ies"))")
    }

    /// The members that hold pieces of `resource` (provider records, asking the DHT when fewer than two are known)
    /// and prove one: each is asked what it holds (HAVE), then challenged on one held piece picked at random, against
    /// this node's own copy. Bytes held count every piece it claims; a member that fails its challenge is not paid.
    private func provenHolders(of resource: ContentID, pieces: [(id: ContentID, storedLength: UInt64)]) async -> [ProvenHolder] {
        guard let me = peers.memberID else { return [] }
        let members = peers.memberList()
        let alive = Set(members.map(\.member))
        let candidates = await providers(of: resource, me: me, members: members).subtracting([me]).filter { alive.contains($0) }
        let sessions = peers.peers
        return await withTaskGroup(of: ProvenHolder?.self) { group in
            for member in candidates.sorted() {
                guard let connection = peers.session(with: member), let node = sessions.first(where: { $0.connection == connection })?.node else { continue }
                group.addTask { [self] in
                    guard let holding = try? await peers.holding(resource, on: connection).holding, holding.pieces.count == pieces.count else { return nil }
                    let held = holding.pieces.indices.filter { holding.pieces[$0] }
                    guard !held.isEmpty else { return nil }
                    let bytes = held.reduce(UInt64(0)) { $0.saturatingAdd(pieces[$1].storedLength) }
                    // One held piece of which this node keeps a copy, at random: a holder cannot tell which it will be.
                    let checkable = held.filter { store.contains(pieces[$0].id) }
                    guard let pick = checkable.randomElement(), let own = try? store.storedObject(pieces[pick].id) else {
                        logger.warning("billing: member \(String(member, radix: 16)) claims pieces of \(resource) this node keeps none of; not paid")
                        return nil
                    }
                    let outcome = await peers.challenge(pieces[pick].id, own: own, on: connection, timeout: Self.storeTimeout(own.count))
                    guard outcome == .proved else {
                        logger.warning("billing: member \(String(member, radix: 16)) failed the challenge on piece \(pick) of \(resource) (\(outcome)); not paid")
                        return nil
                    }
                    return ProvenHolder(member: member, node: node, connection: connection, bytes: bytes, pieces: holding.pieces)
                }
            }
            var proven: [ProvenHolder] = []
            for await holder in group { if let holder { proven.append(holder) } }
            return proven.sorted { $0.member < $1.member }
        }
    }

    /// The fewest holders, most bytes first, that keep `copies` copies of every piece (or all there are of a piece
    /// held fewer times): whom a degraded bill pays.
    private static func covering(_ holders: [ProvenHolder], copies: Int, pieces: Int) -> [ProvenHolder] {
        var counted = [Int](repeating: 0, count: pieces)
        let available = (0..<pieces).map { i in holders.filter { $0.pieces.indices.contains(i) && $0.pieces[i] }.count }
        var chosen: [ProvenHolder] = []
        for holder in holders.sorted(by: { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.member < $1.member }) {
            let needed = holder.pieces.indices.contains { i in i < pieces && holder.pieces[i] && counted[i] < min(copies, available[i]) }
            guard needed else { continue }
            chosen.append(holder)
            for i in holder.pieces.indices where i < pieces && holder.pieces[i] { counted[i] += 1 }
        }
        return chosen.sorted { $0.member < $1.member }
    }

    /// Sends `holders` a newer owner ticket for `resource` naming `budget` (a STORE of the resource's first piece —
    /// its manifest — carrying the ticket; a holder keeps the newer ticket of the same owner). True when at least
    /// one holder took it (repair follows from the lowest-ID holder, which shares it further when it pushes copies).
    private func sendTicket(of resource: ContentID, budget: UInt64, size: UInt64, to holders: [ProvenHolder]) async -> Bool {
        guard let data = try? store.storedObject(resource) else { return false }
        let ticket = OwnerTicket(resource: resource, size: size, budget: budget, owner: identity, now: Date(timeIntervalSince1970: clock.wallSeconds()))
        return await withTaskGroup(of: Bool.self) { group in
            for holder in holders {
                group.addTask { [peers, logger] in
                    do throws(InosError) {
                        return try await peers.storePiece(resource, of: resource, ticket: ticket, data: data, on: holder.connection) == .stored
                    } catch {
                        logger.warning("billing: the new ticket of \(resource) did not reach member \(String(holder.member, radix: 16)): \(error.message)")
                        return false
                    }
                }
            }
            var any = false
            for await took in group where took { any = true }
            return any
        }
    }
}
