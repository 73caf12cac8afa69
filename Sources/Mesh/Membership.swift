// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Identity
import Logging
import MeshCore
import Primitives
import Synchronization
import Wire

/// SWIM membership running over the peer manager's secure sessions: the state machine is MeshCore's
/// `SwimNode`; this class feeds it the MEMBERSHIP frames that arrive, sends what it answers over the session
/// to each member (dialing a member's advertised address when there is no session yet), ticks it, and logs
/// what it concludes. Thread-safe: the SWIM state is behind one lock.
public final class Membership: Sendable {
    public struct Summary: Sendable, Equatable {
        public var alive = 0, suspect = 0, dead = 0
    }

    let self_: MemberID
    /// Signs this node's claims and gossip, and checks others' (also used by ``MeshGossip``).
    let credentials: MemberCredentials
    let logger: Logger
    /// The routing table: every member seen alive with an address, kept past SWIM's (bounded) view.
    public let contacts: Contacts
    private let swim: Mutex<SwimNode>
    private let lamport: NodeLamport?
    private let state = Mutex(State())
    /// Counted at each tick that finds SWIM's ``SwimNode/aliveViewChanges`` moved (the peer layer's counter).
    private let viewChanges: ChangeCounter

    private struct State {
        var connections: [MemberID: UInt64] = [:]
        /// Members being dialed, with when the dial started. A dial that fails later (a connect timeout, a refused
        /// or failed handshake) is not reported back here, so an entry expires after ``dialRetryNanoseconds``:
        /// without that, one lost dial (say, into a partition) left the member undialable for good.
        var dialing: [MemberID: UInt64] = [:]
        /// When SWIM last changed each member's state here (joined, suspected, declared dead); pruned to the view.
        var changedAt: [MemberID: UInt64] = [:]
        /// SWIM's ``SwimNode/aliveViewChanges`` at the last tick.
        var aliveViewChanges: UInt64 = 0
    }

    /// One member as this node sees it (the operator plane's `inos members`).
    public struct MemberView: Sendable, Equatable {
        public var member: MemberID
        public var status: MemberStatus
        public var incarnation: UInt32
        public var address: String?
        /// When this node last saw the member's state change (nil: not since this node started).
        public var changedAt: UInt64?
        public var isSelf: Bool
    }

    /// Every member in SWIM's view, this node first.
    public var view: [MemberView] {
        let changed = state.withLock { $0.changedAt }
        return swim.withLock { swim in
            swim.view.map { member, status in
                MemberView(
                    member: member, status: status, incarnation: swim.incarnation(of: member) ?? 0, address: swim.addresses[member],
                    changedAt: changed[member], isSelf: member == swim.id)
            }
        }.sorted { ($0.isSelf ? 0 : 1, $0.member) < ($1.isSelf ? 0 : 1, $1.member) }
    }

    /// A member's ID: the first 8 bytes of its node ID.
    public static func member(_ node: NodeID) -> MemberID {
        UInt64(bigEndianPrefix: node.bytes)
    }

    /// With `lamport`, SWIM stamps with the node's one clock (loaded before each call, stored back after);
    /// without, with a clock of its own.
    /// `incarnation`: where this node's claims start (``SwimNode/startingIncarnation(wallSeconds:)`` in a node).
    init(identity: NodeIdentity, advertise address: String, logger: Logger, now: UInt64, configuration: SwimConfiguration = .init(),
         lamport: NodeLamport? = nil, viewChanges: ChangeCounter = ChangeCounter(), incarnation: UInt32 = 0) {
        self.viewChanges = viewChanges
        self_ = Self.member(identity.id)
        credentials = MemberCredentials(identity: identity)
        self.logger = logger
        self.lamport = lamport
        contacts = Contacts(owner: self_)
        swim = Mutex(SwimNode(id: self_, configuration: configuration, credentials: credentials, seed: self_, now: now, address: address,
                                   incarnation: incarnation))
    }

    /// A call that may tick or witness SWIM's clock: under the SWIM lock, then the node clock's (a leaf).
    private func withClockedSwim<R: Sendable>(_ body: @Sendable (inout SwimNode) -> R) -> R {
        swim.withLock { swim in
            guard let lamport else { return body(&swim) }
            return lamport.stamping(&swim, clock: \.clock, body)
        }
    }

    public var summary: Summary {
        swim.withLock { swim in
            var summary = Summary()
            for (member, status) in swim.view where member != swim.id {
                switch status {
                case .alive: summary.alive += 1
                case .suspect: summary.suspect += 1
                case .dead: summary.dead += 1
                }
            }
            return summary
        }
    }

    public func status(of node: NodeID) -> MemberStatus? { swim.withLock { $0.status(of: Self.member(node)) } }

    /// What SWIM's view holds of `member` (nil: not in the view).
    func status(ofMember member: MemberID) -> MemberStatus? { swim.withLock { $0.status(of: member) } }

    /// Whether SWIM has declared `member` dead here (a suspect is not: it may still answer).
    func isDead(_ member: MemberID) -> Bool { swim.withLock { $0.status(of: member) == .dead } }

    /// Whether SWIM holds `member` alive here now (not suspect, not dead).
    public func isAlive(_ member: MemberID) -> Bool { swim.withLock { $0.status(of: member) == .alive } }

    /// Whether SWIM's view has been full (``SwimNode/isPartial``): lookups route through ``contacts`` then.
    public var isPartial: Bool { swim.withLock { $0.isPartial } }

    /// Members SWIM evicted from its full view since the node started.
    public var evictions: UInt64 { swim.withLock { $0.evictions } }

    /// The most members SWIM's view holds (``SwimConfiguration/maximumMembers``).
    public var maximumMembers: Int { swim.withLock { $0.configuration.maximumMembers } }

    /// Members believed alive, this node excluded.
    var aliveMembers: [MemberID] { swim.withLock { swim in swim.view.filter { $0.key != swim.id && $0.value == .alive }.map(\.key).sorted() } }

    var memberID: MemberID { self_ }

    /// Where this node told the mesh it can be dialed.
    var advertisedAddress: String? { swim.withLock { $0.addresses[$0.id] } }

    /// Where a member said it can be dialed (SWIM's view first, then the routing table).
    func address(of member: MemberID) -> String? { swim.withLock { $0.addresses[member] } ?? contacts.address(of: member) }

    /// The member whose advertised address this is.
    func member(at address: String) -> MemberID? { swim.withLock { swim in swim.addresses.first { $0.value == address }?.key } }

    // MARK: From the peer manager

    /// A session is up with `node` on `connection`; `dialedAddress` when we dialed it (where it listens).
    func sessionUp(_ node: NodeID, connection: UInt64, dialedAddress: String?, bootstrap: Bool, now: UInt64, send: (UInt64, [UInt8]) -> Void) {
        let member = Self.member(node)
        // A session with itself (this node's client dialed its own address) carries no membership.
        guard member != self_ else { return }
        state.withLock { state in
            state.connections[member] = connection
            state.dialing[member] = nil
        }
        let out = withClockedSwim { swim -> [SwimNode.Outbound] in
            if let dialedAddress { swim.setAddress(dialedAddress, of: member) }
            return bootstrap ? swim.join(seeds: [member], now: now) : []
        }
        for message in out { send(connection, SwimCodec.encode(message.message)) }
    }

    func sessionDown(_ connection: UInt64) {
        state.withLock { state in
            for (member, known) in state.connections where known == connection { state.connections[member] = nil }
        }
    }

    /// A MEMBERSHIP frame from the member on `connection`.
    func receive(_ payload: [UInt8], from node: NodeID, now: UInt64) throws(MeshError) -> [SwimNode.Outbound] {
        guard let message = SwimCodec.decode(payload) else { throw MeshError(.malformed, "malformed membership message") }
        return withClockedSwim { $0.receive(message, from: Self.member(node), now: now) }
    }

    func tick(now: UInt64) -> [SwimNode.Outbound] {
        let (out, events, changes) = withClockedSwim { swim -> ([SwimNode.Outbound], [SwimNode.Event], UInt64) in
            let out = swim.tick(now: now)
            return (out, swim.takeEvents(), swim.aliveViewChanges)
        }
        if state.withLock({ s in defer { s.aliveViewChanges = changes }; return s.aliveViewChanges != changes }) {
            viewChanges.increment()
            // Every member held alive at an address is a routing contact (one the table already has is moved up).
            let alive = swim.withLock { swim in swim.view.compactMap { member, status in
                status == .alive && member != swim.id ? swim.addresses[member].map { (member, $0) } : nil } }
            for (member, address) in alive { contacts.seen(member, at: address) }
        }
        if !events.isEmpty {
            let known = Set(swim.withLock { $0.view.keys })
            state.withLock { state in
                for event in events {
                    switch event {
                    case .suspected(let member, _), .declaredDead(let member, _), .joined(let member, _): state.changedAt[member] = now
                    case .refuted, .evicted: break
                    }
                }
                if state.changedAt.count > known.count { state.changedAt = state.changedAt.filter { known.contains($0.key) } }
            }
        }
        for event in events {
            switch event {
            case .suspected(let member, _): logger.info("member \(hex(member)) suspected")
            case .declaredDead(let member, _):
                logger.warning("member \(hex(member)) declared dead")
                contacts.failed(member)
            case .evicted(let member, _): logger.debug("member \(hex(member)) left the full view (kept as a routing contact)")
            case .refuted(let incarnation, _): logger.info("refuted a suspicion about this node (incarnation \(incarnation))")
            case .joined(let member, _): logger.info("member \(hex(member)) joined")
            }
        }
        return out
    }

    /// The member's session, if one is up; never dials.
    func connection(to member: MemberID) -> UInt64? { state.withLock { $0.connections[member] } }

    /// How long a dial may stay unanswered before the member may be dialed again: the TCP transport's connect
    /// timeout (5 s) plus the handshake's.
    static let dialRetryNanoseconds: UInt64 = 10_000_000_000

    /// Where to send a member's messages: its session, or nil after starting a dial to its address (unless a
    /// dial to it started less than ``dialRetryNanoseconds`` ago).
    func route(_ member: MemberID, now: UInt64, dial: (String) -> Void) -> UInt64? {
        if let connection = connection(to: member) { return connection }
        guard let address = address(of: member) else { return nil }
        let start = state.withLock { state -> Bool in
            if let started = state.dialing[member], now < started || now - started < Self.dialRetryNanoseconds { return false }
            state.dialing[member] = now
            return true
        }
        if start { dial(address) }
        return nil
    }

    func dialFailed(_ address: String) {
        let member = swim.withLock { swim in swim.addresses.first { $0.value == address }?.key }
        if let member {
            state.withLock { $0.dialing[member] = nil }
        } else if let contact = contacts.member(at: address) {
            // A routing contact outside SWIM's view that cannot be dialed leaves the table (SWIM judges its own).
            state.withLock { $0.dialing[contact] = nil }
            contacts.failed(contact)
        }
    }

    private func hex(_ member: MemberID) -> String { String(member, radix: 16) }
}
