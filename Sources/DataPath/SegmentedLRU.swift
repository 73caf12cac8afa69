// SPDX-License-Identifier: Apache-2.0

/// A byte-bounded segmented LRU (SLRU): the replacement policy of a node's edge cache (``ChunkCache``).
///
/// Why not plain LRU: a gateway or a job that reads one large resource once would push every chunk others read
/// again and again out of a plain LRU. Here a key enters the *probation* segment; only a second read promotes it
/// to the *protected* segment (at most ``protectedShare`` of the capacity; past it, protected's least recent
/// key is demoted back to probation). Eviction takes probation's least recent keys first, so a one-pass scan
/// evicts itself, not the working set. (W-TinyLFU would also weigh frequency over a longer history at the cost
/// of a sketch per cache; for chunk-sized entries, in the thousands, SLRU gets the scan resistance that matters.)
///
/// Evicting only when the bytes pass the capacity, and then down to ``lowWater``, batches evictions (each batch
/// costs the store a liveness check: ``ContentStore/removeUnneeded(_:pins:)``). I/O-free: the same sequence of
/// calls gives the same evictions.
public struct SegmentedLRU<Key: Hashable & Sendable>: Sendable {
    public let capacity: UInt64
    /// Where an eviction batch stops: 90% of the capacity.
    public var lowWater: UInt64 { capacity - capacity / 10 }
    /// The share of the capacity the protected segment may hold.
    public let protectedShare: Double

    private var probation = LRUList<Key>()
    private var protected = LRUList<Key>()

    public init(capacity: UInt64, protectedShare: Double = 0.8) {
        self.capacity = capacity
        self.protectedShare = min(max(protectedShare, 0), 1)
    }

    public var bytes: UInt64 { probation.bytes + protected.bytes }
    public var count: Int { probation.count + protected.count }
    public func contains(_ key: Key) -> Bool { probation.contains(key) || protected.contains(key) }
    /// Whether `key` was read again since it came in (it is in the protected segment).
    public func isProtected(_ key: Key) -> Bool { protected.contains(key) }

    /// A read of `key` that found it: promoted (probation → protected, or to protected's front). False when the
    /// cache does not track `key`.
    @discardableResult
    public mutating func touch(_ key: Key) -> Bool {
        if protected.contains(key) {
            protected.moveToFront(key)
            return true
        }
        guard let size = probation.remove(key) else { return false }
        protected.pushFront(key, bytes: size)
        let share = UInt64(Double(capacity) * protectedShare)
        while protected.bytes > share, protected.count > 1, let (demoted, bytes) = protected.popBack() {
            probation.pushFront(demoted, bytes: bytes)
        }
        return true
    }

    /// Adds `key` of `bytes` to probation (or refreshes it as a read when tracked) and returns the keys evicted to
    /// stay within the capacity, least recent first. A key larger than the whole capacity is not taken: it alone
    /// is returned, and nothing else moves.
    public mutating func insert(_ key: Key, bytes: UInt64) -> [(key: Key, bytes: UInt64)] {
        if touch(key) { return [] }
        guard bytes <= capacity else { return [(key, bytes)] }
        probation.pushFront(key, bytes: bytes)
        guard self.bytes > capacity else { return [] }
        var evicted: [(key: Key, bytes: UInt64)] = []
        while self.bytes > lowWater, let victim = probation.popBack() ?? protected.popBack() { evicted.append(victim) }
        return evicted
    }

    /// Forgets `key` (the store no longer has it).
    public mutating func remove(_ key: Key) {
        if probation.remove(key) == nil { protected.remove(key) }
    }
}

/// A doubly linked list of keys by recency (front: most recent) with O(1) moves, in a dictionary.
struct LRUList<Key: Hashable & Sendable>: Sendable {
    private struct Link: Sendable {
        var newer: Key?
        var older: Key?
        var bytes: UInt64
    }
    private var links: [Key: Link] = [:]
    private var front: Key?
    private var back: Key?
    private(set) var bytes: UInt64 = 0

    var count: Int { links.count }
    func contains(_ key: Key) -> Bool { links[key] != nil }

    mutating func pushFront(_ key: Key, bytes size: UInt64) {
        precondition(links[key] == nil, "a key is in the list once")
        links[key] = Link(newer: nil, older: front, bytes: size)
        if let front { links[front]?.newer = key }
        front = key
        if back == nil { back = key }
        bytes += size
    }

    @discardableResult
    mutating func remove(_ key: Key) -> UInt64? {
        guard let link = links.removeValue(forKey: key) else { return nil }
        if let newer = link.newer { links[newer]?.older = link.older } else { front = link.older }
        if let older = link.older { links[older]?.newer = link.newer } else { back = link.newer }
        bytes -= link.bytes
        return link.bytes
    }

    mutating func moveToFront(_ key: Key) {
        guard front != key, let size = remove(key) else { return }
        pushFront(key, bytes: size)
    }

    mutating func popBack() -> (key: Key, bytes: UInt64)? {
        guard let back, let size = remove(back) else { return nil }
        return (back, size)
    }
}
