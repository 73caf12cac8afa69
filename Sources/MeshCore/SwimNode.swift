// SPDX-License-Identifier: Apache-2.0
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
    public private(set) var incarnation: UInt32 = 0
    public private(set) var clock = LamportClock()
    public private(set) var awareness = 0
    public private(set) var events: [Event] = []
    /// Where members can be reached, as updates told us (for the node to dial them).
    public private(set) var addresses: [MemberID: String] = [:]

    var members: [MemberID: Member] = [:]
    /// Members under suspicion, kept apart so expiring suspicions does not scan the whole table each tick.
    private var suspicions: [MemberID: Suspicion] = [:]
    private var probeOrder: [MemberID] = []
    private var probeIndex = 0
    private var probe: Probe?
    private var relays: [UInt32: Relay] = [:]
    private var broadcasts: [MemberID: Broadcast] = [:]
    private var nextSequence: UInt32 = 1
    private var nextRound: UInt64
    private var random: UInt64

    public init(id: MemberID, configuration: SwimConfiguration = .init(), seed: UInt64, now: UInt64, address: String = "") {
        self.id = id
        if !address.isEmpty { addresses[id] = address }
        self.configuration = configuration
        random = seed | 1
        nextRound = now
        members[id] = Member(status: .alive, incarnation: 0)
    }

    // MARK: Views

    /// Members and what this node believes of each (itself included).
    public var view: [MemberID: MemberStatus] { members.mapValues(\.status) }
    public var aliveCount: Int { members.values.filter { $0.status != .dead }.count }
    public func status(of member: MemberID) -> MemberStatus? { members[member]?.status }

    /// Starts with `ids` known alive at incarnation 0, as in a mesh that has converged (the simulator's
    /// starting point); nothing is broadcast.
    public func assumeMembers(_ ids: some Sequence<MemberID>) {
        for member in ids where member != id { members[member] = Member(status: .alive, incarnation: 0) }
    }

    // MARK: Driving

    /// Asks `seeds` to let this node in; their answers carry the member list.
    public func join(seeds: [MemberID], now: UInt64) -> [Outbound] {
        // The join carries this node's own record, so the seed learns where to reach it.
        let me = MemberUpdate(member: id, status: .alive, incarnation: incarnation, lamport: clock.tick(), address: addresses[id] ?? "")
        return seeds.filter { $0 != id }.map { Outbound(to: $0, message: SwimMessage(.join, lamport: clock.tick(), updates: [me])) }
    }

    /// Records where a member can be reached (a node learns it from the connection it came in on).
    public func setAddress(_ address: String, of member: MemberID) {
        guard member != id, !address.isEmpty else { return }
        addresses[member] = address
    }

    /// Advances time: concludes probe rounds, starts new ones, expires suspicions and relays.
    public func tick(now: UInt64) -> [Outbound] {
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
            if probe == nil, let target = nextTarget() {
                let sequence = takeSequence()
                probe = Probe(target: target, sequence: sequence, sentAt: now, roundEnd: nextRound)
                out.append(Outbound(to: target, message: message(.ping(sequence: sequence), to: target)))
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
            events.append(.declaredDead(member, at: now))
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
        clock.witness(incoming.lamport)
        if members[sender] == nil { members[sender] = Member(status: .alive, incarnation: 0) }
        for update in incoming.updates { apply(update, from: sender, now: now) }
        switch incoming.kind {
        case .ping(let sequence):
            return [Outbound(to: sender, message: message(.ack(sequence: sequence)))]
        case .ack(let sequence):
            if var current = probe, current.sequence == sequence {
                current.acked = true
                probe = current
                awareness = max(0, awareness - 1)
            } else if let relay = relays.removeValue(forKey: sequence) {
                return [Outbound(to: relay.requester, message: message(.ack(sequence: relay.sequence)))]
            }
        case .pingRequest(let sequence, let target):
            let mine = takeSequence()
            relays[mine] = Relay(requester: sender, sequence: sequence, deadline: now + configuration.probeTimeout)
            return [Outbound(to: target, message: message(.ping(sequence: mine), to: target))]
        case .nack:
            break  // the relay is alive and answered: no penalty for our own health
        case .join:
            members[sender] = Member(status: .alive, incarnation: members[sender]?.incarnation ?? 0)
            events.append(.joined(sender, at: now))
            enqueue(MemberUpdate(member: sender, status: .alive, incarnation: members[sender]!.incarnation, lamport: clock.tick()))
            let snapshot = members.map {
                MemberUpdate(member: $0.key, status: $0.value.status, incarnation: $0.value.incarnation, lamport: clock.time, address: addresses[$0.key] ?? "")
            }
            return [Outbound(to: sender, message: message(.members(snapshot), piggyback: false))]
        case .members(let list):
            for update in list { apply(update, from: sender, now: now) }
        }
        return []
    }

    // MARK: Updates

    private func apply(_ update: MemberUpdate, from sender: MemberID, now: UInt64) {
        if !update.address.isEmpty, update.member != id { addresses[update.member] = update.address }
        if update.member == id {
            // Somebody thinks we are suspect or dead: refute with a newer incarnation (Lifeguard: and slow down).
            guard update.status != .alive, update.incarnation >= incarnation else { return }
            incarnation = Self.refutation(of: update.incarnation)
            members[id] = Member(status: .alive, incarnation: incarnation)
            awareness = min(configuration.maxAwareness, awareness + 1)
            events.append(.refuted(incarnation: incarnation, at: now))
            enqueue(MemberUpdate(member: id, status: .alive, incarnation: incarnation, lamport: clock.tick()))
            return
        }
        guard let known = members[update.member] else {
            members[update.member] = Member(status: update.status, incarnation: update.incarnation)
            if update.status == .suspect {
                suspicions[update.member] = Suspicion(started: now, confirmations: [sender])
                events.append(.suspected(update.member, at: now))
            }
            enqueue(update)
            return
        }
        if update.status == .suspect, known.status == .suspect, update.incarnation == known.incarnation {
            suspicions[update.member]?.confirmations.insert(sender)  // an independent confirmation
            return
        }
        guard update.overrides(known.status, known.incarnation) else { return }
        switch update.status {
        case .alive:
            members[update.member] = Member(status: .alive, incarnation: update.incarnation)
            suspicions[update.member] = nil
        case .suspect:
            members[update.member] = Member(status: .suspect, incarnation: update.incarnation)
            suspicions[update.member] = Suspicion(started: now, confirmations: [sender])
            events.append(.suspected(update.member, at: now))
        case .dead:
            members[update.member] = Member(status: .dead, incarnation: update.incarnation)
        }
        enqueue(update)
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
        var update = update
        if update.address.isEmpty, let address = addresses[update.member] { update.address = address }
        broadcasts[update.member] = Broadcast(update: update, transmits: 0)
    }

    private var retransmitLimit: Int {
        configuration.retransmitMultiplier * Int(ceil(log10(Double(members.count + 1))))
    }

    /// A message with piggybacked updates, least-sent first. Lifeguard's buddy system: a message to a member we
    /// suspect always carries that suspicion, so the member learns of it at once and can refute it.
    private func message(_ kind: SwimMessage.Kind, piggyback: Bool = true, to target: MemberID? = nil) -> SwimMessage {
        var updates: [MemberUpdate] = []
        if let target, let state = members[target], state.status == .suspect {
            updates.append(MemberUpdate(member: target, status: .suspect, incarnation: state.incarnation, lamport: clock.time, address: addresses[target] ?? ""))
        }
        if piggyback && !broadcasts.isEmpty {
            let limit = retransmitLimit
            let chosen = broadcasts.values.sorted { $0.transmits < $1.transmits }.prefix(configuration.maxPiggyback - updates.count)
            for broadcast in chosen {
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

    private func pick(_ count: Int, excluding: Set<MemberID>) -> [MemberID] {
        let candidates = members.filter { !excluding.contains($0.key) && $0.value.status == .alive }.map(\.key).sorted()
        guard candidates.count > count else { return candidates }
        var chosen: Set<MemberID> = []
        while chosen.count < count { chosen.insert(candidates[Int(nextRandom() % UInt64(candidates.count))]) }
        return chosen.sorted()
    }
}

