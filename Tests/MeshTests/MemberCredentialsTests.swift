// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Testing

@testable import Mesh

@Suite("Membership credentials from node identities")
struct MemberCredentialsTests {
    @Test("a node's Ed25519 claim verifies for its own member ID only; another key, a short key or altered bytes do not")
    func identityCredentials() {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let credentials = MemberCredentials(identity: a), other = MemberCredentials(identity: b)
        let memberA = Membership.member(a.id), memberB = Membership.member(b.id)
        var claim = MemberUpdate(member: memberA, status: .alive, incarnation: 3, lamport: 1, address: "tcp://a")
        claim.signature = credentials.sign(claim.claimBytes)
        #expect(claim.isVerifiedClaim(other))  // anyone can check it: the key travels with it
        var moved = claim
        moved.address = "tcp://evil"
        #expect(!moved.isVerifiedClaim(other))
        var forged = MemberUpdate(member: memberA, status: .alive, incarnation: 4, lamport: 1, address: "tcp://evil")
        forged.signature = other.sign(forged.claimBytes)  // b signs a claim about a
        #expect(!forged.isVerifiedClaim(credentials))
        forged.signature?.publicKey = a.publicKey  // and presents a's key with b's signature
        #expect(!forged.isVerifiedClaim(credentials))
        var short = claim
        short.signature?.publicKey = Array(a.publicKey.prefix(31))
        #expect(!short.isVerifiedClaim(credentials))
        var aboutB = claim
        aboutB.member = memberB
        aboutB.signature = credentials.sign(aboutB.claimBytes)  // a's key does not hash to b's member ID
        #expect(!aboutB.isVerifiedClaim(other))
    }

    @Test("gossip: a status signed by its origin is delivered; one signed by another member under the origin's name is dropped")
    func gossipOrigin() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), c = NodeIdentity.ephemeral()
        let receiver = MeshGossip(member: Membership.member(c.id), credentials: MemberCredentials(identity: c), seed: 1)
        let origin = MeshGossip(member: Membership.member(a.id), credentials: MemberCredentials(identity: a), seed: 2)
        origin.setMembers([Membership.member(c.id)])
        let status = NodeStatus(load: 0.25, capacityBytes: 1 << 30, freeBytes: 1 << 29, regionName: "r2")
        let genuine = try #require(origin.publish(status).first?.message)
        var forged = genuine
        forged.sequence = 2
        forged.payload = NodeStatus(load: 0, capacityBytes: .max, freeBytes: .max, regionName: "r9").encoded
        forged.signature = MemberCredentials(identity: b).sign(forged.signedBytes)
        _ = try receiver.receive(GossipCodec.encode(forged), from: Membership.member(b.id))
        #expect(receiver.known.isEmpty)
        _ = try receiver.receive(GossipCodec.encode(genuine), from: Membership.member(b.id))
        #expect(receiver.known == [Membership.member(a.id): status])
    }
}
