// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// Settings of the SWIM protocol, with memberlist's defaults for a LAN scaled to these machines.
public struct SwimConfiguration: Sendable {
    /// One probe round. Scaled by (awareness + 1) while this node suspects itself of being slow (Lifeguard).
    public var protocolPeriod: UInt64 = 1_000_000_000
    /// How long a direct probe waits before asking others to probe indirectly (also scaled).
    public var probeTimeout: UInt64 = 500_000_000
    /// Members asked to probe indirectly.
    public var indirectProbes = 3
    /// Suspicion lasts at least α·log10(N)·period, at most β times that; confirmations shorten it.
    public var suspicionMultiplier = 4.0
    public var suspicionMaxMultiplier = 6.0
    /// Each update is piggybacked λ·⌈log10(N+1)⌉ times.
    public var retransmitMultiplier = 4
    public var maxPiggyback = 16
    /// Lifeguard's local health: 0 (healthy) to this.
    public var maxAwareness = 8
    /// How far above a member's latest signed incarnation a suspect or dead update about it may go. Such
    /// updates are about others, so nobody can sign them; without a bound a slanderer names `UInt32.max` and the
    /// subject can never refute. With it, a member's incarnation only rises as far as its own signed claims allow
    /// plus this, and the subject (which refutes anything up to its own incarnation plus this) always can.
    public var suspicionWindow: UInt32 = 16
    /// The most members the view holds (this node included). Past it the view is partial: a newcomer takes the
    /// place of a member held dead whose death has finished spreading here, or — at most once per ``replacementRounds`` —
    /// of a random alive member (HyParView's passive view: a random sample of the mesh that keeps renewing, so
    /// memory does not grow with the mesh); otherwise it is dropped. Evicted members are reported
    /// (``SwimNode/Event/evicted(_:at:)``) so the node keeps them as routing contacts.
    public var maximumMembers = 10_000
    /// Protocol rounds between two replacements of an alive member in a full view: the view renews (every member
    /// replaced in about `maximumMembers` × this many seconds) without churning what repair and placement watch.
    /// At 1, a 30-host mesh with views of 8 evicted a member every second (the netns `partial` scenario).
    public var replacementRounds = 10
    /// How long a member must have been held dead before a full view may evict it for a newcomer: time for an
    /// honest member slandered dead to hear of it and refute (the dead probe every ``deadProbeRounds`` tells it).
    public var deadRetention: UInt64 = 30_000_000_000
    /// How long the view counts as partial after a newcomer with a signed claim last found it full.
    public var partialHold: UInt64 = 600_000_000_000
    /// Members evicted dead whose last incarnation is remembered (a stale alive claim of theirs is refused).
    public var maximumTombstones = 1024
    /// The most members one message may introduce. The member list answering this node's own join is exempt
    /// (up to ``maximumMembers``): bulk introduction is something a node asks for, not something a peer sends.
    public var maximumIntroductionsPerMessage = 8
    /// Events not yet taken by ``SwimNode/takeEvents()`` are kept up to this many (the oldest are dropped).
    public var maximumEvents = 1024
    /// Ping requests relayed for others at once; more are dropped (the requester sees a missed ack).
    public var maximumRelays = 256
    /// Every this many protocol rounds, one member held dead (at random) is pinged as well, the ping carrying
    /// its death (memberlist's gossip to the dead, Serf's reconnect). Nobody probes a member it holds dead, so
    /// without this the two sides of a healed partition never speak again: now each learns it was declared dead
    /// and refutes, and its answer brings it back. A member that is really gone does not answer. 0: never.
    public var deadProbeRounds = 5

    public init() {}
}

/// One node's SWIM membership, as a deterministic state machine: time comes in as an argument and messages
/// go out as return values, so the same code runs in the node (over the transport) and in the simulator
/// (virtual time, thousands of nodes in one process). Not thread-safe: one owner drives it.
///
/// SWIM (Das, Gupta, Motivala 2002) with Lifeguard (Dadgar et al. 2018): direct probes, indirect probes
/// through k others, suspicion before death with a timeout that grows with log N and shrinks with independent
/// confirmations, refutation by a higher incarnation, local health awareness that slows a node that misses
/// acks, and infection-style dissemination piggybacked on protocol messages.
public final class SwimNode {
    public struct Outbound: Sendable, Equatable {
        public var to: MemberID
        public var message: SwimMessage
    }

    /// What happened, for metrics and logs.
    public enum Event: Sendable, Equatable {
        case suspected(MemberID, at: UInt64)
        case declaredDead(MemberID, at: UInt64)
        case refuted(incarnation: UInt32, at: UInt64)
        case joined(MemberID, at: UInt64)
        /// Taken out of a full view to make room for a newcomer (``SwimConfiguration/maximumMembers``).
        case evicted(MemberID, at: UInt64)
    }

    /// 8 bytes: a 10,000-node simulation holds 10⁸ of them.
    struct Member {
        var status: MemberStatus
        var incarnation: UInt32
    }

    struct Suspicion {
        var started: UInt64
        var confirmations: Set<MemberID>
    }

    struct Probe {
        var target: MemberID
        var sequence: UInt32
        var sentAt: UInt64
        var roundEnd: UInt64
        var indirect = false
        var acked = false
    }

    struct Relay {
        var requester: MemberID
        var sequence: UInt32
        var deadline: UInt64
    }

    struct Broadcast {
        var update: MemberUpdate
        var transmits: Int
    }

    public let id: MemberID
    public let configuration: SwimConfiguration
    /// Signs this node's alive claims and checks other members' (docs/security.md, "Signed membership and gossip").
    public let credentials: MemberCredentials
    public private(set) var incarnation: UInt32 = 0
    /// Set only by a node that shares one clock among its services (it loads the node's time before a call).
    public package(set) var clock = LamportClock()
    public private(set) var awareness = 0
    /// Events not yet taken (at most ``SwimConfiguration/maximumEvents``, newest kept).
    public private(set) var events: [Event] = []
    /// Events dropped because nobody took them in time.
    public private(set) var droppedEvents = 0
    /// Where members can be reached: from their verified claims, or where this node dialed them.
    public private(set) var addresses: [MemberID: String] = [:]

    var members: [MemberID: Member] = [:]
    /// How many times the alive members, or where one can be reached, changed here: a member joined, fell under
    /// suspicion (or was learned dead), refuted it, came back or claimed a new address. (A suspect declared dead
    /// changes nothing: it had left the alive members already.) Services that act on the alive members —
    /// repair, placement — watch it to act when the mesh changes rather than only on their timers.
    public private(set) var aliveViewChanges: UInt64 = 0
    /// Whether the view is partial: within ``SwimConfiguration/partialHold`` a newcomer that proved itself (an
    /// authenticated sender, a signed claim) found it full, so this node no longer knows the whole mesh and
    /// lookups must route (Kademlia) rather than read the view. Members introduced only by others' word (unsigned,
    /// or suspect or dead) never make it so: a peer cannot flip a small mesh into routing with invented IDs.
    public var isPartial: Bool { fullAt.map { latest >= $0 && latest - $0 < configuration.partialHold } ?? false }
    /// When a proven newcomer last found the view full (nil: never).
    private var fullAt: UInt64?
    /// The latest time this node was driven at.
    private var latest: UInt64 = 0
    /// When each member held dead was last found or learned dead here.
    private var deadSince: [MemberID: UInt64] = [:]
    /// Members evicted while held dead, with their incarnation then, oldest first (bounded).
    private var tombstones: [MemberID: UInt32] = [:]
    private var tombstoneOrder: [MemberID] = []
    /// Members evicted from a full view since this node started.
    public private(set) var evictions: UInt64 = 0
    /// Each member's latest verified alive claim (its own signed update), relayed as it is in join answers.
    /// This node's own is here too, signed when its incarnation or address changes.
    private var claims: [MemberID: MemberUpdate] = [:]
    /// Seeds this node asked to join through: their member lists may introduce members in bulk, once each.
    private var pendingJoins: Set<MemberID> = []
    /// Members introduced by the message being handled.
    private var introduced = 0
    /// The protocol round an alive member was last evicted in (nil: never).
    private var replacedInRound: Int?
    /// Whether the message being handled already found no room: later newcomers in it find none either (so a
    /// full view does not scan itself once per update of a long member list).
    private var roomRefused = false
    /// Members held dead evicted in the current protocol round (at most ``maximumIntroductionsPerMessage``).
    private var deadEvictedThisRound = 0
    /// Members under suspicion, kept apart so expiring suspicions does not scan the whole table each tick.
    private var suspicions: [MemberID: Suspicion] = [:]
    private var probeOrder: [MemberID] = []
    private var probeIndex = 0
    private var probe: Probe?
    private var relays: [UInt32: Relay] = [:]
    private var broadcasts: [MemberID: Broadcast] = [:]
    private var nextSequence: UInt32 = 1
    private var rounds = 0
    private var nextRound: UInt64
    private var random: UInt64

    /// `incarnation` is where this node's claims start. A node that may have run before under the same ID starts
    /// above anything its previous life claimed (the node passes its wall clock's seconds): the mesh may hold that
    /// life dead at its last incarnation, and an alive claim at the same incarnation does not override a death, so
    /// a restarted node that started at 0 stayed dead everywhere until each member's answer told it so and its
    /// refutation had spread — 16–18 s after nine nodes restarted at once in the 30-host chaos runs.
    public init(
        id: MemberID, configuration: SwimConfiguration = .init(), credentials: MemberCredentials, seed: UInt64, now: UInt64, address: String = "",
        incarnation: UInt32 = 0
    ) {
        self.id = id
        if !address.isEmpty { addresses[id] = address }
        self.configuration = configuration
        self.credentials = credentials
        self.incarnation = incarnation
        random = seed | 1
        nextRound = now
        members[id] = Member(status: .alive, incarnation: incarnation)
    }

    // MARK: Views

    /// Members and what this node believes of each (itself included).
    public var view: [MemberID: MemberStatus] { members.mapValues(\.status) }
    public var aliveCount: Int { members.values.filter { $0.status != .dead }.count }
    public func status(of member: MemberID) -> MemberStatus? { members[member]?.status }
    /// The incarnation this node last heard for `member` (its own for ``id``).
    public func incarnation(of member: MemberID) -> UInt32? { member == id ? incarnation : members[member]?.incarnation }

    /// Starts with `ids` known alive at incarnation 0, as in a mesh that has converged (the simulator's
    /// starting point); nothing is broadcast.
    public func assumeMembers(_ ids: some Sequence<MemberID>) {
        for member in ids where member != id && members.count < configuration.maximumMembers {
            members[member] = Member(status: .alive, incarnation: 0)
        }
    }

    /// The events since the last call, oldest first.
    public func takeEvents() -> [Event] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    // MARK: Driving

    /// Asks `seeds` to let this node in; their answers carry the member list.
    public func join(seeds: [MemberID], now: UInt64) -> [Outbound] {
        // The join carries this node's own signed claim, so the seed learns where to reach it.
        let me = selfClaim()
        pendingJoins.formUnion(seeds.filter { $0 != id })
        return seeds.filter { $0 != id }.map { Outbound(to: $0, message: SwimMessage(.join, lamport: clock.tick(), updates: [me])) }
    }

    /// Records where a member can be reached (a node learns it from the connection it came in on).
    public func setAddress(_ address: String, of member: MemberID) {
        guard member != id, !address.isEmpty else { return }
        addresses[member] = address
    }

    /// Advances time: concludes probe rounds, starts new ones, expires suspicions and relays.
    public func tick(now: UInt64) -> [Outbound] {
        latest = max(latest, now)
        var out: [Outbound] = []
        let scale = UInt64(awareness + 1)
        if var current = probe, !current.acked {
            if !current.indirect && now >= current.sentAt + configuration.probeTimeout * scale {
                current.indirect = true
                probe = current
                for helper in pick(configuration.indirectProbes, excluding: [id, current.target]) {
                    out.append(Outbound(to: helper, message: message(.pingRequest(sequence: current.sequence, target: current.target))))
                }
            }
            if now >= current.roundEnd {
                probe = nil
                awareness = min(configuration.maxAwareness, awareness + 1)  // a missed ack: maybe we are the slow one
                suspect(current.target, incarnation: members[current.target]?.incarnation ?? 0, by: id, now: now)
                // Tell the suspect itself at once (the buddy system carries the suspicion): if only messages were
                // lost, it refutes in its answer instead of after the suspicion has spread through the mesh.
                out.append(Outbound(to: current.target, message: message(.ping(sequence: takeSequence()), to: current.target)))
            }
        }
        if now >= nextRound {
            if let finished = probe, finished.acked { probe = nil }
            nextRound = now + configuration.protocolPeriod * UInt64(awareness + 1)
            deadEvictedThisRound = 0
            if probe == nil, let target = nextTarget() {
                let sequence = takeSequence()
                probe = Probe(target: target, sequence: sequence, sentAt: now, roundEnd: nextRound)
                out.append(Outbound(to: target, message: message(.ping(sequence: sequence), to: target)))
            }
            rounds &+= 1
            if configuration.deadProbeRounds > 0, rounds % configuration.deadProbeRounds == 0, let dead = randomDeadMember() {
                // Not a probe: no round, no suspicion. Its answer carries the refutation, which the ping asked for.
                out.append(Outbound(to: dead, message: message(.ping(sequence: takeSequence()), to: dead)))
            }
        }
        for (member, suspicion) in suspicions {
            guard let state = members[member], state.status == .suspect else {
                suspicions[member] = nil
                continue
            }
            guard now >= suspicion.started + suspicionTimeout(confirmations: suspicion.confirmations.count) else { continue }
            suspicions[member] = nil
            members[member]?.status = .dead
            deadSince[member] = now
            record(.declaredDead(member, at: now))
            enqueue(MemberUpdate(member: member, status: .dead, incarnation: state.incarnation, lamport: clock.tick()))
        }
        for (sequence, relay) in relays where now >= relay.deadline {
            relays[sequence] = nil
            out.append(Outbound(to: relay.requester, message: message(.nack(sequence: relay.sequence))))
        }
        return out
    }

    /// Handles a message from `sender`.
    public func receive(_ incoming: SwimMessage, from sender: MemberID, now: UInt64) -> [Outbound] {
        // This node's own ID as the sender: a session with itself (its client dialed its own address), or a forged
        // member ID. Either way it is not a peer's word, and answering it would talk to itself (found by fuzzing).
        guard sender != id else { return [] }
        latest = max(latest, now)
        clock.witness(incoming.lamport)
        introduced = 0
        roomRefused = false
        // The sender is who the transport authenticated, not a claim: it joins the view (making room when full).
        if members[sender] == nil, makeRoom(now: now, proven: true) {
            members[sender] = Member(status: .alive, incarnation: 0)
            aliveViewChanges &+= 1
        }
        for update in incoming.updates { apply(update, from: sender, now: now) }
        switch incoming.kind {
        case .ping(let sequence):
            // To the sender: if we hold it suspect or dead, the ack says so, and it can refute.
            return [Outbound(to: sender, message: message(.ack(sequence: sequence), to: sender))]
        case .ack(let sequence):
            if var current = probe, current.sequence == sequence {
                current.acked = true
                probe = current
                awareness = max(0, awareness - 1)
            } else if let relay = relays.removeValue(forKey: sequence) {
                return [Outbound(to: relay.requester, message: message(.ack(sequence: relay.sequence)))]
            }
        case .pingRequest(let sequence, let target):
            guard relays.count < configuration.maximumRelays else { return [] }
            let mine = takeSequence()
            relays[mine] = Relay(requester: sender, sequence: sequence, deadline: now + configuration.probeTimeout)
            return [Outbound(to: target, message: message(.ping(sequence: mine), to: target))]
        case .nack:
            break  // the relay is alive and answered: no penalty for our own health
        case .join:
            if let known = members[sender] {
                if known.status != .alive { aliveViewChanges &+= 1 }
                members[sender] = Member(status: .alive, incarnation: known.incarnation)
                record(.joined(sender, at: now))
                // Spread the joiner's own claim (it came with the join) so others learn its address, or at
                // least that it exists.
                if let claim = claims[sender], claim.incarnation == known.incarnation {
                    enqueue(claim)
                } else {
                    enqueue(MemberUpdate(member: sender, status: .alive, incarnation: known.incarnation, lamport: clock.tick()))
                }
            }
            return [Outbound(to: sender, message: message(.members(snapshot()), piggyback: false))]
        case .members(let list):
            let bulk = pendingJoins.remove(sender) != nil
            for update in list { apply(update, from: sender, now: now, bulk: bulk) }
        }
        return []
    }

    // MARK: Updates

    /// Applies one update, in this order: about this node → refute (or catch up with its own older claim);
    /// about an unknown member → introduce within the caps; otherwise SWIM's precedence decides, and only an
    /// update that wins changes anything — an alive update must also be the member's verified claim to raise
    /// its incarnation or set its address, and a suspicion may not name an incarnation beyond the window.
    private func apply(_ update: MemberUpdate, from sender: MemberID, now: UInt64, bulk: Bool = false) {
        if update.member == id { return applyAboutSelf(update, now: now) }
        guard let known = members[update.member] else { return introduce(update, from: sender, now: now, bulk: bulk) }
        switch update.status {
        case .alive:
            // A newer incarnation wins; so does a first claim at the incarnation of an unsigned record (it brings
            // the address and the signature). Either way the claim must verify.
            let firstClaim = known.status == .alive && update.incarnation == known.incarnation
                && (claims[update.member]?.incarnation).map { $0 < update.incarnation } ?? true
            guard update.overrides(known.status, known.incarnation) || firstClaim, update.isVerifiedClaim(credentials) else { return }
            if known.status != .alive { aliveViewChanges &+= 1 }
            members[update.member] = Member(status: .alive, incarnation: update.incarnation)
            suspicions[update.member] = nil
            deadSince[update.member] = nil
            accept(claim: update)
        case .suspect, .dead:
            guard update.incarnation <= suspicionLimit(update.member) else { return }
            if update.status == .suspect, known.status == .suspect, update.incarnation == known.incarnation {
                // An independent confirmation; beyond k + 1 of them the timeout is at its minimum already.
                if let suspicion = suspicions[update.member], suspicion.confirmations.count <= configuration.indirectProbes {
                    suspicions[update.member]?.confirmations.insert(sender)
                }
                return
            }
            guard update.overrides(known.status, known.incarnation) else { return }
            if known.status == .alive { aliveViewChanges &+= 1 }
            members[update.member] = Member(status: update.status, incarnation: update.incarnation)
            if update.status == .suspect {
                suspicions[update.member] = Suspicion(started: now, confirmations: [sender])
                record(.suspected(update.member, at: now))
            } else {
                suspicions[update.member] = nil
                deadSince[update.member] = now
            }
            enqueue(unsigned(update))
        }
    }

    private func applyAboutSelf(_ update: MemberUpdate, now: UInt64) {
        switch update.status {
        case .alive:
            // A claim of ours that this process did not make (the one it makes is in `claims`) comes from a
            // previous life — before a restart whose starting incarnation was not above it (the clock went back,
            // or that life refuted more often than once a second). The mesh may hold that life dead at that very
            // incarnation, and an equal alive claim does not override a death: claim the next one. Anything not
            // signed by us is ignored.
            guard update.incarnation >= incarnation, update.isVerifiedClaim(credentials) else { return }
            if let current = claims[id], current.incarnation == update.incarnation, current.address == update.address { return }
            incarnation = Self.refutation(of: update.incarnation)
            members[id] = Member(status: .alive, incarnation: incarnation)
            enqueue(selfClaim())
        case .suspect, .dead:
            // Somebody thinks we are suspect or dead: refute with a newer incarnation (Lifeguard: and slow down).
            // Beyond the window no other member accepts the suspicion, so it needs no answer — and answering
            // would let a slanderer walk this node's incarnation to UInt32.max.
            guard update.incarnation <= incarnation.saturatingAdd(configuration.suspicionWindow) else { return }
            guard update.incarnation >= incarnation else {
                // A stale suspicion or death (we refuted it already, but the sender never heard): no new
                // incarnation, but our claim goes out again, so the sender catches up. Without this, a member that
                // declared us dead just before our refutation stopped spreading held us dead until it was
                // reaped (found by the netns chaos harness: one node kept another dead 60 s after a partition).
                enqueue(selfClaim())
                return
            }
            incarnation = Self.refutation(of: update.incarnation)
            members[id] = Member(status: .alive, incarnation: incarnation)
            awareness = min(configuration.maxAwareness, awareness + 1)
            record(.refuted(incarnation: incarnation, at: now))
            enqueue(selfClaim())
        }
    }

    /// A member this node has not heard of: at most ``SwimConfiguration/maximumIntroductionsPerMessage`` per
    /// message (unless `bulk`) and ``SwimConfiguration/maximumMembers`` in all; beyond, dropped. An alive update
    /// that is not the member's verified claim introduces it at incarnation 0 without an address.
    private func introduce(_ update: MemberUpdate, from sender: MemberID, now: UInt64, bulk: Bool) {
        guard bulk || introduced < configuration.maximumIntroductionsPerMessage else { return }
        // Checked before any room is made: an update that would not be applied evicts nobody.
        let verified = update.status == .alive && update.isVerifiedClaim(credentials)
        if update.status != .alive, update.incarnation > suspicionLimit(update.member) { return }
        // A member evicted dead comes back only with a claim newer than the death (an old claim is a zombie).
        if let buried = tombstones[update.member], update.status != .alive || !verified || update.incarnation <= buried { return }
        guard makeRoom(now: now, proven: verified) else { return }
        switch update.status {
        case .alive:
            aliveViewChanges &+= 1
            if verified {
                members[update.member] = Member(status: .alive, incarnation: update.incarnation)
                accept(claim: update)
            } else {
                members[update.member] = Member(status: .alive, incarnation: 0)
                enqueue(MemberUpdate(member: update.member, status: .alive, incarnation: 0, lamport: update.lamport))
            }
        case .suspect, .dead:
            members[update.member] = Member(status: update.status, incarnation: update.incarnation)
            if update.status == .suspect {
                suspicions[update.member] = Suspicion(started: now, confirmations: [sender])
                record(.suspected(update.member, at: now))
            } else {
                deadSince[update.member] = now
            }
            enqueue(unsigned(update))
        }
        introduced += 1
    }

    /// Room for one member more: yes below ``SwimConfiguration/maximumMembers``. In a full view only a `proven`
    /// newcomer (an authenticated sender, a signed claim) gets room; an unsigned, suspect or dead update about an
    /// unknown member is dropped. Room is made by evicting, in this order: a member held dead for
    /// ``SwimConfiguration/deadRetention`` whose death has finished spreading from here (at most
    /// ``SwimConfiguration/maximumIntroductionsPerMessage`` a round; its incarnation stays as a tombstone), then —
    /// once per ``SwimConfiguration/replacementRounds`` rounds — a random alive member, one without a signed claim
    /// first. Never this node, the probe's target, a suspect or a seed being joined.
    private func makeRoom(now: UInt64, proven: Bool) -> Bool {
        guard members.count >= configuration.maximumMembers else { return true }
        if proven { fullAt = now }
        guard proven, !roomRefused else { return false }
        var excluded: Set<MemberID> = [id]
        if let target = probe?.target { excluded.insert(target) }
        excluded.formUnion(pendingJoins)
        if deadEvictedThisRound < configuration.maximumIntroductionsPerMessage,
            let dead = deadSince.first(where: { member, since in
                now >= since && now - since >= configuration.deadRetention && broadcasts[member] == nil && !excluded.contains(member)
                    && members[member]?.status == .dead
            })?.key
        {
            deadEvictedThisRound += 1
            bury(dead, incarnation: members[dead]?.incarnation ?? 0)
            evict(dead, now: now)
            return true
        }
        if let last = replacedInRound, rounds &- last < max(1, configuration.replacementRounds) {
            roomRefused = true
            return false
        }
        excluded.formUnion(suspicions.keys)
        let unsigned = members.filter { !excluded.contains($0.key) && $0.value.status == .alive && claims[$0.key] == nil }.map(\.key).sorted()
        guard let victim = unsigned.isEmpty ? pick(1, excluding: excluded).first : unsigned[Int(nextRandom() % UInt64(unsigned.count))] else {
            roomRefused = true
            return false
        }
        replacedInRound = rounds
        aliveViewChanges &+= 1
        evict(victim, now: now)
        return true
    }

    /// Remembers that `member` was evicted dead at `incarnation` (the oldest tombstone goes past the bound).
    private func bury(_ member: MemberID, incarnation: UInt32) {
        if tombstones.updateValue(incarnation, forKey: member) == nil { tombstoneOrder.append(member) }
        while tombstoneOrder.count > max(0, configuration.maximumTombstones) {
            tombstones[tombstoneOrder.removeFirst()] = nil
        }
    }

    /// Forgets `member` and everything kept about it.
    private func evict(_ member: MemberID, now: UInt64) {
        members[member] = nil
        claims[member] = nil
        addresses[member] = nil
        suspicions[member] = nil
        broadcasts[member] = nil
        deadSince[member] = nil
        evictions &+= 1
        record(.evicted(member, at: now))
    }

    /// Records a verified claim that won: the member's address and the signed update to relay.
    private func accept(claim: MemberUpdate) {
        claims[claim.member] = claim
        if !claim.address.isEmpty, addresses[claim.member] != claim.address {
            addresses[claim.member] = claim.address
            aliveViewChanges &+= 1
        }
        enqueue(claim)
    }

    /// The highest incarnation a suspect or dead update about `member` may name: its latest signed
    /// incarnation (0 if none) plus the window — not the incarnation last stored, or accepted suspicions could
    /// ratchet it up 16 at a time.
    private func suspicionLimit(_ member: MemberID) -> UInt32 {
        (claims[member]?.incarnation ?? 0).saturatingAdd(configuration.suspicionWindow)
    }

    /// This node's alive claim at its current incarnation and address, signed once per change.
    private func selfClaim() -> MemberUpdate {
        let address = addresses[id] ?? ""
        if var claim = claims[id], claim.incarnation == incarnation, claim.address == address {
            claim.lamport = clock.tick()
            return claim
        }
        var claim = MemberUpdate(member: id, status: .alive, incarnation: incarnation, lamport: clock.tick(), address: address)
        claim.signature = credentials.sign(claim.claimBytes)
        claims[id] = claim
        return claim
    }

    /// A suspect or dead update as relayed: no address or signature (neither would be applied).
    private func unsigned(_ update: MemberUpdate) -> MemberUpdate {
        MemberUpdate(member: update.member, status: update.status, incarnation: update.incarnation, lamport: update.lamport)
    }

    /// The answer to a join: each member's verified claim (so the joiner learns addresses it can check), then
    /// its current state when that differs.
    private func snapshot() -> [MemberUpdate] {
        var out: [MemberUpdate] = []
        out.reserveCapacity(members.count)
        _ = selfClaim()
        for (member, state) in members.sorted(by: { $0.key < $1.key }) {
            let claim = claims[member]
            if let claim { out.append(claim) }
            if claim == nil || claim!.incarnation != state.incarnation || state.status != .alive {
                out.append(MemberUpdate(member: member, status: state.status, incarnation: state.incarnation, lamport: clock.time))
            }
        }
        return out
    }

    private func record(_ event: Event) {
        if events.count >= configuration.maximumEvents {
            let excess = events.count - configuration.maximumEvents + 1
            events.removeFirst(excess)
            droppedEvents += excess
        }
        events.append(event)
    }

    /// Where a node's incarnation starts: its wall clock's whole seconds since 2025-01-01, so each start claims
    /// more than its previous life did (unless that life refuted more than once a second on average, or the clock
    /// went back: then the mesh's answers carry the old claim, and the node claims past it). Leaves 2^24
    /// refutations of room below `UInt32.max`; a clock before 2025, NaN or infinite gives 0. Never traps.
    public static func startingIncarnation(wallSeconds: Double) -> UInt32 {
        let seconds = wallSeconds - 1_735_689_600
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return UInt32(min(seconds, Double(UInt32.max - (1 << 24))))
    }

    /// The incarnation that refutes a suspicion or death at `incarnation`: the next one, saturating at
    /// `UInt32.max`. A node already at `UInt32.max` — only a peer's forged update gets it there, 2^32 refutations
    /// being out of reach otherwise — answers with `UInt32.max` again, which does not override a suspicion at
    /// the same incarnation: it can no longer refute, and is declared dead where the suspicion spreads, until it
    /// rejoins under a new identity. That is the one outcome; the node itself keeps running.
    static func refutation(of incarnation: UInt32) -> UInt32 { incarnation.saturatingAdd(1) }

    private func suspect(_ member: MemberID, incarnation: UInt32, by reporter: MemberID, now: UInt64) {
        apply(MemberUpdate(member: member, status: .suspect, incarnation: incarnation, lamport: clock.tick()), from: reporter, now: now)
    }

    /// Lifeguard's dynamic suspicion timeout: from β·min down to min as confirmations arrive.
    func suspicionTimeout(confirmations: Int) -> UInt64 {
        let n = Double(max(members.count, 2))
        let minimum = configuration.suspicionMultiplier * max(1, log10(n)) * Double(configuration.protocolPeriod)
        let maximum = configuration.suspicionMaxMultiplier * minimum
        let expected = Double(configuration.indirectProbes)
        let fraction = log(Double(max(confirmations - 1, 0)) + 1) / log(expected + 1)
        return UInt64(max(minimum, maximum - (maximum - minimum) * min(1, fraction)))
    }

    // MARK: Dissemination

    private func enqueue(_ update: MemberUpdate) {
        broadcasts[update.member] = Broadcast(update: update, transmits: 0)
    }

    private var retransmitLimit: Int {
        configuration.retransmitMultiplier * Int(ceil(log10(Double(members.count + 1))))
    }

    /// A message with piggybacked updates, least-sent first. Lifeguard's buddy system: a message to a member we
    /// suspect (or hold dead) always carries that status, so the member learns of it at once and can refute it.
    /// A probe also carries the prober's own signed claim (memberlist's pings carry their source's address): a
    /// member that missed the prober's join — its broadcasts lost, or sent before it joined — learns the address
    /// at the prober's next probe, so every view fills within a round-robin of probes, loss or not (found by the
    /// chaos harness: at 30 hosts a node knew two members by ID only, and could never reach them).
    private func message(_ kind: SwimMessage.Kind, piggyback: Bool = true, to target: MemberID? = nil) -> SwimMessage {
        var updates: [MemberUpdate] = []
        if let target, let state = members[target], state.status != .alive {
            updates.append(MemberUpdate(member: target, status: state.status, incarnation: state.incarnation, lamport: clock.time))
        }
        if case .ping = kind, !(addresses[id] ?? "").isEmpty {
            updates.append(selfClaim())
        }
        if piggyback && !broadcasts.isEmpty {
            let limit = retransmitLimit
            let chosen = broadcasts.values.sorted { $0.transmits < $1.transmits }.prefix(configuration.maxPiggyback - updates.count)
            for broadcast in chosen where broadcast.update.member != id || updates.allSatisfy({ $0.member != id }) {
                updates.append(broadcast.update)
                let transmits = broadcast.transmits + 1
                if transmits >= limit { broadcasts[broadcast.update.member] = nil } else { broadcasts[broadcast.update.member]?.transmits = transmits }
            }
        }
        return SwimMessage(kind, lamport: clock.tick(), updates: updates)
    }

    // MARK: Choosing members

    private func takeSequence() -> UInt32 {
        defer { nextSequence &+= 1 }
        return nextSequence
    }

    private func nextRandom() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }

    /// Round-robin over a shuffled list of live members, reshuffled each pass (SWIM's time-bounded detection).
    private func nextTarget() -> MemberID? {
        for _ in 0..<2 {
            while probeIndex < probeOrder.count {
                let candidate = probeOrder[probeIndex]
                probeIndex += 1
                if candidate != id, let member = members[candidate], member.status != .dead { return candidate }
            }
            probeOrder = members.keys.filter { $0 != id && members[$0]?.status != .dead }.sorted()
            for i in stride(from: probeOrder.count - 1, to: 0, by: -1) {
                probeOrder.swapAt(i, Int(nextRandom() % UInt64(i + 1)))
            }
            probeIndex = 0
            if probeOrder.isEmpty { return nil }
        }
        return nil
    }

    private func randomDeadMember() -> MemberID? {
        let dead = members.filter { $0.key != id && $0.value.status == .dead }.map(\.key).sorted()
        return dead.isEmpty ? nil : dead[Int(nextRandom() % UInt64(dead.count))]
    }

    private func pick(_ count: Int, excluding: Set<MemberID>) -> [MemberID] {
        let candidates = members.filter { !excluding.contains($0.key) && $0.value.status == .alive }.map(\.key).sorted()
        guard candidates.count > count else { return candidates }
        var chosen: Set<MemberID> = []
        while chosen.count < count { chosen.insert(candidates[Int(nextRandom() % UInt64(candidates.count))]) }
        return chosen.sorted()
    }
}

