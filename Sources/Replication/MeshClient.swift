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

/// Puts resources into the mesh and reads them back, from any process with a peer manager and a local store
/// (the CLI, a node): the put follows the allocator's plan and is acknowledged only once every piece is
/// durably stored on enough other nodes; the read goes to healthy, not overloaded, lowest-latency holders,
/// several at once, and asks a second holder for pieces that lag (long-tail cancellation: the first answer
/// wins).
public final class MeshClient: Sendable {
    public let peers: PeerManager
    public let store: ContentStore
    public let identity: NodeIdentity
    let allocator: AllocatorHandle?
    let logger: Logger
    /// The clock that stamps the ledger entries this client pays with: the node's, in a node.
    let lamport: NodeLamport
    private let sessions = Mutex<[String: (connection: UInt64, node: NodeID)]>([:])
    /// The allocator's minimum replicas: a put of full or chunked replication is acknowledged once every
    /// piece has this many durable copies (or all of its copies, in a sparse network).
    public static let minimumReplicas = 5

    /// What this client's identity may spend, as its node's ledger says (nil: unbounded — no economy, an issuer,
    /// or a client process without a ledger, where the holders' own check decides).
    let balance: @Sendable () -> UInt64?
    /// The mesh's prices and accounting period (a put pays its holders the first period ahead).
    let pricing: Pricing
    let billingPeriod: Double
    /// Told of each put this client paid for as owner (a node bills the next periods: ``ReplicaService/own(_:size:budget:)``).
    let owned: @Sendable (ContentID, UInt64, UInt64) -> Void

    public init(peers: PeerManager, store: ContentStore, identity: NodeIdentity, allocator: AllocatorHandle?, logger: Logger,
                lamport: NodeLamport = .startingAtWallClock(), balance: @escaping @Sendable () -> UInt64? = { nil },
                pricing: Pricing = Pricing(), billingPeriod: Double = ReplicaService.Options().billingPeriod,
                owned: @escaping @Sendable (ContentID, UInt64, UInt64) -> Void = { _, _, _ in }) {
        self.balance = balance
        self.pricing = pricing
        self.billingPeriod = max(1, billingPeriod)
        self.owned = owned
        self.peers = peers
        self.store = store
        self.identity = identity
        self.allocator = allocator
        self.logger = logger
        self.lamport = lamport
        peers.register(ReplicationFrames.responses)
    }

    /// A session with the node at `address` (reused), checked to be `member` when given.
    public func session(_ address: String, member: MemberID? = nil) async throws(InosError) -> (connection: UInt64, node: NodeID) {
        if let known = sessions.withLock({ $0[address] }), peers.peers.contains(where: { $0.connection == known.connection }) { return known }
        // A member's client (a running node doing a put or get for the CLI) reuses the node's own sessions: with
        // the member, or one it dialed at that address.
        let current = peers.peers
        if let member, let connection = peers.session(with: member), let node = current.first(where: { $0.connection == connection })?.node {
            return (connection, node)
        }
        if let dialed = current.first(where: { !$0.inbound && $0.address == address }), let node = dialed.node, member.map({ Membership.member(node) == $0 }) ?? true {
            return (dialed.connection, node)
        }
        let opened: (UInt64, NodeID)
        do { opened = try await peers.connect(address, timeout: 10) } catch { throw InosError("connecting to \(address)", mesh: error) }
        if let member, Membership.member(opened.1) != member {
            peers.transport.close(opened.0)
            throw InosError(.refused, "\(address) is node \(opened.1), not member \(String(member, radix: 16))")
        }
        sessions.withLock { $0[address] = (opened.0, opened.1) }
        return (opened.0, opened.1)
    }

    public func closeSessions() {
        for session in sessions.withLock({ Array($0.values) }) { peers.transport.close(session.connection) }
        sessions.withLock { $0.removeAll() }
    }

    // MARK: Put

    public struct Holder: Sendable {
        public var member: MemberID
        public var address: String
        public var node: NodeID?
        public var pieces: Int
        public var bytes: UInt64
        public var failures: [String]
    }

    public struct PutReport: Sendable {
        public var id: ContentID
        public var size: UInt64
        public var plan: PlacementPlan
        /// Replicas before the budget capped them (equal when it did not).
        public var wantedReplicas: Int
        public var creditsPerHour: UInt64
        public var holders: [Holder]
        /// Durable copies of each piece (chunks, then parity shards).
        public var copies: [Int]
        public var quorum: [Int]
        public var acknowledgedAfter: Double?
        public var seconds: Double
        public var pieceCount: Int { copies.count }
    }

    /// Stores `file` locally (pinned), plans its placement over the members the node at `entry` knows, pushes
    /// every piece to its holders and returns once all pushes ended. Throws unless the put is acknowledged:
    /// every piece durably on at least `quorum` other nodes.
    public func put(file: String, entry: String, budget: UInt64, pins: PinSet, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async
        throws(InosError) -> PutReport
    {
        try await put(file: file, entry: entry, budget: budget, pins: pins, paying: true, progress: progress)
    }

    /// ``put(file:entry:budget:pins:progress:)``; `paying` false skips the payments — what a hostile client does
    /// (for tests of what holders do about it).
    package func put(file: String, entry: String, budget: UInt64, pins: PinSet, paying: Bool, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async
        throws(InosError) -> PutReport
    {
        guard let allocator else { throw InosError(.unavailable, "no allocator plugin (slot \"allocator\"): the manifest must load one to put into the mesh") }
        let started = peers.clock.now()
        let (connection, _) = try await session(entry)
        let members: [MemberInfo]
        do { members = try await peers.members(on: connection).filter { !$0.address.isEmpty } } catch { throw InosError("members of \(entry)", mesh: error) }
        let nodes = members.map(\.placementNode)
        let size: UInt64
        do { size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.uint64Value ?? 0 } catch {
            throw InosError(.io, "cannot read \(file): \(error.localizedDescription)")
        }
        let request = PlacementRequest(resourceSize: size, creditBudget: budget)
        let planned: PlacementPlan
        do { planned = try allocator.plan(request, nodes: nodes) } catch { throw InosError(.failed, "planning where \(file) goes", cause: error) }
        let wanted = planned.replicas
        // The budget caps replicas: the most the owner's credits per hour pay for.
        let plan = planned.capped(byBudget: budget, size: size, pricing: pricing)
        guard plan.replicas > 0, plan.copies > 0 else {
            if planned.replicas > 0 {
                throw InosError(.invalidArgument, "a budget of \(budget) credits/hour does not pay for one replica of \(size) bytes (\(pricing.creditsPerHour(size: size, replicas: 1)) credits/hour)")
            }
            throw InosError(.noSpace, "no member can hold \(size) bytes without passing the maximum load (\(members.count) member(s), \(plan.usableNodes) usable)")
        }
        // Credits: the first period is paid when the put is acknowledged; a balance that does not cover it stops
        // the put here, before any piece moves (the holders would refuse it too).
        if let balance = balance() {
            let perHour = pricing.creditsPerHour(size: size, replicas: plan.replicas)
            let cost = UInt64(min(0x1p63, max(1, (Double(perHour) * billingPeriod / 3600).rounded(.up))))
            guard balance >= cost else {
                throw InosError(
                    .refused,
                    "the put costs \(cost) credits for its first period of \(Int(billingPeriod)) s (\(plan.replicas) replicas of \(size) bytes at \(perHour) credits/hour) and this node's balance is \(balance) credits: ask a credit issuer for a grant (inos credits grant), or lower --budget (docs/credits.md)")
            }
        }

        var options = ContentStore.Options()
        options.erasure = plan.dataShards > 0 && plan.parityShards > 0 ? (plan.dataShards, plan.parityShards) : nil
        let id: ContentID
        let manifest: ResourceManifest?
        do {
            let put = try store.putPinned(file: file, pins: pins, options: options)
            (id, manifest) = (put.id, put.manifest)
        } catch { throw InosError("storing \(file) here", wrapping: error) }
        let pieces = ContentStore.pieces(of: id, manifest: manifest)
        let chunkCount = manifest?.chunks.count ?? 1
        let isManifest = manifest != nil
        // The manifest's stored form goes first to every holder (read once here).
        let manifestBytes = isManifest ? (try? store.storedObject(id)) ?? [] : []
        guard !isManifest || !manifestBytes.isEmpty else { throw InosError(.notFound, "the manifest of \(id) is not readable here") }

        var placementRequest = request
        placementRequest.key = Array(id.bytes.suffix(32))
        let map: PlacementMap
        do {
            map = try PlacementMap.build(resource: id, pieces: pieces, chunkCount: chunkCount, plan: plan, request: placementRequest, nodes: nodes, allocator: allocator)
        } catch { throw InosError(.failed, "placing the pieces of \(id)", cause: error) }
        let quorum = pieces.indices.map { i in
            plan.strategy == .erasure && i < pieces.count ? 1 : min(map.holders[i].count, Self.minimumReplicas)
        }

        // Push: one worker per holder, the manifest first (with the policy), then its pieces, 4 in flight.
        struct Tally: Sendable {
            var copies: [Int]
            var acknowledged: UInt64?
            var holders: [Holder]
            var done = 0
            var bytesPushed = 0

            /// A durable copy of piece `i` on `holder`; notes the moment every piece reached its quorum. Returns the
            /// copies stored so far.
            mutating func stored(_ i: Int, on holder: Holder, bytes: Int, quorum: [Int], now: UInt64) -> Int {
                copies[i] += 1
                if let slot = holders.firstIndex(where: { $0.member == holder.member }) {
                    holders[slot].pieces += 1
                    holders[slot].bytes += UInt64(bytes)
                } else {
                    holders.append(Holder(member: holder.member, address: holder.address, node: holder.node, pieces: 1, bytes: UInt64(bytes), failures: []))
                }
                if acknowledged == nil, zip(copies, quorum).allSatisfy({ $0 >= $1 }) { acknowledged = now }
                done += 1
                bytesPushed += bytes
                return done
            }
        }
        let holderIndices = map.allHolders
        let tally = Locked(Tally(copies: Array(repeating: 0, count: pieces.count), holders: holderIndices.map {
            Holder(member: members[$0].member, address: members[$0].address, pieces: 0, bytes: 0, failures: [])
        }))
        let totalPushes = map.holders.reduce(0) { $0 + $1.count }
        let totalBytes = pieces.indices.reduce(0) { $0 + map.holders[$1].count * Int(pieces[$1].storedLength) }
        // The owner's ticket: holders store pieces of this resource only with it, and repair forwards it.
        let ticket = OwnerTicket(resource: id, size: size, budget: budget, owner: identity, now: Date(timeIntervalSince1970: peers.clock.wallSeconds()))
        // One task per holder; each pushes the manifest, then its pieces, 4 in flight — all suspended on their
        // answers, no thread waits.
        await withTaskGroup(of: Void.self) { holdersGroup in
            for (slot, h) in holderIndices.enumerated() {
                let mine = pieces.indices.filter { map.holders[$0].contains(h) }
                holdersGroup.addTask { [self] in
                    @Sendable func failed(_ why: String) { tally.withLock { $0.holders[slot].failures.append(why) } }
                    let target: (connection: UInt64, node: NodeID)
                    do throws(InosError) { target = try await session(members[h].address, member: members[h].member) } catch {
                        return failed("\(error)")
                    }
                    tally.withLock { $0.holders[slot].node = target.node }
                    if isManifest {
                        do throws(InosError) {
                            _ = try await peers.storePiece(id, of: id, ticket: ticket, data: manifestBytes, on: target.connection)
                        } catch { return failed("manifest: \(error)") }
                    }
                    @Sendable func push(_ i: Int) async {
                        guard let data = try? store.storedObject(pieces[i].id) else { return failed("piece \(i) is not readable here") }
                        do throws(InosError) {
                            _ = try await peers.storePiece(pieces[i].id, of: id, ticket: ticket, data: data, on: target.connection)
                            let (done, bytes) = tally.withLock { t in
                                (t.stored(i, on: t.holders[slot], bytes: data.count, quorum: quorum, now: peers.clock.now()), t.bytesPushed)
                            }
                            progress(TransferProgress(
                                bytesDone: min(bytes, totalBytes), bytesTotal: totalBytes, piecesDone: done, piecesTotal: totalPushes, holders: holderIndices.count))
                        } catch { failed("piece \(i): \(error)") }
                    }
                    await withTaskGroup(of: Void.self) { piecesGroup in
                        var next = mine.makeIterator()
                        for _ in 0..<4 { if let i = next.next() { piecesGroup.addTask { await push(i) } } }
                        for await _ in piecesGroup { if let i = next.next() { piecesGroup.addTask { await push(i) } } }
                    }
                }
            }
        }
        // Holders that failed (down, full, unreachable): their pieces go to the next nodes the allocator ranks,
        // so one dead node does not leave a put unacknowledged.
        let short = pieces.indices.filter { i in tally.withLock { $0.copies[i] } < map.holders[i].count }
        if !short.isEmpty {
            let failedMembers = Set(tally.withLock { t in t.holders.filter { !$0.failures.isEmpty }.map(\.member) })
            for i in short {
                var fallbackRequest = placementRequest
                fallbackRequest.key = Array(pieces[i].id.bytes.suffix(32))
                fallbackRequest.replicas = min(nodes.count, map.holders[i].count + failedMembers.count + 2)
                fallbackRequest.pieceBytes = max(pieces[i].storedLength, 1)
                guard let ranked = try? allocator.place(fallbackRequest, nodes: nodes), let data = try? store.storedObject(pieces[i].id) else { continue }
                for h in ranked where !map.holders[i].contains(h) && !failedMembers.contains(members[h].member) {
                    guard tally.withLock({ $0.copies[i] }) < map.holders[i].count else { break }
                    guard let target = try? await session(members[h].address, member: members[h].member) else { continue }
                    if isManifest, (try? await peers.storePiece(id, of: id, ticket: ticket, data: manifestBytes, on: target.connection)) == nil { continue }
                    guard (try? await peers.storePiece(pieces[i].id, of: id, ticket: ticket, data: data, on: target.connection)) != nil else { continue }
                    let holder = Holder(member: members[h].member, address: members[h].address, node: target.node, pieces: 0, bytes: 0, failures: [])
                    _ = tally.withLock { $0.stored(i, on: holder, bytes: data.count, quorum: quorum, now: peers.clock.now()) }
                    logger.info("piece \(i) re-placed on \(members[h].address) after a holder failed")
                }
            }
        }
        let result = tally.withLock { $0 }
        let cost = pricing.creditsPerHour(size: size, replicas: plan.replicas)
        if paying {
            await pay(for: id, holders: result.holders, creditsPerHour: cost)
            if result.acknowledged != nil { owned(id, size, budget) }
        }
        let report = PutReport(
            id: id, size: size, plan: plan, wantedReplicas: wanted, creditsPerHour: cost, holders: result.holders, copies: result.copies,
            quorum: quorum, acknowledgedAfter: result.acknowledged.map { Double($0 - started) / 1e9 },
            seconds: Double(peers.clock.now() - started) / 1e9)
        guard report.acknowledgedAfter != nil else {
            let short = zip(result.copies, quorum).enumerated().filter { $0.element.0 < $0.element.1 }
            let failures = result.holders.flatMap { holder in holder.failures.prefix(2).map { "\(holder.address): \($0)" } }
            throw InosError(
                .unavailable,
                "put NOT acknowledged: \(short.count) of \(pieces.count) piece(s) have fewer durable copies than \(quorum.max() ?? 0) (the data stays pinned here; retry). \(failures.prefix(4).joined(separator: "; "))")
        }
        return report
    }

    /// The owner pays each holder its share of the first period, by bytes held (at least a credit each): signed
    /// ledger entries sent to the holders, which spread them by anti-entropy. The next periods are its node's to
    /// pay (``ReplicaService/billingRound()``); a client process without a node pays only this one.
    private func pay(for id: ContentID, holders: [Holder], creditsPerHour: UInt64) async {
        let total = holders.reduce(UInt64(0)) { $0 + $1.bytes }
        let period = (Double(creditsPerHour) * billingPeriod / 3600).rounded(.up)
        guard total > 0 else { return }
        // Each entry is a request the holder acknowledges once it kept the entry, so a CLI that exits right after
        // the put does not lose payments still in its send queue. All holders at once, each bounded by its deadline.
        await withTaskGroup(of: Void.self) { group in
            for holder in holders where holder.bytes > 0 {
                guard let node = holder.node, let (connection, _) = try? await session(holder.address, member: holder.member) else {
                    logger.warning("payment to \(holder.address) not sent: no session with it")
                    continue
                }
                let amount = max(1, UInt64(min(0x1p63, (period * Double(holder.bytes) / Double(total)).rounded())))
                var entry = LedgerEntry(
                    payer: identity.id.bytes, payee: node.bytes, lamport: lamport.nextLedgerTime(), amount: amount,
                    resource: Array(id.bytes.suffix(32)), bytes: holder.bytes, payerKey: identity.publicKey)
                entry.signature = identity.sign(entry.signedBytes)
                group.addTask { [peers, logger, entry] in
                    do throws(MeshError) { _ = try await peers.request(.ledger, payload: entry.encoded, on: connection, timeout: 10) } catch {
                        logger.warning("payment to \(holder.address) not confirmed: \(error.message)")
                    }
                }
            }
        }
    }

    /// Grants `amount` credits to `node`: a ledger entry this client's identity signs as payer, for no resource,
    /// sent to the member at `entry` (which keeps it and spreads it by anti-entropy). It mints credits only where
    /// this identity is one of the mesh's credit issuers (the manifest's `[credits] issuers`); anyone else's grant
    /// is an ordinary payment from its own balance, and bounces if that does not cover it.
    public func grant(_ amount: UInt64, to node: NodeID, entry: String) async throws(InosError) -> LedgerEntry {
        guard amount > 0 else { throw InosError(.invalidArgument, "a grant of 0 credits moves nothing") }
        let (connection, _) = try await session(entry)
        var grant = LedgerEntry(
            payer: identity.id.bytes, payee: node.bytes, lamport: lamport.nextLedgerTime(), amount: amount,
            resource: [UInt8](repeating: 0, count: 32), bytes: 0, payerKey: identity.publicKey)
        grant.signature = identity.sign(grant.signedBytes)
        let answer: WireMessage
        do { answer = try await peers.request(.ledger, payload: grant.encoded, on: connection, timeout: 10) } catch {
            throw InosError("sending the grant to \(entry)", mesh: error)
        }
        let status = try PeerManager.storeStatus(answer)
        guard status == .stored else { throw InosError(.refused, "\(entry) did not keep the grant: \(status)") }
        return grant
    }
}
