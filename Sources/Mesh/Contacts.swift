// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization

/// The node's Kademlia routing table (k = 20 contacts per bucket, MeshCore's ``RoutingTable``) with each
/// contact's address. Fed with every member SWIM holds alive at an address, and with every member that answered
/// one of this node's FIND_NODE requests on a session that proved who it is; a member SWIM declares dead, or that
/// fails a request, leaves it (its bucket's newest candidate takes the place). It outlives SWIM's view: a node
/// whose view is partial (``SwimNode/isPartial``) still routes lookups across the whole mesh through it.
///
/// Bounded: member IDs are 64 bits, so at most 64 buckets are ever used — 64 × 20 contacts and as many
/// replacement candidates, and an address for each.
public final class Contacts: Sendable {
    private struct State {
        var table: RoutingTable
        var addresses: [MemberID: String] = [:]
    }

    /// The most addresses kept: every contact and candidate of the 64 usable buckets.
    static let addressLimit = 64 * 20 * 2

    private let owner: MemberID
    private let state: Mutex<State>

    init(owner: MemberID) {
        self.owner = owner
        state = Mutex(State(table: RoutingTable(owner: Self.point(owner), k: ProviderService.replication)))
    }

    /// A member ID as a point of MeshCore's 256-bit key space (its 64 bits first, the rest zero).
    static func point(_ member: MemberID) -> Key256 { Key256(member, 0, 0, 0) }

    /// The key's first 64 bits, big-endian: where a 256-bit key falls among member IDs.
    static func target(of key: [UInt8]) -> MemberID { key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }

    /// `member` was seen alive at `address` (SWIM holds it so, or it answered here).
    func seen(_ member: MemberID, at address: String) {
        guard member != owner, !address.isEmpty, address.utf8.count <= 255 else { return }
        state.withLock { state in
            state.table.seen(Self.point(member))
            guard state.table.contains(Self.point(member)) else { return }
            state.addresses[member] = address
            if state.addresses.count > Self.addressLimit {
                // Candidates pushed out of a full replacement list leave their addresses behind: drop those.
                state.addresses = state.addresses.filter { [table = state.table] in table.contains(Self.point($0.key)) }
            }
        }
    }

    /// `member` is gone (declared dead) or did not answer.
    func failed(_ member: MemberID) {
        state.withLock { state in
            state.table.failed(Self.point(member))
            if !state.table.contains(Self.point(member)) { state.addresses[member] = nil }
        }
    }

    /// The `count` contacts closest to `target` by XOR, with their addresses.
    func closest(to target: MemberID, count: Int = ProviderService.replication) -> [(member: MemberID, address: String)] {
        state.withLock { state in
            state.table.closest(to: Self.point(target), count: count).compactMap { point in
                let member = point.words.0
                return state.addresses[member].map { (member, $0) }
            }
        }
    }

    func address(of member: MemberID) -> String? { state.withLock { $0.addresses[member] } }

    /// The contact at `address`, if one is.
    func member(at address: String) -> MemberID? { state.withLock { $0.addresses.first { $0.value == address }?.key } }

    /// Contacts in the buckets (not counting replacement candidates).
    public var count: Int { state.withLock { $0.table.count } }
}
