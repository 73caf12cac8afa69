// SPDX-License-Identifier: Apache-2.0
import Content
import Synchronization

/// A node's edge cache: the chunks and manifests it fetched from other holders to answer a read (the gateway,
/// `GET /ipfs/…`), kept in its store — unpinned — up to a bound, and the seed's cache metrics.
///
/// Before this bound, every chunk a gateway read fetched stayed in the store until an operator ran `inos gc`, so
/// one client asking for resource after resource could fill a node's disk. Now a fetched object is tracked by a
/// ``SegmentedLRU`` of ``capacity`` bytes; past it, the least recently read objects are removed from the store —
/// only those no pinned resource needs (``ContentStore/removeUnneeded(_:pins:)``): what the node holds for
/// owners, or pinned by a later put or STORE, is never evicted.
///
/// Counts (``Statistics``): a *hit* is a read the store answered, a *miss* one that fetched from a peer; the
/// average latency is over both, from the read's start to its verified bytes.
///
/// The cache knows which of its objects are resource *roots* (a manifest, or a single-chunk resource read as
/// such): those the node announces as an edge cache (short-lived provider records) while they are cached, and
/// withdraws when they are evicted — ``observe(_:)`` is told of both.
public final class ChunkCache: Sendable {
    /// What changed in the set of cached roots.
    public enum Change: Sendable, Equatable {
        case cached(ContentID)
        case evicted(ContentID)
    }

    public struct Statistics: Sendable, Equatable {
        public var capacityBytes: UInt64 = 0
        public var bytes: UInt64 = 0
        public var entries = 0
        public var hits = 0
        public var misses = 0
        /// Objects the bound pushed out of the cache (one a pinned resource needs stays in the store, untracked).
        public var evictions = 0
        /// Bytes removed from the store by eviction.
        public var evictedBytes: UInt64 = 0
        /// Summed read latencies, nanoseconds (hits and misses).
        public var latencyNanoseconds: UInt64 = 0
        /// Bytes reads got, by where from: this node's store (hits), a holder or cache in this node's region, a
        /// holder elsewhere (misses) — the share of reads served inside the reader's region.
        public var localBytes: UInt64 = 0
        public var regionBytes: UInt64 = 0
        public var remoteBytes: UInt64 = 0
        public init() {}

        /// Hits over reads (0 before the first read).
        public var hitRate: Double { hits + misses > 0 ? Double(hits) / Double(hits + misses) : 0 }
        /// The mean read latency in seconds (0 before the first read).
        public var averageLatencySeconds: Double { hits + misses > 0 ? Double(latencyNanoseconds) / 1e9 / Double(hits + misses) : 0 }
    }

    public let capacity: UInt64
    private let store: ContentStore
    private let pins: PinSet
    private let state: Mutex<(lru: SegmentedLRU<ContentID>, counts: Statistics, roots: Set<ContentID>)>
    private let observer = Mutex<(@Sendable (Change) -> Void)?>(nil)

    /// A cache of `capacity` bytes over `store`; nothing `pins` needs is ever evicted.
    public init(capacity: UInt64, store: ContentStore, pins: PinSet) {
        self.capacity = capacity
        self.store = store
        self.pins = pins
        var counts = Statistics()
        counts.capacityBytes = capacity
        state = Mutex((SegmentedLRU(capacity: capacity), counts, []))
    }

    /// A read of `id` (`contentBytes` read) the store answered, `nanoseconds` after it started: a hit (and a
    /// cached object moves up).
    public func served(_ id: ContentID, contentBytes: UInt64 = 0, nanoseconds: UInt64) {
        state.withLock { state in
            state.lru.touch(id)
            state.counts.hits += 1
            state.counts.localBytes &+= contentBytes
            state.counts.latencyNanoseconds = state.counts.latencyNanoseconds.addingReportingOverflow(nanoseconds).partialValue
        }
    }

    /// A read that fetched `id` (`bytes` as stored) from a peer into the store: a miss; the object is cached, and
    /// what the bound pushes out is removed from the store (unless a pinned resource needs it). `root`: `id` is
    /// the resource the read asked for (its manifest, or a single chunk), which the node announces while it is
    /// cached. `near`: the holder that delivered it (`contentBytes` read) is in this node's region. Returns the
    /// IDs removed.
    @discardableResult
    public func fetched(_ id: ContentID, bytes: UInt64, contentBytes: UInt64 = 0, nanoseconds: UInt64, root: Bool = false, near: Bool = false) -> [ContentID] {
        let (evicted, newRoot) = state.withLock { state -> ([(key: ContentID, bytes: UInt64)], Bool) in
            state.counts.misses += 1
            if near { state.counts.regionBytes &+= contentBytes } else { state.counts.remoteBytes &+= contentBytes }
            state.counts.latencyNanoseconds = state.counts.latencyNanoseconds.addingReportingOverflow(nanoseconds).partialValue
            let evicted = state.lru.insert(id, bytes: bytes)
            // Kept unless the bound pushed it straight out again (larger than the whole cache).
            let kept = root && !evicted.contains { $0.key == id }
            return (evicted, kept && state.roots.insert(id).inserted)
        }
        if newRoot { notify(.cached(id)) }
        return evict(evicted)
    }

    /// Marks `id` as recently used without counting a read (a resource's root while its chunks are read).
    public func touch(_ id: ContentID) { state.withLock { _ = $0.lru.touch(id) } }

    /// Whether `id` is a root the cache keeps now (announce and withdraw check it last).
    public func isRoot(_ id: ContentID) -> Bool { state.withLock { $0.roots.contains(id) } }

    /// Whether a root whose DHT key (its digest) is `key` is kept now.
    public func isRoot(key: [UInt8]) -> Bool { state.withLock { $0.roots.contains { $0.bytes.suffix(32).elementsEqual(key) } } }

    /// Tells `observer` of every root cached and evicted from now on (one observer: a later call replaces it).
    /// It is called outside the cache's lock, on the thread of the read that caused the change.
    public func observe(_ observer: @escaping @Sendable (Change) -> Void) { self.observer.withLock { $0 = observer } }

    /// The roots cached now, in no order: what the node republishes as an edge cache.
    public var roots: [ContentID] { state.withLock { Array($0.roots) } }

    private func notify(_ change: Change) { observer.withLock { $0 }?(change) }

    /// Tracks objects the store already holds that no pinned resource needs (at start: what earlier reads left),
    /// up to the capacity; returns how many it left untracked (`inos gc` removes those).
    public func adopt() throws(DataPathError) -> (adopted: Int, left: Int) {
        let unneeded = try store.unneededObjects(pins: pins)
        var adopted = 0
        for id in unneeded {
            guard let stored = try store.storedObject(id) else { continue }
            let fits = state.withLock { state -> Bool in
                guard state.lru.bytes + UInt64(stored.count) <= capacity else { return false }
                _ = state.lru.insert(id, bytes: UInt64(stored.count))
                // A manifest left unpinned came from a read of its resource; a lone chunk cannot tell.
                if id.codec == .manifest { state.roots.insert(id) }
                return true
            }
            guard fits else { break }
            adopted += 1
            if id.codec == .manifest { notify(.cached(id)) }
        }
        return (adopted, unneeded.count - adopted)
    }

    /// Removes the evicted objects from the store, keeping what a pinned resource needs.
    private func evict(_ evicted: [(key: ContentID, bytes: UInt64)]) -> [ContentID] {
        guard !evicted.isEmpty else { return [] }
        let removed = (try? store.removeUnneeded(evicted.map(\.key), pins: pins)) ?? []
        let gone = Set(removed)
        let roots = state.withLock { state -> [ContentID] in
            state.counts.evictions += evicted.count
            state.counts.evictedBytes += evicted.filter { gone.contains($0.key) }.reduce(0) { $0 + $1.bytes }
            // No longer the cache's, whether the store kept it (a pinned resource needs it) or not.
            return evicted.compactMap { state.roots.remove($0.key) }
        }
        for root in roots { notify(.evicted(root)) }
        return removed
    }

    public var statistics: Statistics {
        state.withLock { state in
            var counts = state.counts
            counts.bytes = state.lru.bytes
            counts.entries = state.lru.count
            return counts
        }
    }
}
