// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Host
import HostTestSupport
import Identity
import Mesh
import MeshCore
import Synchronization
import Testing
import Wire

@testable import Replication

/// Holders that lie: HAVE claims checked by a challenge before a release counts them, and ledger entries that
/// are not their payer's.
@Suite("Hostile holders")
struct HostileHolderTests {
    /// A peer manager on the in-memory transport with a thread pumping its inbox into it.
    final class Node: Sendable {
        let host: HostRuntime
        let peers: PeerManager

        init() throws {
            host = try HostRuntime(
                manifest: Manifest(
                    arena: ArenaConfiguration(totalSize: 16 << 20, inboxCapacity: 128 << 10, outboxCapacity: 64 << 10),
                    plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport)]),
                logger: quietLogger)
            try host.start()
            peers = PeerManager(host: host, transport: TransportHandle(slot: host.slot("transport")!), identity: .ephemeral(), logger: quietLogger)
            Thread { [host, peers] in
                host.run(tickNanoseconds: 50_000_000, onInbox: { type, payload in
                    if let record = TransportRecord(type: type, payload: payload) { peers.handle(record, now: DispatchTime.now().uptimeNanoseconds) }
                })
            }.start()
        }

        func stop() {
            peers.stop()
            host.requestStop()
            usleep(20_000)
            host.shutdown()
        }
    }

    @Test("CHALLENGE: a holder that has the piece proves it; one that lacks it says so; one that holds other bytes proves other bytes; one that serves none does not answer")
    func challenge() throws {
        let holder = try Node(), leader = try Node()
        defer { leader.stop(); holder.stop() }
        let name = "mem://challenge-\(UUID().uuidString.prefix(8))"
        _ = try holder.peers.start(listen: [name], bootstrap: [])
        let held: [UInt8] = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let kept = ContentID(hashing: held), lacking = ContentID(hashing: [1, 2, 3]), damaged = ContentID(hashing: [4, 5, 6])
        let read = Mutex(0)
        holder.peers.serveChallenges { piece in
            read.withLock { $0 += 1 }
            switch piece {
            case kept: return held
            case damaged: return Array(held.dropLast()) + [0]  // what it has under that name is not the piece
            default: return nil  // it would say HAVE, but it dropped the piece
            }
        }
        let (connection, _) = try leader.peers.connect(name)
        #expect(leader.peers.challenge(kept, own: held, on: connection, timeout: 5) == .proved)
        #expect(leader.peers.challenge(lacking, own: [1, 2, 3], on: connection, timeout: 5) == .notHeld)
        #expect(leader.peers.challenge(damaged, own: held, on: connection, timeout: 5) == .wrongProof)
        #expect(read.withLock { $0 } == 3, "each challenge made the holder read the piece")
        // A node that serves no challenges proves nothing.
        let silent = try Node()
        defer { silent.stop() }
        let other = "mem://silent-\(UUID().uuidString.prefix(8))"
        _ = try silent.peers.start(listen: [other], bootstrap: [])
        let (quiet, _) = try leader.peers.connect(other)
        let unanswered = leader.peers.challenge(kept, own: held, on: quiet, timeout: 5)
        if case .noAnswer = unanswered {} else { Issue.record("a node that serves no challenges: \(unanswered)") }
    }

    @Test("a proof answers one nonce only: an answer kept from an earlier challenge, or computed without the bytes, fails")
    func proofs() throws {
        let stored: [UInt8] = Array(repeating: 7, count: 4096), piece = ContentID(hashing: [9])
        let first = [UInt8](repeating: 1, count: 32), second = [UInt8](repeating: 2, count: 32)
        let payload = ReplicationWire.challenge(piece, nonce: first)
        let decoded = try #require(ReplicationWire.decodeChallenge(payload))
        #expect(decoded.piece == piece && decoded.nonce == first)
        #expect(ReplicationWire.decodeChallenge(payload.dropLast()) == nil && ReplicationWire.decodeChallenge(payload + [0]) == nil)
        let answer = ReplicationWire.proofDigest(nonce: first, stored: stored)
        #expect(answer == Sodium.sha256(first + stored))
        #expect(answer != ReplicationWire.proofDigest(nonce: second, stored: stored))
        #expect(ReplicationWire.decodeProof(ReplicationWire.proof(answer)) == answer)
        #expect(ReplicationWire.decodeProof(ReplicationWire.proof(nil)) == nil)
        #expect(ReplicationWire.decodeProof([0] + answer.dropLast()) == nil)
        #expect(answer != ReplicationWire.proofDigest(nonce: first, stored: Sodium.sha256(stored)), "a digest of the piece is not the piece")
    }

    static func entry(payer: NodeIdentity, signer: NodeIdentity, payee: NodeIdentity, lamport: UInt64) -> LedgerEntry {
        var entry = LedgerEntry(
            payer: payer.id.bytes, payee: payee.id.bytes, lamport: lamport, amount: 10, resource: Array(repeating: 7, count: 32), bytes: 1 << 20,
            payerKey: signer.publicKey)
        entry.signature = signer.sign(entry.signedBytes)
        return entry
    }

    @Test("a ledger entry whose payer key does not hash to its payer is refused, however well it is signed")
    func ledgerPayerKey() {
        let payer = NodeIdentity.ephemeral(), mallory = NodeIdentity.ephemeral(), payee = NodeIdentity.ephemeral()
        #expect(ReplicaService.problem(with: Self.entry(payer: payer, signer: payer, payee: payee, lamport: 1)) == nil)
        // Mallory debits the payer: signed by Mallory, with Mallory's key, in the payer's name.
        let debited = Self.entry(payer: payer, signer: mallory, payee: mallory, lamport: 1)
        #expect(NodeIdentity.verify(debited.signature, of: debited.signedBytes, by: debited.payerKey))
        #expect(ReplicaService.problem(with: debited) == "its payer key does not hash to its payer")
        var changed = Self.entry(payer: payer, signer: payer, payee: payee, lamport: 2)
        changed.amount = 1_000
        #expect(ReplicaService.problem(with: changed) == "its signature does not verify")
    }
}
