// SPDX-License-Identifier: Apache-2.0
import Primitives

/// A 256-bit key in the mesh's one address space: node IDs (SHA-256 of a public key) and content IDs
/// (SHA-256 digests) alike, so the nodes closest to a chunk's key hold its provider records.
public struct Key256: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Most significant word first, so tuple order is numeric order.
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) { words = (w0, w1, w2, w3) }

    /// From 32 bytes, big-endian (the first byte is the most significant).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.init(bigEndian: bytes)
    }

    /// The key whose words are `bytes` read big-endian: four words from its first 32 bytes, or, with `last`,
    /// three from its first 24 and `last` as the least significant word. Traps if `bytes` is shorter.
    package init(bigEndian bytes: some Collection<UInt8>, last: UInt64? = nil) {
        let words = UInt64.bigEndianWords(bytes, count: last == nil ? 4 : 3)
        self.init(words[0], words[1], words[2], last ?? words[3])
    }

    /// The 32 bytes of the key, big-endian: what ``init(bigEndian:last:)`` reads back.
    package func write(to writer: inout ByteWriter) {
        writer.bigEndian(words.0)
        writer.bigEndian(words.1)
        writer.bigEndian(words.2)
        writer.bigEndian(words.3)
    }

    public static func == (a: Key256, b: Key256) -> Bool { a.words == b.words }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0); hasher.combine(words.1); hasher.combine(words.2); hasher.combine(words.3)
    }
    public static func < (a: Key256, b: Key256) -> Bool { a.words < b.words }

    /// Kademlia's XOR distance, itself a number in the same space.
    public func distance(to other: Key256) -> Key256 {
        Key256(words.0 ^ other.words.0, words.1 ^ other.words.1, words.2 ^ other.words.2, words.3 ^ other.words.3)
    }

    /// Leading zero bits (256 for zero): 255 − this is the k-bucket a key at this distance falls in.
    public var leadingZeroBits: Int {
        if words.0 != 0 { return words.0.leadingZeroBitCount }
        if words.1 != 0 { return 64 + words.1.leadingZeroBitCount }
        if words.2 != 0 { return 128 + words.2.leadingZeroBitCount }
        return words.3 != 0 ? 192 + words.3.leadingZeroBitCount : 256
    }

    public var description: String {
        [words.0, words.1, words.2, words.3].map { String($0, radix: 16).leftPadded(16) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// One node's Kademlia routing table: 256 buckets of at most k contacts each, least recently seen first.
/// A full bucket keeps its old contacts (long-lived nodes are the likeliest to stay, as Kademlia argues); a
/// contact that fails is removed and the bucket's newest candidate takes its place.
public struct RoutingTable: Sendable {
    public let owner: Key256
    public let k: Int
    private(set) var buckets: [[Key256]]
    /// Candidates seen while their bucket was full, used when a contact fails.
    private var replacements: [[Key256]]

    public init(owner: Key256, k: Int = 20) {
        self.owner = owner
        self.k = k
        buckets = Array(repeating: [], count: 256)
        replacements = Array(repeating: [], count: 256)
    }

    /// The bucket of `key`: 255 − leading zero bits of the distance (nil for the owner itself).
    public func bucket(of key: Key256) -> Int? {
        let zeros = owner.distance(to: key).leadingZeroBits
        return zeros == 256 ? nil : 255 - zeros
    }

    /// Records that `contact` was seen (it answered, or wrote to us).
    public mutating func seen(_ contact: Key256) {
        guard let index = bucket(of: contact) else { return }
        if let position = buckets[index].firstIndex(of: contact) {
            buckets[index].remove(at: position)
            buckets[index].append(contact)  // most recently seen last
        } else if buckets[index].count < k {
            buckets[index].append(contact)
        } else if !replacements[index].contains(contact) {
            replacements[index].append(contact)
            if replacements[index].count > k { replacements[index].removeFirst() }
        }
    }

    /// Removes a contact that did not answer; the newest replacement candidate takes its place.
    public mutating func failed(_ contact: Key256) {
        guard let index = bucket(of: contact), let position = buckets[index].firstIndex(of: contact) else { return }
        buckets[index].remove(at: position)
        if let candidate = replacements[index].popLast() { buckets[index].append(candidate) }
    }

    public var count: Int { buckets.reduce(0) { $0 + $1.count } }

    /// Whether `contact` is in a bucket or waiting as a replacement candidate.
    public func contains(_ contact: Key256) -> Bool {
        guard let index = bucket(of: contact) else { return false }
        return buckets[index].contains(contact) || replacements[index].contains(contact)
    }

    /// The `count` known contacts closest to `target`.
    public func closest(to target: Key256, count: Int? = nil) -> [Key256] {
        let wanted = count ?? k
        return buckets.joined().sorted { $0.distance(to: target) < $1.distance(to: target) }.prefix(wanted).map { $0 }
    }
}

/// An iterative Kademlia lookup (α queries in flight per round), as a state machine: the caller asks each
/// chosen contact for its k closest to the target and feeds the answers back. Finishes when a round brings
/// nothing closer than the k closest already queried.
public struct Lookup: Sendable {
    public let target: Key256
    public let k: Int
    public let alpha: Int
    private var shortlist: [Key256]
    private var queried: Set<Key256> = []
    private var failed: Set<Key256> = []
    private var roundOf: [Key256: Int] = [:]
    public private(set) var rounds = 0

    public init(target: Key256, start: [Key256], k: Int = 20, alpha: Int = 3) {
        self.target = target
        self.k = k
        self.alpha = alpha
        shortlist = Array(Set(start)).sorted { $0.distance(to: target) < $1.distance(to: target) }
    }

    /// The next contacts to ask (at most α), or empty when the lookup is done.
    public mutating func nextRound() -> [Key256] {
        let closest = shortlist.filter { !failed.contains($0) }.prefix(k)
        let pending = closest.filter { !queried.contains($0) }.prefix(alpha)
        guard !pending.isEmpty else { return [] }
        rounds += 1
        queried.formUnion(pending)
        for contact in pending { roundOf[contact] = rounds }
        return Array(pending)
    }

    /// What `contact` answered: its closest contacts to the target (nil if it did not answer).
    public mutating func answer(from contact: Key256, _ contacts: [Key256]?) {
        guard let contacts else {
            failed.insert(contact)
            return
        }
        var known = Set(shortlist)
        for candidate in contacts where !known.contains(candidate) {
            known.insert(candidate)
            shortlist.append(candidate)
        }
        shortlist.sort { $0.distance(to: target) < $1.distance(to: target) }
        if shortlist.count > 4 * k { shortlist.removeLast(shortlist.count - 4 * k) }
    }

    /// Hops: the round in which the closest contact that answered was first asked — when the lookup found
    /// what it was looking for; later rounds only confirm it.
    public var hops: Int { result.first.flatMap { roundOf[$0] } ?? rounds }

    /// The k closest contacts that answered.
    public var result: [Key256] { shortlist.filter { queried.contains($0) && !failed.contains($0) }.prefix(k).map { $0 } }
}

extension Key256 {
    /// Bit `index` (0 = least significant, 255 = most).
    func bit(_ index: Int) -> Bool {
        let word = [words.0, words.1, words.2, words.3][3 - index / 64]
        return word >> UInt64(index % 64) & 1 == 1
    }

    /// The keys at distance [2^b, 2^(b+1)) from this one — Kademlia's bucket b — as one closed range:
    /// same bits above b, bit b flipped, anything below.
    func bucketRange(_ b: Int) -> ClosedRange<Key256> {
        var low = [words.0, words.1, words.2, words.3], high = low
        let w = 3 - b / 64, j = UInt64(b % 64)
        low[w] ^= 1 << j
        high[w] = low[w]
        let below: UInt64 = j == 0 ? 0 : (UInt64.max >> (64 - j))
        low[w] &= ~below
        high[w] |= below
        for later in (w + 1)..<4 {
            low[later] = 0
            high[later] = .max
        }
        return Key256(low[0], low[1], low[2], low[3])...Key256(high[0], high[1], high[2], high[3])
    }
}

/// N Kademlia nodes in one process with routing tables as a converged network would have them (each bucket
/// filled with up to k random nodes of its range), for measuring lookups. Deterministic for a seed.
public final class DHTSimulator {
    public let k: Int
    public let alpha: Int
    public private(set) var ids: [Key256]
    private var tables: [Key256: RoutingTable] = [:]
    private var random: Xorshift
    /// Nodes that stopped answering.
    public private(set) var down: Set<Key256> = []

    public init(nodes: Int, k: Int = 20, alpha: Int = 3, seed: UInt64 = 1) {
        self.k = k
        self.alpha = alpha
        random = Xorshift(seed: seed)
        ids = []
        ids = (0..<nodes).map { _ in randomKey() }.sorted()
        for id in ids {
            var table = RoutingTable(owner: id, k: k)
            for b in 0..<256 {
                let range = id.bucketRange(b)
                let start = lowerBound(range.lowerBound), end = lowerBound(range.upperBound, inclusive: true)
                guard start < end else { continue }
                if end - start <= k {
                    for i in start..<end { table.seen(ids[i]) }
                } else {
                    var picked: Set<Int> = []
                    while picked.count < k { picked.insert(start + Int(nextRandom() % UInt64(end - start))) }
                    for i in picked.sorted() { table.seen(ids[i]) }
                }
            }
            tables[id] = table
        }
    }

    private func nextRandom() -> UInt64 { random.next() }

    public func randomKey() -> Key256 { Key256(nextRandom(), nextRandom(), nextRandom(), nextRandom()) }

    /// First index whose id is ≥ key (> key with `inclusive`).
    private func lowerBound(_ key: Key256, inclusive: Bool = false) -> Int {
        var low = 0, high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < key || (inclusive && ids[mid] == key) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    public func table(of node: Key256) -> RoutingTable? { tables[node] }

    /// Makes `node` stop answering (a crash).
    public func fail(_ node: Key256) { down.insert(node) }

    /// Runs a lookup for `target` from `node`; returns it finished.
    public func lookup(from node: Key256, target: Key256) -> Lookup {
        var lookup = Lookup(target: target, start: tables[node]!.closest(to: target, count: k), k: k, alpha: alpha)
        while true {
            let round = lookup.nextRound()
            if round.isEmpty { break }
            for contact in round {
                lookup.answer(from: contact, down.contains(contact) ? nil : tables[contact]!.closest(to: target, count: k))
            }
        }
        return lookup
    }

    /// The k live nodes truly closest to `target` (what a perfect lookup returns).
    public func trulyClosest(to target: Key256) -> [Key256] {
        ids.filter { !down.contains($0) }.sorted { $0.distance(to: target) < $1.distance(to: target) }.prefix(k).map { $0 }
    }
}
