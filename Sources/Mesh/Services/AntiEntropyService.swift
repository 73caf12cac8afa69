// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives
import Synchronization
import Wire

extension FrameType {
    /// Merkle anti-entropy: a question (root, a node's children, a leaf's items) and its answer.
    public static let merkle = FrameType(rawValue: 0x55)
    public static let merkleReply = FrameType(rawValue: 0x56)
}

/// Merkle anti-entropy (MERKLE) of the provider records (tree 0) and the trees other services add (the
/// ledger, tree 1): a member tells a few others, picked at random, one root over all trees; one whose root
/// differs syncs with it, tree by tree, from the root down only where the hashes differ — and, changed by what
/// it pulled, tells a few others in turn. A change spreads as a rumour, in about log_k(N) rounds.
///
/// Once SWIM's view is partial (``Membership/isPartial``: the mesh outgrew `[mesh] max_members`) the provider
/// records leave anti-entropy here: synchronized, every record reached every node, so each node's memory grew with
/// the whole mesh's resources. They are Kademlia's alone then — kept by the k members closest to each key, found
/// by lookups, republished by their providers — and this node neither pulls them nor counts them in its root
/// (it still answers a full-view member that asks for them).
final class AntiEntropyService: Sendable {
    private let layer: PeerLayer
    private let providers: ProviderStore
    /// Merkle trees kept in sync besides the provider records (tree 0), by id.
    private let trees = Mutex<[UInt8: MerkleTreeAccess]>([:])
    /// Members a sync is queued or running with (a second trigger for the same member is dropped).
    private let syncing = Mutex<Set<MemberID>>([])
    /// Set by ``treeChanged()``: the next epoch publishes the root, even if it hashes the same.
    private let rootChanged = Atomic<Bool>(false)
    /// The root last published and the epoch it went out (0: never).
    private let published = Mutex<(root: UInt64, epoch: UInt64)>((0, 0))

    init(layer: PeerLayer, providers: ProviderStore) {
        self.layer = layer
        self.providers = providers
    }

    var registrations: [FrameRegistration] {
        [
            FrameRegistration(.merkle, "MERKLE", owner: "anti-entropy", kind: .request) { [self] frame throws(MeshError) in
                var reader = ByteReader(frame.payload)
                guard let op = reader.read(UInt8.self), op <= 2, let levelByte = reader.read(UInt8.self), let node32 = reader.read(UInt32.self),
                    reader.remaining <= 1
                else { throw MeshError(.malformed, "malformed anti-entropy question") }
                let level = Int(levelByte), node = Int(node32)
                let reply: [UInt8]
                let treeID = reader.read(UInt8.self) ?? 0
                if let tree = access(treeID) {
                    switch op {
                    case 0: reply = Self.encode([tree.root()])
                    case 1 where level < tree.depth && node < 1 << (4 * level): reply = Self.encode(tree.children(level, node))
                    // A partial view's node hands out no provider records: anti-entropy would keep a dead
                    // provider's records alive by passing them to full-view members (they travel by PROVIDE).
                    case 2 where node < 1 << (4 * tree.depth): reply = treeID == 0 && !providersSynchronized ? [] : tree.leaf(node)
                    default: reply = []
                    }
                } else {
                    reply = []
                }
                try layer.reply(to: frame, .merkleReply, reply)
            },
            .response(.merkleReply, "MERKLE_REPLY", owner: "anti-entropy"),
        ]
    }

    private static func encode(_ hashes: [UInt64]) -> [UInt8] { hashes.flatMap { hash in withUnsafeBytes(of: hash.littleEndian) { Array($0) } } }

    private static func decodeHashes(_ bytes: [UInt8]) -> [UInt64] {
        var reader = ByteReader(bytes), out: [UInt64] = []
        while let hash = reader.read(UInt64.self) { out.append(hash) }
        return out
    }

    /// Says a synchronized tree gained items: the root goes out at the next epoch (at most one a second, however
    /// many items arrive), so members that lack them sync within about a second rather than the next fifth epoch.
    func treeChanged() { rootChanged.store(true, ordering: .relaxed) }

    /// Forgets the trees services added (a stopped node): their closures reference the services, which reference
    /// the peer manager that holds this service — a cycle that kept every stopped node alive (LeakSanitizer).
    func dropTrees() { trees.withLock { $0.removeAll() } }

    /// Adds a Merkle tree to anti-entropy under `id` (1…255; 0 is the provider records).
    func synchronize(tree id: UInt8, _ access: MerkleTreeAccess) {
        precondition(id != 0)
        trees.withLock { $0[id] = access }
    }

    /// The local side of tree `id`: the provider records, or a tree added with ``synchronize(tree:_:)``.
    private func access(_ id: UInt8) -> MerkleTreeAccess? {
        if id != 0 { return trees.withLock { $0[id] } }
        return MerkleTreeAccess(
            depth: providers.tree.withLock { $0.depth },
            root: { [providers] in providers.tree.withLock { $0.root() } },
            children: { [providers] level, node in providers.tree.withLock { $0.children(level: level, node: node) } },
            leaf: { [providers] node in providers.tree.withLock { $0.items(inLeaf: node).flatMap(\.1) } },
            apply: { [providers, layer] bytes in
                var changed = 0, rest = bytes[...]
                let now = layer.clock.now()
                while let (key, record, next) = ProviderRecord.decode(rest) {
                    if providers.add(key, record, now: now) { changed += 1 }
                    rest = next
                }
                return changed
            })
    }

    /// Anti-entropy of tree `id` with the peer on `connection`: compares the trees from the root down, only where
    /// they differ, and pulls the items of differing leaves (for provider records, a record replaces the one kept
    /// only if it is a later announcement). Returns the items that changed here.
    func syncTree(_ id: UInt8, on connection: UInt64, timeout: Double) throws(MeshError) -> Int {
        guard let tree = access(id) else { throw MeshError(.notFound, "no tree \(id) to synchronize") }
        func ask(_ op: UInt8, level: Int = 0, node: Int = 0) throws(MeshError) -> [UInt8] {
            var payload: [UInt8] = [op, UInt8(level)]
            withUnsafeBytes(of: UInt32(node).littleEndian) { payload += $0 }
            if id != 0 { payload.append(id) }
            return try layer.request(.merkle, payload: payload, on: connection, timeout: timeout).payload
        }
        // MeshCore's walk decides what to ask; this only carries its questions as MERKLE requests.
        var walk = MerkleWalk(depth: tree.depth)
        while let question = walk.question {
            let answered: Bool
            switch question {
            case .root:
                answered = walk.answer(remote: Self.decodeHashes(try ask(0)), local: [tree.root()])
            case .children(let level, let node):
                answered = walk.answer(remote: Self.decodeHashes(try ask(1, level: level, node: node)), local: tree.children(level, node))
            }
            guard answered else { throw MeshError(.malformed, "malformed anti-entropy answer") }
        }
        var changed = 0
        for leaf in walk.differingLeaves { changed += tree.apply(try ask(2, node: leaf)) }
        return changed
    }

    /// The root members compare on the anti-entropy topic: one hash over every synchronized tree's root, so a
    /// difference in any of them starts a sync (each tree then compares its own root first).
    func metadataRoot() -> UInt64 {
        let ids = (providersSynchronized ? [UInt8(0)] : []) + trees.withLock { Array($0.keys) }.sorted()
        if ids.isEmpty { return 0 }
        let roots = ids.compactMap { access($0)?.root() }
        // (A tree dropped meanwhile — a node stopping — leaves fewer roots than ids.)
        return roots.count == 1 && ids.count == 1 ? roots[0] : sha256Digest64(Self.encode(roots))
    }

    /// Whether the provider records take part in anti-entropy: while SWIM's view holds the whole mesh.
    private var providersSynchronized: Bool { layer.membership?.isPartial != true }

    /// Pulls differing items from `member`, over its session, in the background lane.
    /// `providers`: also the provider records (tree 0). The periodic push-pull leaves them out: a record's TTL
    /// starts again wherever it lands, so pulling them on a timer would keep a dead provider's records alive by
    /// passing them around; they travel when a gossiped root says they differ, as announcements are made.
    func synchronize(with member: MemberID, providers: Bool = true) {
        guard let membership = layer.membership, let connection = membership.connection(to: member) else { return }
        // One sync per member at a time, in the background lane: a root that differs in every gossip round
        // does not pile up syncs, and syncs never hold the workers that answer requests.
        guard syncing.withLock({ $0.insert(member).inserted }) else { return }
        let logger = layer.logger
        let queued = layer.lanes.background.submit { [self] in
            defer { _ = syncing.withLock { $0.remove(member) } }
            do throws(MeshError) {
                if providers && providersSynchronized {
                    let changed = try syncTree(0, on: connection, timeout: 5)
                    if changed > 0 { logger.info("anti-entropy with member \(String(member, radix: 16)): \(changed) provider record(s) updated") }
                }
                for id in trees.withLock({ Array($0.keys) }).sorted() {
                    let items = try syncTree(id, on: connection, timeout: 5)
                    if items > 0 { logger.info("anti-entropy with member \(String(member, radix: 16)): \(items) item(s) of tree \(id) added") }
                }
            } catch {
                logger.warning("anti-entropy with member \(String(member, radix: 16)) failed: \(error.message)")
            }
        }
        if !queued { _ = syncing.withLock { $0.remove(member) } }
    }

    /// Epochs between two publications of an unchanged root (a refresh for members that lost one on the way):
    /// at 30 members, a 5-epoch refresh of an unchanged root was three quarters of an idle mesh's gossip frames.
    static let rootRefreshEpochs: UInt64 = 30
    /// Epochs between two publications of a root that changed: provider records change it with every
    /// announcement and travel by themselves, so a changing root goes out at most this often, not every epoch.
    static let changedRootEpochs: UInt64 = 5
    /// Members told each root, picked at random among the alive. A root used to be published on the gossip topic,
    /// flooded to all N members at fanout 6 (6N frames), and every member whose root differed synced with the
    /// publisher: each new ledger entry cost N publications, 6N² frames and up to N² syncs. In the 30-host chaos
    /// runs that was most of the nodes' frames, and it starved their reactors while the mesh repaired. Told to 3,
    /// a change costs 3 frames and at most 3 syncs per member it reaches.
    static let rootTellers = 3

    /// Epoch `number` (once a second): tells ``rootTellers`` members the root of the synchronized trees after
    /// ``treeChanged()`` (the ledger), when it differs from the one last told and ``changedRootEpochs`` have
    /// passed, and every ``rootRefreshEpochs`` anyway; members whose root differs sync with us (and we with them
    /// when theirs arrives).
    /// Counted in epochs, not read off the clock, so a late tick does not skip a round. Every tenth, also a
    /// push-pull of the other trees (the ledger: immutable entries) with one member picked at random, whatever
    /// the gossip said (memberlist's push-pull): gossip is fire-and-forget, and a root lost on the way must not
    /// leave a difference for good.
    func epoch(_ number: UInt64) {
        let changed = rootChanged.exchange(false, ordering: .relaxed)
        guard let gossip = layer.gossip, let membership = layer.membership else { return }
        let root = metadataRoot()
        let due = published.withLock { last -> Bool in
            let since = number &- last.epoch
            guard changed || last.epoch == 0 || since >= Self.rootRefreshEpochs || (last.root != root && since >= Self.changedRootEpochs)
            else { return false }
            last = (root, max(1, number))
            return true
        }
        if due { layer.sendGossip(gossip.tellRoot(root, to: Array(membership.aliveMembers.shuffled().prefix(Self.rootTellers)))) }
        if number % 10 == 5, let member = membership.aliveMembers.randomElement() { synchronize(with: member, providers: false) }
    }
}
