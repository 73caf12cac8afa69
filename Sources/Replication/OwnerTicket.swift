// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Identity
import Primitives
import Wire

/// The owner's word on a resource: "store resource R (S bytes) for me under budget B until E", signed with the
/// owner's node key. Holders accept a STORE only with a valid ticket, keep the newest ticket of the first owner
/// they saw for each resource (a stored policy changes only with a newer ticket from the same owner), forward it
/// when repair copies a piece elsewhere, and take a RELEASE without a verified census only from that owner.
///
///     "inos-ticket-v1" is signed over:  resource (length ‖ bytes) ‖ size u64 ‖ budget u64 ‖ issued u64 ‖ expiry u64 ‖ owner key (32)
///     encoded:                          the same fields without the prefix ‖ signature (64)
///
/// `issued` orders an owner's tickets (microseconds since 1970, from the issuing process); `expiry` is seconds since
/// 1970 after which the ticket authorizes no new STORE (pieces already held stay).
public struct OwnerTicket: Sendable, Equatable {
    public var resource: ContentID
    public var size: UInt64
    public var budget: UInt64
    public var issued: UInt64
    public var expiry: UInt64
    public var ownerKey: [UInt8]
    public var signature: [UInt8]

    /// The owner's node ID (the hash of its key: self-certifying).
    public var owner: NodeID { NodeID(publicKey: ownerKey) }
    public var policy: ReplicationWire.Policy { .init(budget: budget, size: size) }

    static let domain = Array("inos-ticket-v1".utf8)
    /// A ticket is valid for at most this long after it is issued, and at least a minute.
    public static let longestValidity: UInt64 = 10 * 365 * 86_400

    /// Signs a ticket for `resource` with `identity` (the owner), valid for `validity` seconds from now.
    public init(resource: ContentID, size: UInt64, budget: UInt64, owner identity: NodeIdentity, validity: UInt64 = 365 * 86_400, now: Date = Date()) {
        self.resource = resource
        self.size = size
        self.budget = budget
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        issued = seconds &* 1_000_000 &+ UInt64(max(0, now.timeIntervalSince1970 - Double(seconds)) * 1e6)
        expiry = seconds &+ min(max(validity, 60), Self.longestValidity)
        ownerKey = identity.publicKey
        signature = []
        signature = identity.sign(signedBytes)
    }

    var fields: [UInt8] {
        ReplicationWire.encode(resource) + ReplicationWire.le(size) + ReplicationWire.le(budget) + ReplicationWire.le(issued)
            + ReplicationWire.le(expiry) + ownerKey
    }
    var signedBytes: [UInt8] { Self.domain + fields }
    public var encoded: [UInt8] { fields + signature }

    /// Decodes a ticket from the front of `bytes`; the rest after it. Lengths only: ``problem(now:)`` verifies it.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> (OwnerTicket, ArraySlice<UInt8>)? {
        var reader = ByteReader(bytes)
        guard let ticket = decode(&reader) else { return nil }
        return (ticket, reader.rest())
    }

    static func decode(_ reader: inout ByteReader) -> OwnerTicket? {
        guard let resource = ReplicationWire.id(&reader), let size = reader.read(UInt64.self), let budget = reader.read(UInt64.self),
            let issued = reader.read(UInt64.self), let expiry = reader.read(UInt64.self), let key = reader.bytes(32), let signature = reader.bytes(64)
        else { return nil }
        return OwnerTicket(resource: resource, size: size, budget: budget, issued: issued, expiry: expiry, ownerKey: Array(key), signature: Array(signature))
    }

    init(resource: ContentID, size: UInt64, budget: UInt64, issued: UInt64, expiry: UInt64, ownerKey: [UInt8], signature: [UInt8]) {
        self.resource = resource
        self.size = size
        self.budget = budget
        self.issued = issued
        self.expiry = expiry
        self.ownerKey = ownerKey
        self.signature = signature
    }

    /// Why the ticket authorizes nothing at `now` (seconds since 1970), or nil when it is valid: signed by the key
    /// it carries, not expired, and not valid for longer than ``longestValidity``.
    public func problem(now: UInt64) -> String? {
        guard NodeIdentity.verify(signature, of: signedBytes, by: ownerKey) else { return "the owner ticket's signature is not valid" }
        guard expiry > now else { return "the owner ticket expired" }
        guard expiry - min(expiry, issued / 1_000_000) <= Self.longestValidity else { return "the owner ticket is valid for longer than allowed" }
        return nil
    }
}
