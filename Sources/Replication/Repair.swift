// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Host
import Mesh
import MeshCore
import Primitives

extension ReplicaService {
    /// The repair loop: a round every `repairInterval` seconds (jittered, so holders of the same resource do
    /// not all census at the same moment), and sooner when the mesh changes (``PeerManager/viewChanges``: a member
    /// joins, dies, comes back or publishes its first status): the next round then starts ``changeSettleSeconds``
    /// after the change (so SWIM has spread it), but no sooner than half an interval after the last round ended
    /// (so churn cannot keep the node in rounds). A round still running half an interval after it started when
    /// the mesh changes is superseded: cancelled (its requests fail at once; what it pushed stays pushed) for a
    /// new one on the new view — a round begun inside a partition would otherwise wait out requests to members
    /// across it while the healed mesh waits for repair. The round after a superseded one is not superseded, so
    /// constant change cannot keep every round from finishing. Runs until the task is cancelled or ``stop()``. A
    /// structured task of the node (``MeshNode`` runs it next to its reactor); its requests suspend on their answers.
    public func run() async {
        let clock = peers.clock, changes = peers.viewChanges
        let half = clock.nanoseconds(options.repairInterval / 2)
        var lastRoundEnded = clock.now()
        // The count of view changes the last round started with: a change during a round brings the next forward.
        var seen = changes.value
        // A round after a superseded one runs to its end: under constant change (suspicions flapping on a
        // lossy mesh) rounds must still finish, and report.
        var supersededLast = false
        while runningFlag, !Task.isCancelled {
            var deadline = clock.now() &+ clock.nanoseconds(options.repairInterval * Double.random(in: 0.8...1.2))
            while clock.now() < deadline {
                if changes.value > seen {
                    seen = changes.value
                    deadline = min(deadline, max(clock.now() &+ clock.nanoseconds(Self.changeSettleSeconds), lastRoundEnded &+ half))
                    continue
                }
                do {
                    guard try await Self.sleep(until: deadline, orChangeBeyond: seen, of: changes, clock: clock) else { break }
                } catch { return }
            }
            guard runningFlag, !Task.isCancelled else { return }
            seen = changes.value
            let started = clock.now(), startedWith = seen
            let mayBeSuperseded = !supersededLast
            let superseded = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await self.repairRound(); return false }
                if mayBeSuperseded {
                    group.addTask {
                        do {
                            try await changes.wait(beyond: startedWith)
                            try await clock.sleep(until: started &+ half)
                            return true
                        } catch { return false }
                    }
                }
                defer { group.cancelAll() }
                return await group.next() ?? false
            }
            supersededLast = superseded
            if superseded {
                setCounter { $0.supersededRounds += 1 }
                logger.info("repair: round superseded by a change of the mesh after \(String(format: "%.1f", Double(clock.now() &- started) / 1e9)) s")
            } else {
                lastRoundEnded = clock.now()
            }
        }
    }

    /// How long after a membership change the round it brings forward starts.
    static let changeSettleSeconds = 1.0
    /// How many resources one round censuses and repairs at once: each waits mostly on answers (a member that
    /// went away costs its request timeout), so a round takes about its slowest resources, not their sum.
    static let resourcesInFlight = 8

    /// A repair push's deadline: 10 s, plus the piece at 256 KiB/s (a slow link's pace; 14 s for 1 MiB), at most
    /// 60 s. A member that stopped answering costs a round that long, not the minute of a foreground STORE.
    static func storeTimeout(_ bytes: Int) -> Double { min(60, 10 + Double(bytes) / 262_144) }

    /// Sleeps until `deadline` or until `counter` passes `seen`, whichever is first; true when it was the counter.
    private static func sleep(until deadline: UInt64, orChangeBeyond seen: UInt64, of counter: ChangeCounter,
                              clock: any MeshClock) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await clock.sleep(until: deadline); return false }
            group.addTask { try await counter.wait(beyond: seen); return true }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }

    /// One census and repair of every resource this node holds and leads, ``resourcesInFlight`` at a time.
    /// Public for tests and `inos`.
    public func repairRound() async {
        guard let me = peers.memberID, let allocator else { return }
        releaseUnpaid()
        let members = peers.memberList()
        let alive = Set(members.map(\.member))
        // In a new order each round: a round superseded part way still leaves every resource its turn.
        let resources = pins.pinned.filter { store.contains($0) }.shuffled()
        setCounter { $0.resources = resources.count }
        let started = peers.clock.now()
        var under = 0, backlog = 0, remaining = 0
        await withTaskGroup(of: Census?.self) { group in
            var next = resources.makeIterator()
            func addNext() -> Bool {
                guard let resource = next.next() else { return false }
                group.addTask { await self.censusAndRepair(resource, me: me, members: members, alive: alive, allocator: allocator) }
                return true
            }
            for _ in 0..<Self.resourcesInFlight where !addNext() { break }
            while let result = await group.next() {
                if let result, result.below > 0 {
                    under += 1
                    backlog += result.below
                    remaining += result.remaining
                }
                _ = addNext()
            }
        }
        // Cancelled (superseded, or the node stops): not a finished census, so not reported as one.
        guard !Task.isCancelled else { return }
        let finished = peers.clock.now()
        if backlog > 0 {
            logger.info("repair round: \(under) resource(s) below target (\(backlog) piece(s)), \(remaining) piece(s) still below after \(String(format: "%.1f", Double(finished &- started) / 1e9)) s")
        }
        setCounter {
            $0.underReplicated = under
            $0.piecesBelowTarget = backlog
            $0.piecesStillBelowTarget = remaining
            $0.repairRounds += 1
            $0.lastRepairRoundStartedAt = started
            $0.lastRepairRoundAt = finished
        }
    }

    /// The holders of `resource` this node knows of (asking the DHT when it knows fewer than two); when this node
    /// leads it — the alive holder with the lowest member ID, so if it dies the next takes over — its repair.
    /// Nil when this node does not lead it.
    private func censusAndRepair(_ resource: ContentID, me: MemberID, members: [MemberInfo], alive: Set<MemberID>,
                                 allocator: AllocatorHandle) async -> Census? {
        let holders = await providers(of: resource, me: me, members: members).union([me]).filter { alive.contains($0) }
        guard holders.min() == me else { return nil }
        return await repair(resource, holders: holders.sorted(), members: members, allocator: allocator)
    }

    /// The members provider records name as holders of `resource`: this node's records, and the DHT's (asked of
    /// another member) when they name fewer than two.
    func providers(of resource: ContentID, me: MemberID, members: [MemberInfo]) async -> Set<MemberID> {
        let key = Array(resource.bytes.suffix(32))
        var records = peers.localProviders(key)
        if records.count < 2, let other = members.first(where: { $0.member != me }), let connection = peers.session(with: other.member),
            let found = try? await peers.findProviders(key, on: connection, recursive: true, timeout: 3)
        {
            records += found
        }
        return Set(records.map(\.member))
    }

    /// What a round found of one resource: pieces below their target copies at its start, and still below at its end
    /// (a push failed, or no member to push to could be reached).
    struct Census: Sendable {
        var below = 0
        var remaining = 0
    }

    /// Census and repair of one resource.
    private func repair(_ resource: ContentID, holders: [MemberID], members: [MemberInfo], allocator: AllocatorHandle) async -> Census? {
        guard let me = peers.memberID else { return nil }
        let manifest: ResourceManifest?  // nil: a single-chunk resource
        do { manifest = try store.manifest(for: resource) } catch { return nil }
        let pieces = ContentStore.pieces(of: resource, manifest: manifest)
        let chunkCount = manifest?.chunks.count ?? 1
        let hasManifest = manifest != nil
        // Census: who holds which piece (this node from its store; the others by HAVE), and the demand they see.
        var have = [Set<MemberID>](repeating: [], count: pieces.count)
        var withManifest: Set<MemberID> = [me]
        var demandRate = 0.0
        let local = holding(resource)
        demandRate += local.demand
        for (i, held) in local.pieces.enumerated() where held { have[i].insert(me) }
        func count(_ answers: [(MemberID, ReplicationWire.Holding)], demand: Bool) {
            for (member, holding) in answers where holding.pieces.count == pieces.count {
                withManifest.insert(member)
                if demand { demandRate += holding.demand }
                for (i, held) in holding.pieces.enumerated() where held { have[i].insert(member) }
            }
        }
        let known = Set(holders).subtracting([me])
        count(await holdings(of: resource, asking: known), demand: true)
        // Where the allocator wants them now (demand raises replicas; the budget caps them).
        // Repair acts for the owner: without the owner's ticket there is nothing it may push or release.
        guard let ticket = ticket(for: resource) else {
            logger.debug("repair: no owner ticket for \(resource); skipped")
            return nil
        }
        let policy = ticket.policy
        let nodes = members.map(\.placementNode)
        var request = PlacementRequest(resourceSize: policy.size, demandScore: DemandTracker.score(rate: demandRate), creditBudget: policy.budget)
        request.key = Array(resource.bytes.suffix(32))
        guard var plan = try? allocator.plan(request, nodes: nodes).capped(byBudget: policy.budget, size: policy.size, pricing: options.pricing) else { return nil }
        // The stripe geometry is the stored one, whatever the network looks like now.
        if let manifest, let erasure = manifest.erasure {
            plan.dataShards = erasure.dataShards
            plan.parityShards = erasure.parityShards
            if plan.strategy != .erasure && plan.strategy != .hierarchical { plan.strategy = .erasure; plan.copies = max(1, plan.copies / manifest.layout.width) }
        }
        guard let map = try? PlacementMap.build(resource: resource, pieces: pieces, chunkCount: chunkCount, plan: plan, request: request, nodes: nodes, allocator: allocator) else { return nil }
        // The members placement wants it on are asked too: this node's provider records may not name every holder
        // (records lag a restart, a partition), and a desired member that holds its pieces needs no push.
        let desiredMembers = Set(map.holders.joined().map { members[$0].member }).subtracting(known).subtracting([me])
        count(await holdings(of: resource, asking: desiredMembers), demand: false)
        var census = Census()
        for (i, piece) in pieces.enumerated() {
            let desired = map.holders[i].map { members[$0].member }
            let target = desired.count
            let current = have[i]
            if current.count < target {
                census.below += 1
                defer { if have[i].count < target { census.remaining += 1 } }
                // The leader itself may be a desired holder that lacks the piece: it fetches (or rebuilds) it.
                if desired.contains(me) && !current.contains(me), await localCopy(i, of: resource, pieces: pieces, have: have) != nil {
                    have[i].insert(me)
                    setCounter { $0.repairedPieces += 1; $0.repairedBytes += piece.storedLength }
                    logger.info("repair: piece \(i) of \(resource) → this node (\(have[i].count)/\(target) copies)")
                }
                for member in desired where !have[i].contains(member) && member != me {
                    guard have[i].count < target else { break }
                    guard let data = await localCopy(i, of: resource, pieces: pieces, have: have) else {
                        logger.warning("repair: no copy of piece \(i) of \(resource) reachable")
                        break
                    }
                    // Gone under suspicion since the round began: its push would wait out the timeout; next round.
                    guard peers.membership?.isAlive(member) ?? true else { continue }
                    guard let connection = peers.session(with: member) else { continue }  // dialing; next round
                    await throttle(data.count)
                    do throws(InosError) {
                        if hasManifest && !withManifest.contains(member), let manifest = try? store.storedObject(resource) {
                            _ = try await peers.storePiece(resource, of: resource, ticket: ticket, data: manifest, on: connection)
                            withManifest.insert(member)
                        }
                        _ = try await peers.storePiece(piece.id, of: resource, ticket: ticket, data: data, on: connection,
                                                       timeout: Self.storeTimeout(data.count))
                        have[i].insert(member)
                        setCounter { $0.repairedPieces += 1; $0.repairedBytes += UInt64(data.count) }
                        logger.info("repair: piece \(i) of \(resource) → member \(String(member, radix: 16)) (\(have[i].count)/\(target) copies)")
                    } catch {
                        logger.warning("repair: pushing piece \(i) of \(resource) to member \(String(member, radix: 16)) failed: \(error)")
                    }
                }
            } else if current.count > target + 1 {
                // Demand fell (or the budget shrank): release the least preferred surplus copies, keeping target.
                // A HAVE claim counts toward that only once its holder proved it (CHALLENGE): a member that says it
                // holds a piece it dropped cannot make the leader release the copies that are really there.
                guard let proven = await provenHolders(of: piece.id, index: i, claimed: current, resource: resource,
                    length: manifest.flatMap { i < $0.chunks.count ? $0.chunks[i].length : nil }), proven.count > target + 1 else {
                    continue
                }
                have[i] = proven
                // Where the owner pays by the period, the copies it no longer pays for go first (their leases end
                // anyway); then those placement does not want.
                let paid = paidMembers(of: resource)
                let surplus = proven.filter { paid != nil || !desired.contains($0) }.sorted { a, b in
                    let rank = { (m: MemberID) in (paid.map { $0.contains(m) ? 1 : 0 } ?? 0, desired.contains(m) ? 1 : 0) }
                    return rank(a) != rank(b) ? rank(a) < rank(b) : a < b
                }.prefix(proven.count - target)
                let keeping = proven.subtracting(surplus)
                var flags = [Bool](repeating: false, count: pieces.count)
                flags[i] = true
                // The surplus holders are asked at once; each census names only the copies kept, so no holder
                // counts on one that is being released beside it (each checks the kept copies itself first).
                let kept = ReplicationWire.release(resource, pieces: flags, holders: Array(keeping))
                let released = await withTaskGroup(of: MemberID?.self) { group in
                    for member in surplus where member != me {
                        guard let connection = peers.session(with: member) else { continue }
                        group.addTask {
                            guard let answer = try? await self.peers.request(.release, payload: kept, on: connection, timeout: 30),
                                answer.header.type == .stored, ReplicationWire.decodeStored(answer.payload)?.0 == .stored
                            else { return nil }
                            return member
                        }
                    }
                    var released: [MemberID] = []
                    for await member in group { if let member { released.append(member) } }
                    return released
                }
                have[i].subtract(released)
                if surplus.contains(me) {
                    // The leader's own copy is surplus: it drops it here (and stops leading if it holds nothing).
                    if let dropped = try? release(resource, flags), dropped > 0 {
                        have[i].remove(me)
                        logger.info("released piece \(i) of \(resource) here: demand fell")
                    }
                    if !store.contains(resource) { return census }  // no longer a holder: no longer the leader
                }
            }
        }
        if census.below > 0 {
            logger.debug("repair: \(resource): \(census.below) of \(pieces.count) piece(s) below target (\(plan.copies) copies; \(plan.usableNodes) of \(members.count) member(s) usable, \(nodes.filter(\.healthy).count) with status), \(census.remaining) still below")
        }
        return census
    }

    /// HAVE of `resource`, asked of every member in `asking` at once: one that went away costs its timeout once,
    /// not once per member. A member that does not answer is left out (and logged).
    private func holdings(of resource: ContentID, asking: Set<MemberID>) async -> [(MemberID, ReplicationWire.Holding)] {
        await withTaskGroup(of: (MemberID, ReplicationWire.Holding)?.self) { group in
            for member in asking {
                guard let connection = peers.session(with: member) else { continue }
                group.addTask {
                    do throws(InosError) {
                        return (member, try await self.peers.holding(resource, on: connection).0)
                    } catch {
                        self.logger.info("repair: member \(String(member, radix: 16)) not counted for \(resource): \(error)")
                        return nil
                    }
                }
            }
            var answers: [(MemberID, ReplicationWire.Holding)] = []
            for await answer in group { if let answer { answers.append(answer) } }
            return answers
        }
    }

    /// The members among `claimed` whose claim to hold piece `index` stands: this node if it reads the piece from
    /// its store, and each other member that answers a CHALLENGE with SHA-256(nonce ‖ the same stored bytes).
    /// A leader without a copy of the piece (it never held it, or released its own) fetches one from a claimant
    /// first and checks it against the piece's ID, without keeping it: that claimant is proven by the delivery, the
    /// others by challenges against those bytes. Nil when no claimant delivers a matching copy, or when the round
    /// was cancelled meanwhile.
    func provenHolders(of piece: ContentID, index: Int, claimed: Set<MemberID>, resource: ContentID, length: UInt64? = nil) async -> Set<MemberID>? {
        guard let me = peers.memberID else { return nil }
        var proven: Set<MemberID> = []
        var reference: [UInt8]?
        if claimed.contains(me), let own = try? store.storedObject(piece) {
            reference = own
            proven.insert(me)
        } else {
            for member in claimed.sorted() where member != me {
                guard let connection = peers.session(with: member), let bytes = try? await peers.fetchChunk(piece.bytes, from: connection),
                    store.matches(piece, stored: bytes, length: length)
                else { continue }
                reference = bytes
                proven.insert(member)
                break
            }
        }
        guard let reference else {
            logger.debug("repair: no copy of piece \(index) of \(resource) to check claims against; nothing is released")
            return nil
        }
        // All at once: one that went away costs its timeout once, not once per claimant after it (the round
        // is what the mesh waits on for its copies).
        let outcomes = await withTaskGroup(of: (MemberID, ChallengeOutcome).self) { group in
            for member in claimed.sorted() where member != me && !proven.contains(member) {
                guard let connection = peers.session(with: member) else { continue }
                group.addTask { (member, await self.peers.challenge(piece, own: reference, on: connection)) }
            }
            var outcomes: [(MemberID, ChallengeOutcome)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        // A round superseded meanwhile: its requests were cancelled, which proves nothing either way.
        guard !Task.isCancelled else { return nil }
        for (member, outcome) in outcomes.sorted(by: { $0.0 < $1.0 }) {
            let who = "member \(String(member, radix: 16))"
            switch outcome {
            case .proved: proven.insert(member)
            case .notHeld: logger.info("repair: \(who) no longer holds piece \(index) of \(resource) (its HAVE is stale); not counted")
            case .wrongProof: logger.warning("repair: \(who) claims piece \(index) of \(resource) but proved other bytes; not counted")
            case .noAnswer(let why): logger.info("repair: \(who) did not prove piece \(index) of \(resource): \(why); not counted")
            }
        }
        return proven
    }

    /// The stored bytes of piece `index`: from this node's store, else fetched (and kept) from a holder, else —
    /// when no copy is left — rebuilt from the other pieces of its Reed-Solomon stripe, fetched here first.
    private func localCopy(_ index: Int, of resource: ContentID, pieces: [(id: ContentID, storedLength: UInt64)], have: [Set<MemberID>]) async -> [UInt8]? {
        func fetch(_ i: Int) async -> [UInt8]? {
            if let bytes = try? store.storedObject(pieces[i].id) { return bytes }
            // Routed as reads are (``HolderRoute``): healthy, in this node's region, then the lowest round trip.
            let holders = peers.routes(to: Array(have[i])).compactMap { peers.session(with: $0.member) }
            guard await peers.fetchVerified(pieces[i].id, into: store, from: holders) != nil else { return nil }
            return try? store.storedObject(pieces[i].id)
        }
        if let bytes = await fetch(index) { return bytes }
        guard let layout = try? store.manifest(for: resource)?.layout, layout.parityShards > 0 else { return nil }
        let members = layout.pieces(inStripe: layout.stripe(ofPiece: index).stripe).filter { $0 < pieces.count }
        for other in members where other != index { _ = await fetch(other) }
        // The stripe's surviving pieces are here now: a repairing verify rebuilds its missing data chunks from parity
        // and encodes its missing parity shards again from the data.
        _ = try? store.verify(resource, repair: true)
        guard let bytes = try? store.storedObject(pieces[index].id) else { return nil }
        setCounter { $0.rebuiltPieces += 1 }
        logger.info("repair: piece \(index) of \(resource) rebuilt from its stripe (no copy was left)")
        return bytes
    }

    /// Token bucket: repair pushes at most `repairBytesPerSecond` on average (bursts of one second).
    func throttle(_ bytes: Int) async {
        let clock = peers.clock
        // Cancelled (the node stops): the push goes ahead unthrottled and the round ends at its next await.
        try? await RateLimiter.acquire(Double(bytes), bucket: { body in withTokens { body(&$0) } }, clock: { clock.now() },
                                       sleep: { seconds in try await clock.sleep(seconds: min(seconds, 1)) })
    }
}

/// Waits on a token bucket: asks it, sleeps what it says, asks again. The clock and the sleep are parameters, so
/// tests run it on virtual time.
public enum RateLimiter {
    public static func acquire(_ amount: Double, bucket: ((inout TokenBucket) -> Double) -> Double,
                               clock: () -> UInt64, sleep: (Double) async throws -> Void) async rethrows {
        while true {
            let now = clock()
            let wait = bucket { $0.take(amount, now: now) }
            if wait <= 0 { return }
            try await sleep(wait)
        }
    }
}
