// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives
import Synchronization
import Wire

extension FrameType {
    /// DHT provider records: PROVIDE stores one at a node; FIND_PROVIDERS asks for those of a key; PROVIDERS answers.
    public static let provide = FrameType(rawValue: 0x52)
    public static let findProviders = FrameType(rawValue: 0x53)
    public static let providers = FrameType(rawValue: 0x54)
    /// Kademlia: FIND_NODE asks for the members closest to a key; NODES answers.
    public static let findNode = FrameType(rawValue: 0x57)
    public static let nodes = FrameType(rawValue: 0x58)
}

/// The DHT: provider records kept for the members they are closest to (PROVIDE), asked for with FIND_PROVIDERS
/// (recursively, across the members closest to the key), Kademlia's FIND_NODE and iterative lookup, and the
/// epoch that expires records and republishes what this node provides.
final class ProviderService: Sendable {
    /// How many members keep each provider record (Kademlia's k).
    static let replication = 20

    private let layer: PeerLayer
    /// Provider records this node keeps for others (the DHT's storage).
    let store = ProviderStore()
    /// What this node provides, per kind: keys republished every interval to the members closest to each.
    private let provided = Mutex<[ProviderRecord.Kind: Provision]>([:])
    /// Sessions a lookup dialed (to members outside SWIM's view): when each was last used and how many requests
    /// are running on it. Closed when idle for ``transientIdleNanoseconds``; past ``transientLimit`` the least
    /// recently used idle one is closed (never one in use, never one to a member SWIM holds alive).
    private let transient = Mutex<[UInt64: (last: UInt64, inUse: Int)]>([:])
    static let transientLimit = 64
    static let transientIdleNanoseconds: UInt64 = 60_000_000_000
    /// When the routing table was last refreshed (0: never), and whether a refresh is running.
    private let refreshed = Mutex<(at: UInt64, running: Bool)>((0, false))
    static let refreshNanoseconds: UInt64 = 30_000_000_000
    /// Recursive FIND_PROVIDERS answers running a lookup now, in all and per asker; past ``lookupLimit`` (or
    /// ``lookupsPerPeer`` for one asker) a request is answered from what the view and table know.
    private let answering = Mutex<(total: Int, perPeer: [MemberID: Int])>((0, [:]))
    static let lookupLimit = 16
    static let lookupsPerPeer = 2
    /// How long a recursive answer's lookup may take, in seconds: callers wait 3 s (repair) to 10 s (reads).
    static let answerSeconds = 2.5
    /// The most rounds one lookup runs, and the most sessions it dials, whatever its answers name.
    static let lookupRounds = 16
    static let lookupDials = 64
    /// Announcements waiting for their lookup (a partial view's PROVIDE goes to the closest found), one per key —
    /// a later one replaces the waiting one — oldest first, at most ``announcementLimit``; run by at most
    /// ``announcementWorkers`` tasks at once.
    private let announcements = Mutex<(order: [[UInt8]], pending: [[UInt8]: PendingAnnouncement], workers: Int, dropped: UInt64)>(([], [:], 0, 0))
    static let announcementLimit = 16_384
    static let announcementWorkers = 4

    private struct PendingAnnouncement {
        var ttl: UInt32
        /// Asked once the closest are found: false sends a withdrawal after the record (the key went meanwhile).
        var still: (@Sendable () -> Bool)?
    }

    private struct Provision {
        var keys: @Sendable () -> [[UInt8]]
        var every: UInt64
        var last: UInt64 = 0
        /// While no member is alive: not before this (see ``epoch(now:)``).
        var retryAt: UInt64 = 0
        var ttl: UInt32
        /// Asked after each republished key: false withdraws it again (it went while the round ran).
        var still: @Sendable ([UInt8]) -> Bool
    }

    init(layer: PeerLayer) { self.layer = layer }

    var registrations: [FrameRegistration] {
        [
            FrameRegistration(.provide, "PROVIDE", owner: "providers", kind: .oneWay) { [self] frame throws(MeshError) in
                guard let (key, record, _) = ProviderRecord.decode(frame.payload[...]) else { throw MeshError(.malformed, "malformed provider record") }
                // A node announces only itself: a record naming another member is refused, as is one it did not sign.
                guard record.member == Membership.member(frame.peer) else { throw MeshError(.notAllowed, "provider record for another node") }
                if let problem = record.problem(key: key) { throw MeshError(.notAllowed, "provider record refused: \(problem)") }
                _ = layer.lamport.witness(record.lamport)
                store.add(key, record, now: layer.clock.now(), verified: true)
            },
            FrameRegistration(.findProviders, "FIND_PROVIDERS", owner: "providers", kind: .request) { [self] frame throws(MeshError) in
                guard frame.payload.count == 33 else { throw MeshError(.malformed, "malformed provider request") }
                answerFindProviders(frame, recursive: frame.payload[0] == 1, key: Array(frame.payload[1...]))
            },
            .response(.providers, "PROVIDERS", owner: "providers"),
            FrameRegistration(.findNode, "FIND_NODE", owner: "providers", kind: .request) { [self] frame throws(MeshError) in
                guard frame.payload.count == 32, let membership = layer.membership else { throw MeshError(.malformed, "malformed node request") }
                var reply: [UInt8] = []
                // From the view and, once it is partial, the routing table (the address of either).
                for member in closestMembers(to: frame.payload) {
                    guard let address = member == membership.memberID ? membership.advertisedAddress : membership.address(of: member),
                        !address.isEmpty
                    else { continue }
                    withUnsafeBytes(of: member.littleEndian) { reply += $0 }
                    let bytes = Array(address.utf8.prefix(255))
                    reply += [UInt8(bytes.count)] + bytes
                }
                try layer.reply(to: frame, .nodes, reply)
            },
            .response(.nodes, "NODES", owner: "providers"),
        ]
    }

    /// Answers FIND_PROVIDERS: the records kept here, and with `recursive` those of the members closest to the
    /// key, asked all at once; the answer goes when the last one has answered (or its 3 s deadline passed):
    /// nothing waits on a thread, so slow members cost the asker time, not the node.
    private func answerFindProviders(_ frame: InboundFrame, recursive: Bool, key: [UInt8]) {
        let requester = Membership.member(frame.peer)
        var local: [MemberID: ProviderRecord] = [:]
        for record in store.providers(of: key, now: layer.clock.now()) { local[record.member] = record }
        if recursive, let membership = layer.membership, membership.isPartial, admitLookup(for: requester) {
            // A partial view does not know the key's closest members: find them (Kademlia), then ask each — within
            // ``answerSeconds`` in all, so the answer (with what was found by then) reaches the asker in time.
            PeerManager.spawn { [self, local] in
                defer { finishLookup(for: requester) }
                let deadline = layer.clock.now().saturatingAdd(layer.clock.nanoseconds(Self.answerSeconds * 0.8))
                let closest = await locate(key, deadline: deadline, timeout: 1).filter { $0.member != membership.memberID && $0.member != requester }
                let now = layer.clock.now()
                let left = max(0.3, Self.answerSeconds * 0.2 + (deadline > now ? Double(deadline - now) / 1e9 : 0))
                let answers = await withTaskGroup(of: [ProviderRecord].self) { group in
                    for (member, connection) in closest {
                        guard let connection = connection ?? membership.connection(to: member) else { continue }
                        group.addTask { [self] in (try? await findProviders(key, on: connection, recursive: false, timeout: left)) ?? [] }
                    }
                    var all: [ProviderRecord] = []
                    for await answer in group { all += answer }
                    return all
                }
                var found = local
                for record in answers where record.lamport >= found[record.member]?.lamport ?? 0 { found[record.member] = record }
                let payload = found.values.filter { !membership.isDead($0.member) }.sorted { $0.member < $1.member }
                    .flatMap { ProviderRecord.encode(key: key, $0) }
                try? layer.reply(to: frame, .providers, payload)
            }
            return
        }
        var routes: [UInt64] = []
        if recursive, let membership = layer.membership {
            for member in closestMembers(to: key) where member != membership.memberID && member != requester {
                if let route = membership.connection(to: member) { routes.append(route) }
            }
        }
        let gathered = Mutex((found: local, left: routes.count))
        // A member SWIM declared dead is not named: its records outlive it by up to their TTL, and an asker
        // would spend a timeout on each (a census would list it as "no answer" until the records expire).
        let membership = layer.membership
        @Sendable func reply(_ found: [MemberID: ProviderRecord]) {
            let payload = found.values.filter { membership?.isDead($0.member) != true }.sorted { $0.member < $1.member }
                .flatMap { ProviderRecord.encode(key: key, $0) }
            try? layer.reply(to: frame, .providers, payload)
        }
        if routes.isEmpty { reply(local) }
        for route in routes {
            layer.request(.findProviders, payload: [0] + key, on: route, timeout: 3) { outcome in
                let done = gathered.withLock { state -> [MemberID: ProviderRecord]? in
                    if case .success(let answer) = outcome, answer.header.type == .providers {
                        for record in Self.decodeProviders(answer.payload[...], key: key)
                        where record.lamport >= state.found[record.member]?.lamport ?? 0 { state.found[record.member] = record }
                    }
                    state.left -= 1
                    return state.left == 0 ? state.found : nil
                }
                if let done { reply(done) }
            }
        }
    }

    /// Announces `keys()` as provided by this node (as `kind`) to the members closest to each key, every
    /// `seconds` (records live `ttl` seconds, so a provider that stops is forgotten).
    func provide(_ kind: ProviderRecord.Kind, every seconds: Double, ttl: UInt32, still: @escaping @Sendable ([UInt8]) -> Bool,
                 _ keys: @escaping @Sendable () -> [[UInt8]]) {
        provided.withLock { $0[kind] = Provision(keys: keys, every: layer.clock.nanoseconds(seconds), ttl: ttl, still: still) }
    }

    /// The members closest to `key` by XOR on the first 64 bits (member IDs are the first 8 bytes of node IDs,
    /// keys are content digests) that this node knows: where its provider records live. This node included; the
    /// routing table's contacts too once SWIM's view is partial (a member SWIM holds dead never).
    func closestMembers(to key: [UInt8], count: Int = ProviderService.replication) -> [MemberID] {
        guard let membership = layer.membership else { return [] }
        let target = Contacts.target(of: key)
        var candidates = Set(membership.aliveMembers)
        candidates.insert(membership.memberID)
        if membership.isPartial {
            for contact in membership.contacts.closest(to: target, count: count) where !membership.isDead(contact.member) {
                candidates.insert(contact.member)
            }
        }
        return candidates.sorted { ($0 ^ target) < ($1 ^ target) }.prefix(count).map { $0 }
    }

    /// Takes a place for a recursive answer's lookup: one of ``lookupLimit`` in all and of ``lookupsPerPeer`` for
    /// `requester` (false: none free, and the request is answered from what this node knows).
    private func admitLookup(for requester: MemberID) -> Bool {
        answering.withLock { state in
            guard state.total < Self.lookupLimit, state.perPeer[requester, default: 0] < Self.lookupsPerPeer else { return false }
            state.total += 1
            state.perPeer[requester, default: 0] += 1
            return true
        }
    }

    private func finishLookup(for requester: MemberID) {
        answering.withLock { state in
            state.total = max(0, state.total - 1)
            let left = state.perPeer[requester, default: 1] - 1
            state.perPeer[requester] = left > 0 ? left : nil
        }
    }

    /// The members closest to `key` across the whole mesh, each with a session when one is up (nil for this
    /// node): with a full view, ``closestMembers(to:count:)``; with a partial one, Kademlia's iterative lookup
    /// from the closest this node knows — α = 3 FIND_NODE requests at a time, dialing a contact that has no
    /// session, until a round brings nothing closer than the k closest asked, ``lookupRounds`` rounds or
    /// ``lookupDials`` dials have passed, or `deadline` (on the node's clock). A member counts only once it
    /// answered on a session whose handshake proved its ID; it enters the routing table with the address that
    /// proved it (an address an answer names that proves to be another node is dropped, and the next one named
    /// for that member is tried).
    func locate(_ key: [UInt8], deadline: UInt64? = nil, timeout: Double = 3) async -> [(member: MemberID, connection: UInt64?)] {
        guard let membership = layer.membership else { return [] }
        let me = membership.memberID
        let local = closestMembers(to: key)
        guard membership.isPartial else { return local.map { ($0, $0 == me ? nil : membership.connection(to: $0)) } }
        let target = Contacts.target(of: key)
        /// Addresses answers named for each member, first named first (at most 3 kept per member).
        var named: [MemberID: [String]] = [:]
        var sessions: [MemberID: UInt64] = [:]
        var dials = 0
        var lookup = Lookup(target: Contacts.point(target), start: local.filter { $0 != me }.map(Contacts.point), k: Self.replication, alpha: 3)
        while lookup.rounds < Self.lookupRounds, dials < Self.lookupDials {
            let now = layer.clock.now()
            if let deadline, now >= deadline { break }
            let wait = deadline.map { min(timeout, Double($0 - now) / 1e9) } ?? timeout
            let round = lookup.nextRound()
            if round.isEmpty { break }
            let answers = await withTaskGroup(of: Asked.self) { group in
                for contact in round {
                    let member = contact.words.0
                    // An address this node already had for the member (its own signed claim, or one that proved it)
                    // first; then what answers named.
                    let addresses = ([membership.address(of: member)].compactMap { $0 } + (named[member] ?? [])).reduce(into: [String]()) {
                        if !$0.contains($1) { $0.append($1) }
                    }
                    group.addTask { [self] in await askClosest(member, at: Array(addresses.prefix(2)), key: key, timeout: wait) }
                }
                var all: [Asked] = []
                for await answer in group { all.append(answer) }
                return all
            }
            for answer in answers {
                dials += answer.dials
                guard let nodes = answer.nodes, let connection = answer.connection else {
                    lookup.answer(from: Contacts.point(answer.member), nil)
                    if answer.dials > 0, membership.status(ofMember: answer.member) == nil { membership.contacts.failed(answer.member) }
                    continue
                }
                sessions[answer.member] = connection
                // The address it proved when dialed, else one it claimed itself (SWIM) or one already kept; a member
                // that answered on a session it had opened to this node is kept at the first address an answer named
                // for it — unproven until the next dial, which checks the ID and drops the contact if it is wrong.
                if let address = answer.proven ?? membership.address(of: answer.member) ?? named[answer.member]?.first {
                    membership.contacts.seen(answer.member, at: address)
                }
                for (other, address) in nodes where other != me && (named[other]?.count ?? 0) < 3 && named[other]?.contains(address) != true {
                    named[other, default: []].append(address)
                }
                lookup.answer(from: Contacts.point(answer.member), nodes.map { Contacts.point($0.0) }.filter { $0 != Contacts.point(me) })
            }
        }
        var closest = lookup.result.map { (member: $0.words.0, connection: sessions[$0.words.0]) }
        closest.append((me, nil))
        return closest.sorted { ($0.member ^ target) < ($1.member ^ target) }.prefix(Self.replication).map { $0 }
    }

    /// What one FIND_NODE of a lookup brought: the session it used, the address it dialed that proved the member
    /// (nil when a session was up already), the sessions it dialed, and the members named (nil: no answer).
    private struct Asked: Sendable {
        var member: MemberID
        var connection: UInt64?
        var proven: String?
        var dials: Int
        var nodes: [(MemberID, String)]?
    }

    /// One FIND_NODE of a lookup: on `member`'s session, or a session dialed to the first of `addresses` that
    /// proves to be `member` (kept as a transient session).
    private func askClosest(_ member: MemberID, at addresses: [String], key: [UInt8], timeout: Double) async -> Asked {
        var asked = Asked(member: member, connection: layer.membership?.connection(to: member), proven: nil, dials: 0, nodes: nil)
        if asked.connection == nil {
            for address in addresses {
                asked.dials += 1
                guard let (dialed, node) = try? await layer.connect(address, timeout: timeout) else { continue }
                guard Membership.member(node) == member else {
                    // The address belongs to another node than the answer said: a stale or a false answer.
                    layer.transport.close(dialed)
                    continue
                }
                asked.connection = dialed
                asked.proven = address
                break
            }
        }
        guard let connection = asked.connection else { return asked }
        let tracked = useTransient(connection, dialed: asked.proven != nil)
        defer { if tracked { doneWithTransient(connection) } }
        guard let answer = try? await layer.request(.findNode, payload: key, on: connection, timeout: timeout), answer.header.type == .nodes else {
            return asked
        }
        asked.nodes = Self.nodes(in: answer.payload)
        return asked
    }

    /// Marks `connection` in use by a lookup (a session it `dialed` is tracked from now on); past
    /// ``transientLimit`` tracked sessions the least recently used idle one is closed. True when it is tracked.
    private func useTransient(_ connection: UInt64, dialed: Bool) -> Bool {
        let now = layer.clock.now()
        let (tracked, candidates) = transient.withLock { transient -> (Bool, [UInt64]) in
            guard dialed || transient[connection] != nil else { return (false, []) }
            transient[connection, default: (now, 0)].last = now
            transient[connection]!.inUse += 1
            guard transient.count > Self.transientLimit else { return (true, []) }
            return (true, transient.filter { $0.value.inUse == 0 }.sorted { $0.value.last < $1.value.last }.map(\.key))
        }
        for candidate in candidates {
            // A session to a member SWIM holds alive is the view's: no longer tracked here, not closed.
            let alive = layer.node(on: candidate).map { layer.membership?.isAlive(Membership.member($0)) == true } ?? false
            transient.withLock { _ = $0.removeValue(forKey: candidate) }
            if !alive { layer.transport.close(candidate) }
            if transient.withLock({ $0.count <= Self.transientLimit }) { break }
        }
        return tracked
    }

    private func doneWithTransient(_ connection: UInt64) {
        let now = layer.clock.now()
        transient.withLock { transient in
            guard transient[connection] != nil else { return }
            transient[connection]!.inUse = max(0, transient[connection]!.inUse - 1)
            transient[connection]!.last = now
        }
    }

    /// Closes transient sessions idle for ``transientIdleNanoseconds`` whose member SWIM's view does not hold alive.
    private func closeIdleTransients(now: UInt64) {
        let idle = transient.withLock { transient -> [UInt64] in
            let idle = transient.filter { $0.value.inUse == 0 && now > $0.value.last && now - $0.value.last >= Self.transientIdleNanoseconds }.map(\.key)
            for connection in idle { transient[connection] = nil }
            return idle
        }
        for connection in idle {
            if let node = layer.node(on: connection), layer.membership?.isAlive(Membership.member(node)) == true { continue }
            layer.transport.close(connection)
        }
    }

    /// The (member, address) pairs of a NODES answer: at most 2 k of them (a longer answer is cut, not trusted
    /// further), each address valid UTF-8 and non-empty.
    static func nodes(in payload: [UInt8]) -> [(MemberID, String)] {
        var out: [(MemberID, String)] = []
        var reader = ByteReader(payload)
        while out.count < 2 * replication, let member = reader.read(MemberID.self), let address = reader.prefixed(UInt8.self) {
            guard !address.isEmpty, let text = String(validating: address, as: UTF8.self) else { continue }
            out.append((member, text))
        }
        return out
    }

    private func announce(_ key: [UInt8], ttl: UInt32, now: UInt64) {
        guard let membership = layer.membership else { return }
        if membership.isPartial { return enqueueAnnouncement(key, ttl: ttl, still: nil) }
        announce(key, ttl: ttl, to: closestMembers(to: key).map { ($0, nil) })
    }

    /// Signs this node's record for `key` now and sends it to `closest` (keeping it here when this node is one).
    private func announce(_ key: [UInt8], ttl: UInt32, to closest: [(member: MemberID, connection: UInt64?)]) {
        guard let membership = layer.membership, let address = membership.advertisedAddress else { return }
        // Signed by this node, so every member that keeps or relays it can check that this node said it.
        let record = ProviderRecord(signing: key, address: address, ttl: ttl, lamport: layer.lamport.tick(), by: layer.identity)
        let payload = ProviderRecord.encode(key: key, record)
        for (member, connection) in closest {
            if member == membership.memberID {
                store.add(key, record, now: layer.clock.now(), verified: true)
                continue
            }
            if let connection = connection ?? layer.route(member) { try? layer.send(WireMessage(.provide, payload: payload), on: connection) }
        }
    }

    /// Queues an announcement of `key` for a partial view (its closest found by a lookup first). A key waiting
    /// already takes the newer intent; past ``announcementLimit`` the oldest waiting one is dropped (counted).
    private func enqueueAnnouncement(_ key: [UInt8], ttl: UInt32, still: (@Sendable () -> Bool)?) {
        let start = announcements.withLock { queue -> Int in
            if queue.pending.updateValue(PendingAnnouncement(ttl: ttl, still: still), forKey: key) == nil { queue.order.append(key) }
            while queue.order.count > Self.announcementLimit {
                queue.pending[queue.order.removeFirst()] = nil
                queue.dropped &+= 1
            }
            let start = min(Self.announcementWorkers - queue.workers, queue.order.count)
            queue.workers += max(0, start)
            return max(0, start)
        }
        for _ in 0..<start { PeerManager.spawn { [self] in await announceQueued() } }
    }

    /// An announcement worker: takes waiting keys one by one, finds each one's closest and sends the record
    /// there (and a withdrawal after it when its provision says the key went meanwhile).
    private func announceQueued() async {
        while let (key, pending) = announcements.withLock({ queue -> ([UInt8], PendingAnnouncement)? in
            guard !queue.order.isEmpty else {
                queue.workers -= 1
                return nil
            }
            let key = queue.order.removeFirst()
            return queue.pending.removeValue(forKey: key).map { (key, $0) }
        }) {
            let closest = await locate(key)
            announce(key, ttl: pending.ttl, to: closest)
            if let still = pending.still, !still() { announce(key, ttl: 0, to: closest) }
        }
    }

    /// Kademlia's join and bucket refresh, once SWIM's view is partial: every ``refreshNanoseconds`` (and at the
    /// first epoch with a partial view) a lookup of this node's own ID, which fills the near buckets (the members a
    /// key close to this node is closest to), and of a random key, which fills a far one. Without them the table
    /// held only what the view had shown — a random sample, with no near contacts to route the last hops through.
    private func refreshBuckets(now: UInt64) {
        guard let membership = layer.membership, membership.isPartial else { return }
        let due = refreshed.withLock { state -> Bool in
            guard !state.running, state.at == 0 || now < state.at || now - state.at >= Self.refreshNanoseconds else { return false }
            state = (now, true)
            return true
        }
        guard due else { return }
        var own = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: membership.memberID.bigEndian) { own.replaceSubrange(0..<8, with: $0) }
        var random = [UInt8](repeating: 0, count: 32)
        var generator = Xorshift(seed: membership.memberID ^ now)  // from the node's clock: a harness run repeats
        withUnsafeBytes(of: generator.next().bigEndian) { random.replaceSubrange(0..<8, with: $0) }
        PeerManager.spawn { [self, own, random] in
            defer { refreshed.withLock { $0.running = false } }
            _ = await locate(own)
            _ = await locate(random)
        }
    }

    /// Announces `key` as provided by this node (as `kind`) now, besides the periodic republishing.
    func announceNow(_ key: [UInt8], as kind: ProviderRecord.Kind) {
        guard key.count == 32, let ttl = provided.withLock({ $0[kind]?.ttl }) else { return }
        announce(kind.recordKey(key), ttl: ttl, now: layer.clock.now())
    }

    /// Withdraws this node's record for `key` (as `kind`): a newer record with a TTL of 0 replaces it at the
    /// members closest to the key, so askers stop being sent here before the old record would have expired.
    func withdraw(_ key: [UInt8], as kind: ProviderRecord.Kind) {
        guard key.count == 32 else { return }
        announce(kind.recordKey(key), ttl: 0, now: layer.clock.now())
    }

    /// The provider records this node keeps for `key` (a node close to the key keeps them all).
    func localProviders(_ key: [UInt8]) -> [ProviderRecord] { store.providers(of: key, now: layer.clock.now()) }

    /// Asks the peer on `connection` for the providers of `key`; with `recursive`, the peer also asks the members
    /// closest to the key and merges what they know.
    func findProviders(_ key: [UInt8], on connection: UInt64, recursive: Bool, timeout: Double) throws(MeshError) -> [ProviderRecord] {
        try Self.providers(in: try layer.request(.findProviders, payload: [recursive ? 1 : 0] + key, on: connection, timeout: timeout), key: key)
    }

    func findProviders(_ key: [UInt8], on connection: UInt64, recursive: Bool, timeout: Double) async throws(MeshError) -> [ProviderRecord] {
        try Self.providers(in: try await layer.request(.findProviders, payload: [recursive ? 1 : 0] + key, on: connection, timeout: timeout), key: key)
    }

    private static func providers(in answer: WireMessage, key: [UInt8]) throws(MeshError) -> [ProviderRecord] {
        guard answer.header.type == .providers else { throw MeshError(.unexpected, "unexpected answer \(answer.header.type) to a provider request") }
        return decodeProviders(answer.payload[...], key: key)
    }

    /// Asks the peer on `connection` for the members closest to `key`, with their addresses (FIND_NODE).
    func findNodes(_ key: [UInt8], on connection: UInt64, timeout: Double) throws(MeshError) -> [(MemberID, String)] {
        let answer = try layer.request(.findNode, payload: key, on: connection, timeout: timeout)
        guard answer.header.type == .nodes else { throw MeshError(.unexpected, "unexpected answer \(answer.header.type) to a node request") }
        return Self.nodes(in: answer.payload)
    }

    /// Kademlia's iterative lookup over the network, starting from the peer on `connection`: each round asks
    /// α = 3 of the closest members not yet asked for their closest members (FIND_NODE) and for the key's
    /// provider records (FIND_PROVIDERS), until a round brings nothing closer. Returns the providers found, the
    /// rounds it took and the members asked.
    func lookupProviders(_ key: [UInt8], from connection: UInt64, timeout: Double)
        throws(MeshError) -> (providers: [ProviderRecord], rounds: Int, asked: Int)
    {
        let point = Contacts.point
        let target = point(Contacts.target(of: key))
        var addresses: [Key256: String] = [:]
        var found: [MemberID: ProviderRecord] = [:]
        for (member, address) in try findNodes(key, on: connection, timeout: timeout) { addresses[point(member)] = address }
        for record in (try? findProviders(key, on: connection, recursive: false, timeout: timeout)) ?? [] { found[record.member] = record }
        var lookup = Lookup(target: target, start: Array(addresses.keys), k: Self.replication, alpha: 3)
        var asked = 1
        var sessions: [String: UInt64] = [:]
        while true {
            let round = lookup.nextRound()
            if round.isEmpty { break }
            for contact in round {
                guard let address = addresses[contact] else { lookup.answer(from: contact, nil); continue }
                asked += 1
                do throws(MeshError) {
                    let session: UInt64
                    if let known = sessions[address] { session = known } else { session = try layer.connect(address, timeout: timeout).0 }
                    sessions[address] = session
                    let nodes = try findNodes(key, on: session, timeout: timeout)
                    for (member, address) in nodes where addresses[point(member)] == nil { addresses[point(member)] = address }
                    lookup.answer(from: contact, nodes.map { point($0.0) })
                    for record in try findProviders(key, on: session, recursive: false, timeout: timeout)
                    where record.lamport >= found[record.member]?.lamport ?? 0 { found[record.member] = record }
                } catch {
                    lookup.answer(from: contact, nil)
                }
            }
        }
        for session in sessions.values { layer.transport.close(session) }
        return (found.values.sorted { $0.member < $1.member }, lookup.rounds, asked)
    }

    /// The records of a PROVIDERS answer for `key` that verify (``ProviderRecord/problem(key:)``): whoever
    /// relayed them, a record for another key, naming a member its public key is not, or with a bad signature
    /// is dropped.
    static func decodeProviders(_ payload: ArraySlice<UInt8>, key: [UInt8]) -> [ProviderRecord] {
        var rest = payload, out: [ProviderRecord] = []
        while let (recordKey, record, next) = ProviderRecord.decode(rest) {
            if recordKey == key && record.verifies(key: key) { out.append(record) }
            rest = next
        }
        return out
    }

    /// The epoch (once a second): expires records, and republishes what this node provides when due.
    func epoch(now: UInt64) {
        store.expire(now: now)
        closeIdleTransients(now: now)
        refreshBuckets(now: now)
        let due = provided.withLock { provided -> [(kind: ProviderRecord.Kind, value: Provision)] in
            var due: [(kind: ProviderRecord.Kind, value: Provision)] = []
            // Alone (before the first session, or cut off), an announcement reaches only this node's own store: it
            // stays due, so the records go out at the first epoch with a member, not a whole interval later.
            // (Tried again every 5 s meanwhile: a lone node with many resources does not sign them every epoch.)
            let alone = layer.membership?.aliveMembers.isEmpty ?? true
            for (kind, value) in provided where (now - value.last >= value.every || value.last == 0) && now >= value.retryAt {
                if alone {
                    provided[kind]!.retryAt = now.saturatingAdd(5_000_000_000)
                } else {
                    provided[kind]!.last = now
                }
                due.append((kind, value))
            }
            return due
        }
        if layer.membership?.isPartial == true {
            // Each key's closest members take a lookup: the keys join the announcement queue (one entry per key).
            for (kind, value) in due {
                for key in value.keys() where key.count == 32 { enqueueAnnouncement(kind.recordKey(key), ttl: value.ttl) { value.still(key) } }
            }
            return
        }
        for (kind, value) in due {
            for key in value.keys() where key.count == 32 {
                announce(kind.recordKey(key), ttl: value.ttl, now: now)
                if !value.still(key) { announce(kind.recordKey(key), ttl: 0, now: now) }
            }
        }
    }
}
