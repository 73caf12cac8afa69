// SPDX-License-Identifier: Apache-2.0
import MeshCore

/// The one rule by which every fetch picks among the holders of what it wants — a gateway read, `inos get`
/// through a node, and repair's fetch of a piece it must push: healthy first (gossiped load below
/// ``overloaded``), then inside this node's region (a regional hub or edge cache before a seed across the
/// world), then the lowest round trip.
///
/// "Near" is a holder whose gossiped region is this node's; a node without a region finds every holder near,
/// and a holder whose status has not been heard yet is treated as healthy but not near.
public struct HolderRoute: Sendable, Equatable {
    public var member: MemberID
    /// Its gossiped load is at or above ``overloaded``.
    public var overloaded: Bool
    /// It is in this node's region (or this node has none).
    public var near: Bool
    /// The session's smoothed round trip in microseconds (infinity before the first measurement, or without a session).
    public var rttMicroseconds: Double

    /// The load at which a holder is passed over while a lighter one has the piece.
    public static let overloaded = 0.8

    public init(member: MemberID, overloaded: Bool, near: Bool, rttMicroseconds: Double) {
        self.member = member
        self.overloaded = overloaded
        self.near = near
        self.rttMicroseconds = rttMicroseconds
    }

    /// Whether `self` goes before `other`: healthy, then near, then faster (then the member ID, so equal routes
    /// rank the same on every run).
    public func precedes(_ other: HolderRoute) -> Bool {
        if overloaded != other.overloaded { return !overloaded }
        if near != other.near { return near }
        if rttMicroseconds != other.rttMicroseconds { return rttMicroseconds < other.rttMicroseconds }
        return member < other.member
    }

    /// The routes of `members` from what is known of them, ranked (``precedes(_:)``). `statuses` is the gossip
    /// (load and region per member), `rtts` the sessions' round trips, `region` this node's.
    public static func ranked(_ members: [MemberID], statuses: [MemberID: NodeStatus], rtts: [MemberID: Double], region: String) -> [HolderRoute] {
        members.map { member in
            let status = statuses[member]
            return HolderRoute(
                member: member, overloaded: (status?.load ?? 0) >= overloaded,
                near: region.isEmpty || status?.regionName == region, rttMicroseconds: rtts[member] ?? .infinity)
        }.sorted { $0.precedes($1) }
    }
}

extension PeerManager {
    /// This node's region, as its last published status named it ("" for none, or before the first status).
    public var region: String { gossipRegion() }

    /// `members` ranked by ``HolderRoute``'s rule from this node's gossip and sessions; this node itself is left out.
    public func routes(to members: [MemberID]) -> [HolderRoute] {
        let rtts = Dictionary(peers.compactMap { peer in peer.node.map { (Membership.member($0), peer.rttMicroseconds ?? .infinity) } }, uniquingKeysWith: min)
        return HolderRoute.ranked(Array(Set(members)).filter { $0 != memberID }, statuses: gossip?.known ?? [:], rtts: rtts, region: region)
    }
}
