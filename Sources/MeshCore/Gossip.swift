// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire

/// A message on a gossip topic, named by its origin and the origin's sequence number — unique without
/// coordination — and signed by its origin over ``signedBytes`` (the hop count and Lamport time, which relays
/// change, are not signed).
public struct GossipMessage: Sendable, Equatable {
    public init(
        origin: MemberID, sequence: UInt32, topic: String, payload: [UInt8], lamport: UInt64, hops: UInt8, signature: MemberSignature? = nil
    ) {
        self.origin = origin
        self.sequence = sequence
        self.topic = topic
        self.payload = payload
        self.lamport = lamport
        self.hops = hops
        self.signature = signature
    }

    public var origin: MemberID
    public var sequence: UInt32
    public var topic: String
    public var payload: [UInt8]
    public var lamport: UInt64
    public var hops: UInt8
    /// The origin's signature; a message without a valid one is neither delivered nor forwarded.
    public var signature: MemberSignature?

    /// What the origin signs: a domain tag ‖ origin (u64) ‖ sequence (u32) ‖ topic length (u8) ‖ topic ‖
    /// payload length (u32) ‖ payload, little-endian.
    public var signedBytes: [UInt8] {
        var out = Array("inos-gossip-1".utf8)
        withUnsafeBytes(of: origin.littleEndian) { out += $0 }
        withUnsafeBytes(of: sequence.littleEndian) { out += $0 }
        let topic = Array(topic.utf8.prefix(255))
        out.append(UInt8(topic.count))
        out += topic
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian) { out += $0 }
        return out + payload
    }

    struct Key: Hashable {
        var origin: MemberID
        var sequence: UInt32
    }

    var key: Key { Key(origin: origin, sequence: sequence) }
}

/// Topic-based gossip with bounded fan-out and duplicate suppression: a node forwards each message it has not
/// seen to `fanout` random members (not the sender, not the origin) while it has hops left, and delivers it
/// if subscribed. Each message costs at most N·fanout sends; with fanout ≥ ln N + 2 it reaches all but a tiny
/// share of N nodes. The seen-set is bounded (oldest forgotten first).
///
/// Origins are authenticated: a node signs what it publishes, and a receiver checks the signature against the
/// origin (``MemberCredentials/verify(_:of:by:)``) before it remembers, delivers or forwards a message, so a
/// member cannot publish for another, and a forgery cannot take the sequence number of a genuine message.
public final class GossipNode {
    public struct Outbound: Sendable, Equatable {
        public var to: MemberID
        public var message: GossipMessage
    }

    public let id: MemberID
    public let credentials: MemberCredentials
    public let fanout: Int
    public let maxHops: UInt8
    public private(set) var subscriptions: Set<String> = []
    /// Set only by a node that shares one clock among its services (it loads the node's time before a call).
    public package(set) var clock = LamportClock()
    /// Messages dropped because their origin's signature did not verify.
    public private(set) var forgeries = 0
    private var sequence: UInt32 = 0
    private var seen: Set<GossipMessage.Key> = []
    private var seenOrder: [GossipMessage.Key] = []
    private var seenHead = 0
    private let seenCapacity: Int
    private var random: UInt64
    /// Members to gossip with, kept current by membership.
    public var members: [MemberID] = []

    public init(id: MemberID, credentials: MemberCredentials, fanout: Int = 8, maxHops: UInt8 = 12, seenCapacity: Int = 65_536, seed: UInt64) {
        self.id = id
        self.credentials = credentials
        self.fanout = fanout
        self.maxHops = maxHops
        self.seenCapacity = seenCapacity
        random = seed | 1
    }

    public func subscribe(_ topic: String) { subscriptions.insert(topic) }
    public func unsubscribe(_ topic: String) { subscriptions.remove(topic) }

    /// Publishes on `topic`; returns the sends (the publisher does not deliver to itself).
    public func publish(_ topic: String, _ payload: [UInt8]) -> [Outbound] {
        sequence &+= 1
        var message = GossipMessage(origin: id, sequence: sequence, topic: topic, payload: payload, lamport: clock.tick(), hops: 0)
        message.signature = credentials.sign(message.signedBytes)
        remember(message.key)
        return forward(message, except: id)
    }

    /// A message on `topic` for `members` only: signed like a publication, but with no hops left, so they deliver
    /// it and forward nothing. What a node tells a member that just joined (its status, its root) instead of
    /// making it wait for the next publication — O(1) frames per member, not the N × fanout of a publication.
    public func direct(_ topic: String, _ payload: [UInt8], to members: some Sequence<MemberID>) -> [Outbound] {
        let targets = Set(members).subtracting([id]).sorted()
        guard !targets.isEmpty else { return [] }
        sequence &+= 1
        var message = GossipMessage(origin: id, sequence: sequence, topic: topic, payload: payload, lamport: clock.tick(), hops: maxHops)
        message.signature = credentials.sign(message.signedBytes)
        remember(message.key)
        return targets.map { Outbound(to: $0, message: message) }
    }

    /// Handles a message: `deliver` is it, if new, signed by its origin and subscribed; `out` are the forwards.
    public func receive(_ message: GossipMessage, from sender: MemberID) -> (deliver: GossipMessage?, out: [Outbound]) {
        clock.witness(message.lamport)
        guard !seen.contains(message.key) else { return (nil, []) }  // a duplicate: dropped
        // Checked before it is remembered: a forgery must not make the genuine message look like a duplicate.
        guard credentials.verify(message.signature, of: message.signedBytes, by: message.origin) else {
            forgeries += 1
            return (nil, [])
        }
        remember(message.key)
        let out = message.hops < maxHops ? forward(message, except: sender) : []
        return (subscriptions.contains(message.topic) ? message : nil, out)
    }

    private func forward(_ message: GossipMessage, except sender: MemberID) -> [Outbound] {
        var next = message
        next.hops += 1
        next.lamport = clock.tick()
        // Each member once: `members` is the owner's array, and with a member listed twice there could be more
        // candidates than `fanout` but fewer distinct ones, and the draw below would never end.
        var distinct: Set<MemberID> = []
        let candidates = members.filter { $0 != id && $0 != sender && $0 != message.origin && distinct.insert($0).inserted }
        var chosen: Set<MemberID> = []
        if candidates.count <= fanout {
            chosen = Set(candidates)
        } else {
            while chosen.count < fanout {
                random ^= random << 13
                random ^= random >> 7
                random ^= random << 17
                chosen.insert(candidates[Int(random % UInt64(candidates.count))])
            }
        }
        return chosen.sorted().map { Outbound(to: $0, message: next) }
    }

    private func remember(_ id: GossipMessage.Key) {
        seen.insert(id)
        if seenOrder.count < seenCapacity {
            seenOrder.append(id)
        } else {
            seen.remove(seenOrder[seenHead])
            seenOrder[seenHead] = id
            seenHead = (seenHead + 1) % seenCapacity
        }
    }
}

/// What each node publishes on the `node-status` topic: the allocator's and router's inputs.
public struct NodeStatus: Sendable, Equatable {
    public var load: Double
    public var capacityBytes: UInt64
    public var freeBytes: UInt64
    /// The region's name as the operator gave it (`inos node --region eu-west`), "" for none: at most
    /// ``maximumRegionName`` bytes of ASCII letters, digits, `.`, `_` and `-`.
    public var regionName: String

    public init(load: Double, capacityBytes: UInt64, freeBytes: UInt64, regionName: String = "") {
        self.load = load
        self.capacityBytes = capacityBytes
        self.freeBytes = freeBytes
        self.regionName = regionName
    }

    public static let topic = "node-status"
    public static let maximumRegionName = 32

    /// Placement's key for the region (the allocator ABI's `region`, the hierarchical tier's grouping): a stable
    /// hash of the name, so every node derives the same number from the same gossip; 0 for no region.
    public var region: UInt32 { Self.regionKey(regionName) }

    /// FNV-1a (32 bit) of the name's bytes; never 0 for a name, so 0 stays "no region".
    public static func regionKey(_ name: String) -> UInt32 {
        guard !name.isEmpty else { return 0 }
        var hash: UInt32 = 0x811c_9dc5
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        return hash == 0 ? 1 : hash
    }

    /// Whether `name` may be published: empty, or up to 32 bytes of `A-Z a-z 0-9 . _ -`.
    public static func isValidRegionName(_ name: String) -> Bool {
        name.utf8.count <= maximumRegionName && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
    }

    /// Whether placement would see a difference: another region or capacity, the load moved by 0.05 or more
    /// (the allocator's load bands are 0.375 and 0.5 wide), or the free space by 1% of the capacity and at least
    /// 64 MiB. What a node republishes its status for before the refresh is due.
    public func differsMaterially(from other: NodeStatus) -> Bool {
        if regionName != other.regionName || capacityBytes != other.capacityBytes { return true }
        if abs(load - other.load) >= 0.05 { return true }
        let moved = freeBytes > other.freeBytes ? freeBytes - other.freeBytes : other.freeBytes - freeBytes
        return moved >= max(capacityBytes / 100, 64 << 20)
    }

    /// 25 bytes plus the region's name, little-endian: load (f64 bits) ‖ capacity (u64) ‖ free (u64) ‖ region
    /// name length (u8, ≤ 32) ‖ region name (ASCII).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        for word in [load.bitPattern, capacityBytes, freeBytes] { withUnsafeBytes(of: word.littleEndian) { out += $0 } }
        let name = Array(regionName.utf8.prefix(Self.maximumRegionName))
        out.append(UInt8(name.count))
        out += name
    }

    /// Exactly one status, nothing after it.
    public init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let status = Self.decode(from: &reader), reader.atEnd else { return nil }
        self = status
    }

    /// One status from `reader` (inside a member list): nil for a load outside [0, 1] or not finite, or a region
    /// name that is too long or holds other bytes than ``isValidRegionName(_:)`` allows.
    package static func decode(from reader: inout ByteReader) -> NodeStatus? {
        guard let load = reader.read(UInt64.self).map(Double.init(bitPattern:)), let capacity = reader.read(UInt64.self),
            let free = reader.read(UInt64.self), let name = reader.prefixed(UInt8.self, max: maximumRegionName),
            load.isFinite, (0...1).contains(load)
        else { return nil }
        let regionName = String(decoding: name, as: UTF8.self)
        guard isValidRegionName(regionName) else { return nil }
        return NodeStatus(load: load, capacityBytes: capacity, freeBytes: free, regionName: regionName)
    }
}

/// The binary form of a gossip message inside a sealed GOSSIP frame (little-endian): origin (u64) ‖ sequence
/// (u32) ‖ Lamport (u64) ‖ hops (u8) ‖ topic length (u8) ‖ topic ‖ signed (u8: 0 or 1) [‖ key length (u8) ‖
/// key ‖ signature length (u8) ‖ signature] ‖ payload length (u32) ‖ payload. Decoding never traps; a Lamport
/// time above ``WireLimits/maximumLamport`` makes the message malformed. The codec carries the signature;
/// ``GossipNode`` checks it.
public enum GossipCodec {
    public static let maximumPayload = 1 << 20

    public static func encode(_ message: GossipMessage) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        let topic = Array(message.topic.utf8.prefix(255))
        put(message.origin); put(message.sequence); put(message.lamport); put(message.hops)
        put(UInt8(topic.count)); out += topic
        MemberSignature.encode(message.signature, into: &out)
        put(UInt32(message.payload.count)); out += message.payload
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> GossipMessage? {
        var reader = ByteReader(bytes)
        guard let origin = reader.read(UInt64.self), let sequence = reader.read(UInt32.self), let lamport = reader.lamport(),
            let hops = reader.read(UInt8.self), let topic = reader.prefixed(UInt8.self),
            let signature = MemberSignature.decode(from: &reader), let payload = reader.prefixed(UInt32.self, max: maximumPayload), reader.atEnd
        else { return nil }
        return GossipMessage(
            origin: origin, sequence: sequence, topic: String(decoding: topic, as: UTF8.self), payload: Array(payload), lamport: lamport, hops: hops,
            signature: signature)
    }
}
