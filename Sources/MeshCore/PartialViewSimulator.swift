// SPDX-License-Identifier: Apache-2.0
import Primitives

/// N nodes in one process, each with only a bounded view of the mesh — HyParView's active and passive views
/// (``PartialView``) and a Kademlia routing table (``RoutingTable``, k = 20) filled only by what the node
/// learned: its views, and the contacts its own lookups met and that looked it up. No node is ever handed the
/// whole membership. Deterministic for a seed.
///
/// Nodes join one after another through a random earlier node; the membership messages of each join are
/// delivered until none are left (a round at a time), and the joiner then looks itself up (Kademlia's join),
/// which fills the buckets near it and tells the nodes it asks about it. ``lookup(from:target:)`` then routes
/// through those tables; ``spreadRounds(from:)`` floods over the active views (how many rounds a newcomer's
/// announcement takes to reach everyone).
public final class PartialViewSimulator {
    public let count: Int
    public let k: Int
    public let alpha: Int
    public private(set) var views: [PartialView] = []
    public private(set) var keys: [Key256] = []
    private var tables: [RoutingTable] = []
    private var index: [Key256: Int] = [:]
    private var random: Xorshift
    /// Membership messages delivered while joining and shuffling, and by kind.
    public private(set) var messages = 0
    public private(set) var messagesByKind: [String: Int] = [:]

    public init(nodes: Int, configuration: PartialView.Configuration = PartialView.Configuration(), k: Int = 20, alpha: Int = 3,
                seed: UInt64 = 1, shuffleRounds: Int = 3) {
        count = max(1, nodes)
        self.k = k
        self.alpha = alpha
        random = Xorshift(seed: seed)
        keys.reserveCapacity(count)
        views.reserveCapacity(count)
        tables.reserveCapacity(count)
        for n in 0..<count {
            let key = Key256(nextRandom(), nextRandom(), nextRandom(), nextRandom())
            keys.append(key)
            index[key] = n
            views.append(PartialView(id: MemberID(n), configuration: configuration, seed: seed &+ UInt64(n)))
            tables.append(RoutingTable(owner: key, k: k))
        }
        for n in 1..<count {
            let contact = Int(nextRandom() % UInt64(n))
            deliver(views[n].join(via: MemberID(contact)), from: n)
            for member in views[n].active + views[n].passive { tables[n].seen(keys[Int(member)]) }
            _ = lookup(from: n, target: keys[n])  // Kademlia's join: look yourself up
        }
        for _ in 0..<shuffleRounds {
            for n in 0..<count { deliver(views[n].shuffle(), from: n) }
        }
    }

    private func nextRandom() -> UInt64 { random.next() }

    public func randomKey() -> Key256 { Key256(nextRandom(), nextRandom(), nextRandom(), nextRandom()) }
    public func randomNode() -> Int { Int(nextRandom() % UInt64(count)) }

    /// Delivers `outbound` (sent by node `sender`) and everything it causes, in rounds, until nothing is left.
    private func deliver(_ outbound: [PartialView.Outbound], from sender: Int) {
        var queue = outbound.map { (from: sender, out: $0) }
        var rounds = 0
        // Every cascade dies out (each step takes a member into a bounded view); the bound is a guard.
        while !queue.isEmpty && rounds < 1_000 {
            rounds += 1
            var next: [(from: Int, out: PartialView.Outbound)] = []
            for (from, out) in queue {
                let to = Int(out.to)
                guard to >= 0 && to < count else { continue }
                messages += 1
                messagesByKind[out.message.kind, default: 0] += 1
                next += views[to].receive(out.message, from: MemberID(from)).map { (to, $0) }
            }
            queue = next
        }
    }

    /// An iterative lookup (α = 3) from `node` for `target` through the nodes' own tables: each node asked adds
    /// the asker to its table, and the asker every node that answered.
    public func lookup(from node: Int, target: Key256) -> Lookup {
        var lookup = Lookup(target: target, start: tables[node].closest(to: target, count: k), k: k, alpha: alpha)
        while true {
            let round = lookup.nextRound()
            if round.isEmpty { break }
            for contact in round {
                guard let asked = index[contact] else {
                    lookup.answer(from: contact, nil)
                    continue
                }
                tables[asked].seen(keys[node])
                lookup.answer(from: contact, tables[asked].closest(to: target, count: k))
                tables[node].seen(contact)
            }
        }
        return lookup
    }

    /// The node truly closest to `target` (what a perfect lookup finds first).
    public func trulyClosest(to target: Key256) -> Key256 {
        var best = keys[0], distance = keys[0].distance(to: target)
        for key in keys.dropFirst() {
            let d = key.distance(to: target)
            if d < distance { (best, distance) = (key, d) }
        }
        return best
    }

    /// Rounds of a flood over the active views from `node` until every node has it (nil if some never do: the
    /// active views do not connect the mesh).
    public func spreadRounds(from node: Int) -> Int? {
        var seen = [Bool](repeating: false, count: count)
        seen[node] = true
        var frontier = [node], reached = 1, rounds = 0
        while !frontier.isEmpty && reached < count {
            var next: [Int] = []
            for n in frontier {
                for member in views[n].active where !seen[Int(member)] {
                    seen[Int(member)] = true
                    reached += 1
                    next.append(Int(member))
                }
            }
            frontier = next
            if !next.isEmpty { rounds += 1 }
        }
        return reached == count ? rounds : nil
    }

    /// Contacts each node's routing table holds.
    public func tableSizes() -> [Int] { tables.map(\.count) }

    /// Whether every active link has its other end (HyParView's active views are symmetric once quiet).
    public func asymmetricLinks() -> Int {
        var missing = 0
        for (n, view) in views.enumerated() {
            for member in view.active where !views[Int(member)].active.contains(MemberID(n)) { missing += 1 }
        }
        return missing
    }
}
