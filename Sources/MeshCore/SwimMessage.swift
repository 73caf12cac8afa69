// SPDX-License-Identifier: Apache-2.0

/// A member of the mesh: in a node, the first 8 bytes of its NodeID (big-endian) — collisions need about 2^32
/// members; in the simulator, an index.
public typealias MemberID = UInt64

/// What SWIM says about a member.
public enum MemberStatus: UInt8, Sendable, Comparable {
    case alive = 0, suspect = 1, dead = 2
    public static func < (a: MemberStatus, b: MemberStatus) -> Bool { a.rawValue < b.rawValue }
}

/// A membership update, piggybacked on protocol messages.
public struct MemberUpdate: Sendable, Equatable {
    public var member: MemberID
    public var status: MemberStatus
    public var incarnation: UInt32
    /// Lamport time of the update at its origin.
    public var lamport: UInt64
    /// Where the member can be reached ("tcp://…"), when known; empty in the simulator. Only a signed alive
    /// claim's address is ever applied.
    public var address: String
    /// On an alive update the member originated about itself: its signature over ``claimBytes`` (relays keep
    /// it). Suspect and dead updates are about others and are never signed by their subject.
    public var signature: MemberSignature?

    public init(
        member: MemberID, status: MemberStatus, incarnation: UInt32, lamport: UInt64, address: String = "", signature: MemberSignature? = nil
    ) {
        self.member = member
        self.status = status
        self.incarnation = incarnation
        self.lamport = lamport
        self.address = address
        self.signature = signature
    }

    /// What a member signs when it claims to be alive: a domain tag ‖ member (u64) ‖ incarnation (u32) ‖ address
    /// length (u8) ‖ address, little-endian. Not the Lamport time, which relays restamp.
    public var claimBytes: [UInt8] {
        var out = Array("inos-swim-alive-1".utf8)
        withUnsafeBytes(of: member.littleEndian) { out += $0 }
        withUnsafeBytes(of: incarnation.littleEndian) { out += $0 }
        let address = Array(address.utf8.prefix(255))
        out.append(UInt8(address.count))
        return out + address
    }

    /// Whether this is `member`'s own alive claim, signed by it.
    public func isVerifiedClaim(_ credentials: MemberCredentials) -> Bool {
        status == .alive && credentials.verify(signature, of: claimBytes, by: member)
    }

    /// SWIM's precedence: does this update override what is known (`status`, `incarnation`)?
    /// Alive needs a newer incarnation; suspect overrides alive of the same incarnation; dead overrides both.
    public func overrides(_ status: MemberStatus, _ incarnation: UInt32) -> Bool {
        switch self.status {
        case .alive: return self.incarnation > incarnation
        case .suspect: return self.incarnation > incarnation || (self.incarnation == incarnation && status == .alive)
        case .dead: return self.incarnation >= incarnation && status != .dead
        }
    }
}

/// The SWIM protocol's messages (with Lifeguard's NACK), each with piggybacked updates and the sender's
/// Lamport time.
public struct SwimMessage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case ping(sequence: UInt32)
        case ack(sequence: UInt32)
        /// Ask the receiver to probe `target` for the sender.
        case pingRequest(sequence: UInt32, target: MemberID)
        /// The receiver of a ping request could not reach the target (Lifeguard: the requester's own
        /// connectivity is fine, so it should not blame itself).
        case nack(sequence: UInt32)
        /// A newcomer asks to join; the answer is `members`.
        case join
        case members([MemberUpdate])
    }

    public var kind: Kind
    public var lamport: UInt64
    public var updates: [MemberUpdate]

    public init(_ kind: Kind, lamport: UInt64, updates: [MemberUpdate] = []) {
        self.kind = kind
        self.lamport = lamport
        self.updates = updates
    }
}
