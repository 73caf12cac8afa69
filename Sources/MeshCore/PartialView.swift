// SPDX-License-Identifier: Apache-2.0
import Primitives

/// HyParView (Leitão, Pereira, Rodrigues, DSN 2007) as an I/O-free state machine: the bounded membership a node
/// keeps when the mesh is too large for every node to know every other.
///
/// A node keeps a small **active view** (symmetric: if A has B, B has A — the members it talks to and floods
/// through) and a larger **passive view** (addresses to replace active members that fail). Both are bounded by
/// the configuration whatever peers send, so a node's memory does not grow with the mesh:
/// - JOIN at a contact: the contact takes the newcomer into its active view and sends FORWARD_JOIN on a random
///   walk of ``Configuration/activeWalk`` hops through the others; the walk's end takes the newcomer into its
///   active view, and the hop at ``Configuration/passiveWalk`` into its passive view.
/// - Taking a member into a full active view drops a random one (DISCONNECT; it goes to the passive view).
/// - A failed active member is replaced from the passive view (NEIGHBOR, high priority when the active view is
///   empty; a low-priority one is refused by a full view).
/// - SHUFFLE: now and then a node sends itself and a sample of both views on a random walk; the walk's end
///   answers with a sample of its passive view, and both keep what they learned in their passive views.
///
/// Every value from a peer is bounded on arrival: walk lengths are clamped to the configured ones, samples cut
/// to the configured size, and messages naming this node itself are ignored.
public struct PartialView: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The active view's bound (HyParView: log10(N) + c; 5 suits meshes to ~10^5).
        public var activeSize = 5
        /// The passive view's bound.
        public var passiveSize = 30
        /// Active random walk length (ARWL): FORWARD_JOIN's hops.
        public var activeWalk = 6
        /// Passive random walk length (PRWL): the hop at which the newcomer enters the passive view.
        public var passiveWalk = 3
        /// Members of each view a SHUFFLE carries.
        public var shuffleActive = 3
        public var shufflePassive = 4

        public init() {}
    }

    public enum Message: Sendable, Equatable {
        /// A newcomer asks its contact to join.
        case join
        /// The contact (or a hop) forwards the newcomer on a random walk.
        case forwardJoin(newcomer: MemberID, ttl: Int)
        /// "I took you into my active view: take me into yours" (the symmetric link HyParView gets from TCP).
        case connect
        /// Asks to be taken into the receiver's active view (replacing a failed member).
        case neighbor(highPriority: Bool)
        case neighborReply(accepted: Bool)
        /// The sender dropped the receiver from its active view.
        case disconnect
        case shuffle(origin: MemberID, ttl: Int, sample: [MemberID])
        case shuffleReply(sample: [MemberID])

        /// The message's name on the wire (HyParView's).
        public var kind: String {
            switch self {
            case .join: "JOIN"
            case .forwardJoin: "FORWARD_JOIN"
            case .connect: "CONNECT"
            case .neighbor: "NEIGHBOR"
            case .neighborReply: "NEIGHBOR_REPLY"
            case .disconnect: "DISCONNECT"
            case .shuffle: "SHUFFLE"
            case .shuffleReply: "SHUFFLE_REPLY"
            }
        }
    }

    public struct Outbound: Sendable, Equatable {
        public var to: MemberID
        public var message: Message
        public init(to: MemberID, message: Message) {
            self.to = to
            self.message = message
        }
    }

    public let id: MemberID
    public let configuration: Configuration
    public private(set) var active: [MemberID] = []
    public private(set) var passive: [MemberID] = []
    /// Passive members asked to become active and not answered yet (one at a time per free slot).
    private var pending: Set<MemberID> = []
    /// Passive members that refused since the active view was last full: not asked again until then (else a
    /// full neighborhood would be asked round and round).
    private var refused: Set<MemberID> = []
    /// What this node's last SHUFFLE sent (the walk's end's reply replaces these first).
    private var lastShuffle: [MemberID] = []
    private var random: Xorshift

    public init(id: MemberID, configuration: Configuration = Configuration(), seed: UInt64) {
        self.id = id
        self.configuration = configuration
        random = Xorshift(seed: seed ^ id &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Joins through `contact` (a bootstrap member).
    public mutating func join(via contact: MemberID) -> [Outbound] {
        guard contact != id else { return [] }
        var out: [Outbound] = []
        addActive(contact, &out)
        out.append(Outbound(to: contact, message: .join))
        return out
    }

    /// What `message` from `sender` makes this node do.
    public mutating func receive(_ message: Message, from sender: MemberID) -> [Outbound] {
        guard sender != id else { return [] }
        var out: [Outbound] = []
        switch message {
        case .join:
            addActive(sender, &out)
            for member in active where member != sender {
                out.append(Outbound(to: member, message: .forwardJoin(newcomer: sender, ttl: configuration.activeWalk)))
            }
        case .forwardJoin(let newcomer, let ttl):
            guard newcomer != id else { break }
            let ttl = min(max(ttl, 0), configuration.activeWalk)
            let next = active.filter { $0 != sender && $0 != newcomer }
            if ttl == 0 || next.isEmpty {
                if !active.contains(newcomer) {
                    addActive(newcomer, &out)
                    out.append(Outbound(to: newcomer, message: .connect))
                }
            } else {
                if ttl == configuration.passiveWalk { addPassive(newcomer) }
                out.append(Outbound(to: pick(next), message: .forwardJoin(newcomer: newcomer, ttl: ttl - 1)))
            }
        case .connect:
            addActive(sender, &out)
        case .neighbor(let high):
            let accept = high || active.count < configuration.activeSize || active.contains(sender)
            if accept { addActive(sender, &out) }
            out.append(Outbound(to: sender, message: .neighborReply(accepted: accept)))
        case .neighborReply(let accepted):
            guard pending.remove(sender) != nil else { break }  // not asked: ignored
            if accepted {
                addActive(sender, &out)
            } else {
                refused.insert(sender)
                promote(&out, excluding: [sender])
            }
        case .disconnect:
            guard let index = active.firstIndex(of: sender) else { break }
            active.remove(at: index)
            addPassive(sender)
            promote(&out, excluding: [sender])
        case .shuffle(let origin, let ttl, let sample):
            guard origin != id else { break }
            let sample = Array(sample.prefix(1 + configuration.shuffleActive + configuration.shufflePassive))
            let ttl = min(max(ttl, 0), configuration.passiveWalk)
            let next = active.filter { $0 != sender && $0 != origin }
            if ttl == 0 || next.isEmpty {
                let reply = Array(shuffled(passive).prefix(sample.count))
                out.append(Outbound(to: origin, message: .shuffleReply(sample: reply)))
                integrate(sample + [origin], replacing: reply)
            } else {
                out.append(Outbound(to: pick(next), message: .shuffle(origin: origin, ttl: ttl - 1, sample: sample)))
            }
        case .shuffleReply(let sample):
            integrate(Array(sample.prefix(1 + configuration.shuffleActive + configuration.shufflePassive)), replacing: lastShuffle)
            lastShuffle = []
        }
        return out
    }

    /// An active member stopped answering (the transport or a failure detector says so): it is dropped and a
    /// passive member asked to take its place.
    public mutating func failed(_ member: MemberID) -> [Outbound] {
        var out: [Outbound] = []
        pending.remove(member)
        refused.remove(member)
        passive.removeAll { $0 == member }
        guard let index = active.firstIndex(of: member) else { return out }
        active.remove(at: index)
        promote(&out, excluding: [member])
        return out
    }

    /// The periodic SHUFFLE (HyParView runs one every few seconds): this node and a sample of both views, on a
    /// random walk from a random active member.
    public mutating func shuffle() -> [Outbound] {
        guard !active.isEmpty else { return [] }
        let sample = [id] + shuffled(active).prefix(configuration.shuffleActive) + shuffled(passive).prefix(configuration.shufflePassive)
        lastShuffle = Array(sample.dropFirst())
        return [Outbound(to: pick(active), message: .shuffle(origin: id, ttl: configuration.passiveWalk, sample: sample))]
    }

    // MARK: Views

    private mutating func addActive(_ member: MemberID, _ out: inout [Outbound]) {
        guard member != id, !active.contains(member) else { return }
        if active.count >= configuration.activeSize {
            let dropped = active.remove(at: Int(next() % UInt64(active.count)))
            out.append(Outbound(to: dropped, message: .disconnect))
            addPassive(dropped)
        }
        passive.removeAll { $0 == member }
        pending.remove(member)
        active.append(member)
        if active.count >= configuration.activeSize { refused = [] }
    }

    private mutating func addPassive(_ member: MemberID) {
        guard member != id, !active.contains(member), !passive.contains(member) else { return }
        if passive.count >= configuration.passiveSize { passive.remove(at: Int(next() % UInt64(passive.count))) }
        passive.append(member)
    }

    /// Keeps what a shuffle brought in the passive view, evicting what this node sent in exchange first.
    private mutating func integrate(_ sample: [MemberID], replacing sent: [MemberID]) {
        var evictable = sent.filter { passive.contains($0) }
        for member in sample where member != id && !active.contains(member) && !passive.contains(member) {
            if passive.count >= configuration.passiveSize {
                if let victim = evictable.popLast(), let index = passive.firstIndex(of: victim) {
                    passive.remove(at: index)
                } else {
                    passive.remove(at: Int(next() % UInt64(passive.count)))
                }
            }
            passive.append(member)
        }
    }

    /// Asks a random passive member (not yet asked) to fill a free active slot.
    private mutating func promote(_ out: inout [Outbound], excluding: Set<MemberID>) {
        guard active.count + pending.count < configuration.activeSize else { return }
        let candidates = passive.filter { !excluding.contains($0) && !pending.contains($0) && !refused.contains($0) }
        guard !candidates.isEmpty else { return }
        let chosen = pick(candidates)
        pending.insert(chosen)
        out.append(Outbound(to: chosen, message: .neighbor(highPriority: active.isEmpty)))
    }

    // MARK: Randomness (deterministic for a seed)

    private mutating func next() -> UInt64 { random.next() }

    private mutating func pick(_ members: [MemberID]) -> MemberID { members[Int(next() % UInt64(members.count))] }

    private mutating func shuffled(_ members: [MemberID]) -> [MemberID] {
        var copy = members
        if copy.count > 1 {
            for i in stride(from: copy.count - 1, to: 0, by: -1) { copy.swapAt(i, Int(next() % UInt64(i + 1))) }
        }
        return copy
    }
}
