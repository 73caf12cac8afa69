// SPDX-License-Identifier: Apache-2.0

/// A deterministic simulation of N SWIM nodes in one process: virtual time, a seeded random generator, a
/// latency model (base + uniform jitter), message loss, crashes, partitions and joins. The same seed gives
/// the same run, event for event. Nodes sign with ``MemberCredentials/simulated(member:)``, so claims are checked
/// as in a node, deterministically.
public final class SwimSimulator {
    public struct Configuration: Sendable {
        public var nodes = 100
        public var seed: UInt64 = 1
        /// One-way latency: base plus uniform jitter, in nanoseconds.
        public var latency: UInt64 = 200_000
        public var jitter: UInt64 = 800_000
        /// Probability that a message is lost.
        public var loss = 0.0
        /// How often each node's timers are looked at.
        public var tickInterval: UInt64 = 50_000_000
        public var swim = SwimConfiguration()

        public init() {}
    }

    /// What a run measured.
    public struct Metrics: Sendable {
        public var messages = 0
        public var lost = 0
        /// Declarations of death about members that were alive at the time (false positives).
        public var falseDeaths = 0
        /// Nodes that each live node declared dead, over all (node, member) pairs.
        public var declarations = 0
        public var refutations = 0
    }

    private enum Event {
        case deliver(to: MemberID, from: MemberID, message: SwimMessage)
        case tick(MemberID)
    }

    private struct Scheduled: Comparable {
        var time: UInt64
        var order: UInt64
        var event: Event
        static func < (a: Scheduled, b: Scheduled) -> Bool { (a.time, a.order) < (b.time, b.order) }
        static func == (a: Scheduled, b: Scheduled) -> Bool { a.time == b.time && a.order == b.order }
    }

    public let configuration: Configuration
    public private(set) var now: UInt64 = 0
    public private(set) var metrics = Metrics()
    public private(set) var nodes: [SwimNode?] = []
    private var queue = Heap<Scheduled>()
    private var order: UInt64 = 0
    private var random: UInt64
    /// Groups that cannot reach each other (a partition); nil when the network is whole.
    private var side: [Int]?

    /// Creates `nodes` members that already know each other (a converged mesh).
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        random = configuration.seed | 1
        let count = configuration.nodes
        for index in 0..<count {
            let node = SwimNode(
                id: MemberID(index), configuration: configuration.swim, credentials: .simulated(member: MemberID(index)), seed: configuration.seed &+ UInt64(index) &* 0x9E37_79B9, now: 0)
            node.assumeMembers((0..<count).lazy.map { MemberID($0) })
            nodes.append(node)
            // Spread the first rounds over one period, as real nodes start at different times.
            schedule(.tick(MemberID(index)), at: nextRandom() % configuration.swim.protocolPeriod)
        }
    }

    private func nextRandom() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }

    private func schedule(_ event: Event, at time: UInt64) {
        order += 1
        queue.insert(Scheduled(time: time, order: order, event: event))
    }

    private func send(_ outbound: [SwimNode.Outbound], from sender: MemberID) {
        for message in outbound {
            metrics.messages += 1
            let target = Int(message.to)
            let cut = side.map { $0[Int(sender)] != $0[target] } ?? false
            if cut || Double(nextRandom() % 1_000_000) / 1_000_000 < configuration.loss {
                metrics.lost += 1
                continue
            }
            let delay = configuration.latency + (configuration.jitter > 0 ? nextRandom() % configuration.jitter : 0)
            schedule(.deliver(to: message.to, from: sender, message: message.message), at: now + delay)
        }
    }

    /// Runs until virtual time `end` (nanoseconds).
    public func run(until end: UInt64) {
        while let next = queue.peek, next.time <= end {
            _ = queue.removeMin()
            now = next.time
            switch next.event {
            case .tick(let id):
                guard let node = nodes[Int(id)] else { continue }
                send(node.tick(now: now), from: id)
                collect(node)
                schedule(.tick(id), at: now + configuration.tickInterval)
            case .deliver(let to, let from, let message):
                guard let node = nodes[Int(to)] else { continue }
                send(node.receive(message, from: from, now: now), from: to)
                collect(node)
            }
        }
        now = max(now, end)
    }

    /// Counts the new events of a node: deaths declared about members that are in fact alive are false.
    private func collect(_ node: SwimNode) {
        let index = Int(node.id)
        for event in node.takeEvents() {
            switch event {
            case .declaredDead(let member, _):
                metrics.declarations += 1
                if nodes[Int(member)] != nil && (side.map { $0[Int(member)] == $0[index] } ?? true) { metrics.falseDeaths += 1 }
            case .refuted: metrics.refutations += 1
            default: break
            }
        }
    }

    // MARK: Scenario steps

    /// Stops a node (no goodbye).
    public func crash(_ id: MemberID) { nodes[Int(id)] = nil }

    /// Splits the network into two sides by a predicate; messages between sides are lost until `heal()`.
    public func partition(_ isLeft: (MemberID) -> Bool) {
        side = (0..<nodes.count).map { isLeft(MemberID($0)) ? 0 : 1 }
    }

    public func heal() { side = nil }

    /// Adds a node that joins through `seed`; returns its ID.
    @discardableResult
    public func join(through seed: MemberID) -> MemberID {
        let id = MemberID(nodes.count)
        let node = SwimNode(id: id, configuration: configuration.swim, credentials: .simulated(member: id), seed: configuration.seed &+ UInt64(id) &* 0x9E37_79B9, now: now)
        nodes.append(node)
        send(node.join(seeds: [seed], now: now), from: id)
        schedule(.tick(id), at: now + configuration.tickInterval)
        return id
    }

    /// How many live nodes (other than `member`) believe `member` has this status.
    public func count(believing status: MemberStatus, about member: MemberID) -> Int {
        nodes.compactMap { $0 }.filter { $0.id != member && $0.status(of: member) == status }.count
    }

    public var liveNodes: Int { nodes.compactMap { $0 }.count }
}

/// A binary min-heap (the simulator's event queue).
struct Heap<Element: Comparable> {
    private var items: [Element] = []

    var peek: Element? { items.first }
    var count: Int { items.count }

    mutating func insert(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeMin() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let min = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return min
    }
}
