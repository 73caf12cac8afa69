// SPDX-License-Identifier: Apache-2.0
import Wire

extension FrameType {
    /// A SWIM membership message (MeshCore.SwimCodec), inside a sealed frame.
    public static let membership = FrameType(rawValue: 0x50)
    /// MEMBERS asks for the alive members with their addresses and last node status; MEMBERS_REPLY answers.
    /// (Their values sit in the replication range for history's sake.)
    public static let members = FrameType(rawValue: 0x66)
    public static let membersReply = FrameType(rawValue: 0x67)
}

/// SWIM over the sessions (MEMBERSHIP) and the member list with addresses and statuses (MEMBERS).
final class MembershipService: Sendable {
    private let layer: PeerLayer
    private let gossip: GossipService

    init(layer: PeerLayer, gossip: GossipService) {
        self.layer = layer
        self.gossip = gossip
    }

    var registrations: [FrameRegistration] {
        [
            FrameRegistration(.membership, "MEMBERSHIP", owner: "membership", kind: .oneWay) { [layer] frame throws(MeshError) in
                guard let membership = layer.membership else { return }
                layer.sendMembership(try membership.receive(frame.payload, from: frame.peer, now: layer.clock.now()))
            },
            FrameRegistration(.members, "MEMBERS", owner: "membership", kind: .request) { [self] frame throws(MeshError) in
                try layer.reply(to: frame, .membersReply, MemberInfo.encodeList(memberList()))
            },
            .response(.membersReply, "MEMBERS_REPLY", owner: "membership"),
        ]
    }

    /// The alive members (this node first) with their addresses and last published status (MEMBERS).
    func memberList() -> [MemberInfo] {
        guard let membership = layer.membership else { return [] }
        let statuses = layer.gossip?.known ?? [:]
        var out = [MemberInfo(member: membership.memberID, address: membership.advertisedAddress ?? "", status: gossip.ownStatus())]
        for member in membership.aliveMembers {
            out.append(MemberInfo(member: member, address: membership.address(of: member) ?? "", status: statuses[member]))
        }
        return out
    }

    /// Asks the peer on `connection` for its member list (MEMBERS).
    func members(on connection: UInt64, timeout: Double) throws(MeshError) -> [MemberInfo] {
        try Self.memberList(in: try layer.request(.members, payload: [], on: connection, timeout: timeout))
    }

    func members(on connection: UInt64, timeout: Double) async throws(MeshError) -> [MemberInfo] {
        try Self.memberList(in: try await layer.request(.members, payload: [], on: connection, timeout: timeout))
    }

    private static func memberList(in answer: WireMessage) throws(MeshError) -> [MemberInfo] {
        guard answer.header.type == .membersReply, let list = MemberInfo.decodeList(answer.payload[...]) else {
            throw MeshError(.malformed, "malformed member list")
        }
        return list
    }

    /// SWIM's timers (the tick).
    func tick(now: UInt64) {
        guard let membership = layer.membership else { return }
        layer.sendMembership(membership.tick(now: now))
    }
}
