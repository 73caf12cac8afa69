// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Host
import Identity
import Logging
import Mesh
import MeshCore
import Synchronization
import Wire

/// Lamport times for ledger entries a process issues: never below the wall clock in microseconds (so a
/// restarted CLI still moves forward) and always above the last one issued or witnessed.
enum Ledgers {
    static let last = Atomic<UInt64>(0)
    static func nextLamport() -> UInt64 {
        let now = UInt64(Date().timeIntervalSince1970 * 1e6)
        while true {
            let previous = last.load(ordering: .relaxed)
            let next = max(previous.saturatingAdd(1), now)  // witnessed times are ≤ 2^62 (LedgerEntry decoding)
            if last.compareExchange(expected: previous, desired: next, ordering: .relaxed).exchanged { return next }
        }
    }
    static func witness(_ lamport: UInt64) {
        while true {
            let previous = last.load(ordering: .relaxed)
            guard lamport > previous else { return }
            if last.compareExchange(expected: previous, desired: lamport, ordering: .relaxed).exchanged { return }
        }
    }
}

/// The node's side of replication: holds what others ask it to (STORE, durably, verified against the ID),
/// says what it holds (HAVE), drops what it no longer must keep (RELEASE), keeps the ledger, tracks demand
/// for the pieces it serves — and repairs: every interval, for each resource it holds, the alive holder with
/// the lowest member ID compares where the pieces are with where the allocator says they should be, pushes
/// missing copies (rate-limited, so foreground reads keep their bandwidth) and releases surplus ones when
/// demand falls.
public final class ReplicaService: Sendable {
    public struct Options: Sendable {
        /// Seconds between repair rounds.
        public var repairInterval: Double = 10
        /// Bytes per second repair may push.
        public var repairBytesPerSecond: Double = 32 * 1_048_576
        /// Half-life of the demand estimate, seconds.
        public var demandHalfLife: Double = 600
        public init() {}
    }

    public struct Summary: Sendable, Equatable {
        public var resources = 0
        /// Across the resources this node leads: the smallest copies/target ratio seen in the last round.
        public var underReplicated = 0
        public var repairedPieces = 0
        public var repairedBytes: UInt64 = 0
        public var releasedPieces = 0
        public var ledgerEntries = 0
        public var earned: UInt64 = 0
        public var spent: UInt64 = 0
    }

    let peers: PeerManager
    let store: ContentStore
    let pins: PinSet
    let identity: NodeIdentity
    let allocator: AllocatorHandle?
    let logger: Logger
    let options: Options
    let policyFolder: String
    let statusProvider: @Sendable () -> NodeStatus
    private let demand: Mutex<DemandTracker>
    private let ledger = Mutex(Ledger())
    private let owners = Mutex<[ContentID: ContentID]>([:])
    private let counters = Mutex(Summary())
    private let running = Atomic<Bool>(true)
    private let tokens: Mutex<TokenBucket>

    public init(peers: PeerManager, store: ContentStore, pins: PinSet, identity: NodeIdentity, allocator: AllocatorHandle?,
                dataDirectory: String, logger: Logger, options: Options = Options(), status: @escaping @Sendable () -> NodeStatus) {
        self.peers = peers
        self.store = store
        self.pins = pins
        self.identity = identity
        self.allocator = allocator
        self.logger = logger
        self.options = options
        self.statusProvider = status
        policyFolder = (dataDirectory as NSString).appendingPathComponent("replicas")
        try? FileManager.default.createDirectory(atPath: policyFolder, withIntermediateDirectories: true)
        demand = Mutex(DemandTracker(halfLife: options.demandHalfLife))
        tokens = Mutex(TokenBucket(rate: max(1, options.repairBytesPerSecond), now: DispatchTime.now().uptimeNanoseconds))
    }

    /// Registers the handlers and the ledger tree, and starts the repair loop.
    public func start() {
        for resource in pins.pinned { index(resource) }
        peers.serve(.store) { [self] payload, peer, _ in (.stored, handleStore(payload, from: peer)) }
        peers.serve(.have) { [self] payload, _, _ in
            guard let resource = ReplicationWire.decodeHave(payload) else { return (.haveReply, ReplicationWire.haveReply(.init(load: 0, demand: 0, pieces: []))) }
            return (.haveReply, ReplicationWire.haveReply(holding(resource)))
        }
        peers.serve(.release) { [self] payload, peer, _ in (.stored, handleRelease(payload, from: peer)) }
        peers.serve(.ledger) { [self] payload, _, _ in
            if let entry = LedgerEntry(decoding: payload[...]) { accept(entry) }
            return nil
        }
        peers.synchronize(tree: 1, MerkleTreeAccess(
            depth: 2,
            root: { [self] in ledger.withLock { $0.root() } },
            children: { [self] level, node in ledger.withLock { $0.children(level: level, node: node) } },
            leaf: { [self] node in ledger.withLock { $0.leaf(node) } },
            apply: { [self] bytes in
                var added = 0
                for start in stride(from: 0, to: bytes.count - bytes.count % LedgerEntry.encodedSize, by: LedgerEntry.encodedSize) {
                    if let entry = LedgerEntry(decoding: bytes[start..<(start + LedgerEntry.encodedSize)]), accept(entry) { added += 1 }
                }
                return added
            }))
        Thread { [self] in repairLoop() }.start()
    }

    public func stop() { running.store(false, ordering: .relaxed) }
    var runningFlag: Bool { running.load(ordering: .relaxed) }
    func setCounter(_ body: (inout Summary) -> Void) { counters.withLock { body(&$0) } }
    func withTokens<R>(_ body: (inout TokenBucket) -> R) -> R { tokens.withLock { body(&$0) } }

    public var summary: Summary {
        var summary = counters.withLock { $0 }
        let me = identity.id.bytes
        (summary.ledgerEntries, summary.earned, summary.spent) = ledger.withLock { l in
            let balance = l.balance(of: me)
            return (l.entries.count, balance.earned, balance.spent)
        }
        return summary
    }

    public var ledgerEntries: [LedgerEntry] { ledger.withLock { $0.ordered } }

    /// Counts a request served for `key` (a piece or a manifest) toward its resource's demand.
    public func served(_ key: [UInt8]) {
        guard let id = try? ContentID(bytes: key) else { return }
        let resource = owners.withLock { $0[id] } ?? id
        demand.withLock { $0.record(Array(resource.bytes.suffix(32)), now: Date().timeIntervalSince1970) }
    }

    /// Remembers which resource each of `resource`'s pieces belongs to (for demand).
    private func index(_ resource: ContentID) {
        guard let pieces = try? store.pieces(of: resource) else { return }
        owners.withLock { owners in for piece in pieces { owners[piece.id] = resource } }
    }

    // MARK: Handlers

    private func handleStore(_ payload: [UInt8], from peer: NodeID) -> [UInt8] {
        guard let (resource, policy, piece, data) = ReplicationWire.decodeStore(payload) else { return ReplicationWire.stored(.malformed) }
        if let space = store.capacity(), space.total > 0, space.total - min(space.total, space.used) < UInt64(data.count) {
            return ReplicationWire.stored(.noSpace, "\(data.count) bytes do not fit")
        }
        do {
            let (accepted, newlyPinned) = try pins.withLock(exclusive: false) { () throws(DataPathError) -> (Bool, Bool) in
                guard try store.importObject(piece, stored: Array(data)) else { return (false, false) }
                let fresh = !pins.isPinned(resource)
                try pins.pin(resource)
                return (true, fresh)
            }
            guard accepted else {
                logger.warning("refused piece \(piece) from \(peer): its bytes do not match its ID")
                return ReplicationWire.stored(.mismatch)
            }
            if let policy { savePolicy(policy, for: resource) }
            if piece == resource { index(resource) } else { owners.withLock { $0[piece] = resource } }
            if newlyPinned { peers.announceNow(Array(resource.bytes.suffix(32))) }
            return ReplicationWire.stored(.stored)
        } catch {
            logger.error("storing piece \(piece) for \(peer) failed: \(error.description)")
            return ReplicationWire.stored(.failed, error.description)
        }
    }

    /// What this node holds of `resource`, piece by piece (nothing when it lacks the manifest).
    func holding(_ resource: ContentID) -> ReplicationWire.Holding {
        let status = statusProvider()
        let rate = demand.withLock { $0.rate(Array(resource.bytes.suffix(32)), now: Date().timeIntervalSince1970) }
        guard store.contains(resource), let pieces = try? store.pieces(of: resource) else {
            return .init(load: status.load, demand: rate, pieces: [])
        }
        return .init(load: status.load, demand: rate, pieces: pieces.map { store.contains($0.id) })
    }

    private func handleRelease(_ payload: [UInt8], from peer: NodeID) -> [UInt8] {
        guard let (resource, flags) = ReplicationWire.decodeRelease(payload) else { return ReplicationWire.stored(.malformed) }
        do {
            let dropped = try release(resource, flags)
            logger.info("released \(dropped) piece(s) of \(resource) at the request of \(peer)")
            return ReplicationWire.stored(.stored)
        } catch { return ReplicationWire.stored(.failed, error.description) }
    }

    /// Drops the flagged pieces of `resource` (never its manifest while a piece is kept); a node left with no
    /// piece unpins the resource and stops announcing it. Returns the pieces dropped.
    func release(_ resource: ContentID, _ flags: [Bool]) throws(DataPathError) -> Int {
        guard let pieces = try? store.pieces(of: resource), flags.count == pieces.count else {
            throw DataPathError(.invalidArgument, "release of \(resource): \(flags.count) flags for a resource this node does not know that way")
        }
        var dropped = 0
        try pins.withLock(exclusive: true) { () throws(DataPathError) in
            for (i, drop) in flags.enumerated() where drop && pieces[i].id != resource && store.contains(pieces[i].id) {
                store.remove(pieces[i].id)
                dropped += 1
            }
            // Holding nothing more of it: stop keeping (and announcing) the resource.
            if !pieces.contains(where: { $0.id != resource && store.contains($0.id) }) {
                pins.unpin(resource)
                store.remove(resource)
            }
        }
        counters.withLock { $0.releasedPieces += dropped }
        return dropped
    }

    /// Verifies and keeps a ledger entry: signed by its payer, whose ID is the hash of the key it carries.
    @discardableResult
    func accept(_ entry: LedgerEntry) -> Bool {
        guard NodeID(publicKey: entry.payerKey).bytes == entry.payer,
            NodeIdentity.verify(entry.signature, of: entry.signedBytes, by: entry.payerKey)
        else {
            logger.warning("ledger entry with a bad signature refused")
            return false
        }
        Ledgers.witness(entry.lamport)
        let result = ledger.withLock { $0.add(entry) }
        if result == .conflicting { logger.warning("conflicting ledger entry from payer \(NodeID(publicKey: entry.payerKey)) refused") }
        return result == .added
    }

    // MARK: Policies

    private func savePolicy(_ policy: ReplicationWire.Policy, for resource: ContentID) {
        let path = (policyFolder as NSString).appendingPathComponent(resource.description)
        try? "budget \(policy.budget)\nsize \(policy.size)\n".write(toFile: path, atomically: true, encoding: .utf8)
    }

    func policy(for resource: ContentID) -> ReplicationWire.Policy? {
        let path = (policyFolder as NSString).appendingPathComponent(resource.description)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
        }
        guard let budget = values["budget"], let size = values["size"] else { return nil }
        return .init(budget: budget, size: size)
    }
}
