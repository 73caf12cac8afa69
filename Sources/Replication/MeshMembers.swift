// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Host
import Identity
import Mesh
import MeshCore
import Primitives
import Wire

/// Members as the allocator sees them. Placement identifies nodes by member ID (the first 8 bytes of the
/// node ID), so every node computes the same holders from the same member list.
extension MemberInfo {
    public var placementNode: PlacementNode {
        PlacementNode(
            id: Self.placementKey(member), load: status?.load ?? 0, capacityBytes: status?.capacityBytes ?? 0,
            freeBytes: status?.freeBytes ?? 0, region: status?.region ?? 0,
            // A member that has not published its status yet is not offered anything.
            healthy: status != nil && !address.isEmpty)
    }

    public static func placementKey(_ member: MemberID) -> [UInt8] {
        var key = ByteWriter(capacity: 32)
        key.bigEndian(member)
        key.bytes(repeatElement(0, count: 24))
        return key.bytes
    }
}

extension InosError {
    /// A replication step that failed in the mesh: `what` was being done, the ``MeshError`` is the cause, and
    /// the code says how (no answer in time, the connection closed, the peer refused; else unavailable).
    /// Replication's failures are ``InosError``s: callers act on the code, people read the chain.
    init(_ what: String, mesh error: MeshError, function: String = #function, file: String = #fileID, line: Int = #line) {
        let code: Code =
            switch error.code {
            case .timeout: .timeout
            case .closed: .closed
            case .malformed, .unexpected: .malformed
            default: error.code.wireCode != nil || error.code == .notAllowed ? .refused : .unavailable
            }
        self.init(code, what, cause: error, function: function, file: file, line: line)
    }
}

/// What a CHALLENGE found out about a holder's claim to a piece.
public enum ChallengeOutcome: Sendable, Equatable {
    /// It answered SHA-256(nonce ‖ the same stored bytes): it holds the piece now.
    case proved
    /// It answered that it does not hold the piece: a claim gone stale since its HAVE (another leader had it
    /// release its copy, say) more often than a lie, and either way not a copy.
    case notHeld
    /// It answered a digest of other bytes: what it holds under that name is not the piece (damaged, or a lie).
    case wrongProof
    /// No answer in time, the connection went, or the answer was no PROOF.
    case noAnswer(String)
}

extension PeerManager {
    /// Declares the answers replication's requests expect (idempotent), before the first request of a kind.
    func expectReplicationAnswers() { register(ReplicationFrames.responses) }

    /// Challenges the node on `connection` to prove it holds `piece` now (CHALLENGE): sends a fresh random nonce
    /// and checks the answer against SHA-256(nonce ‖ `own`), `own` being this node's copy of the piece's stored
    /// bytes. Only a node that read the same bytes gets ``ChallengeOutcome/proved``.
    public func challenge(_ piece: ContentID, own: [UInt8], on connection: UInt64, timeout: Double = 30) -> ChallengeOutcome {
        expectReplicationAnswers()
        let nonce = Sodium.random(ReplicationWire.nonceSize)
        do throws(MeshError) {
            let answer = try request(.challenge, payload: ReplicationWire.challenge(piece, nonce: nonce), on: connection, timeout: timeout)
            return Self.outcome(of: answer, nonce: nonce, own: own)
        } catch {
            return .noAnswer(error.message)
        }
    }

    /// Answers CHALLENGE requests from the stored bytes `stored` gives for a piece (nil: not held here). The
    /// bulk lane serves them, as chunk reads: answering reads the whole piece.
    public func serveChallenges(_ stored: @escaping @Sendable (ContentID) -> [UInt8]?) {
        serve(.challenge, "CHALLENGE", owner: "replication", lane: .bulk) { payload, _, _ in
            guard let (piece, nonce) = ReplicationWire.decodeChallenge(payload), let bytes = stored(piece) else {
                return (.proof, ReplicationWire.proof(nil))
            }
            return (.proof, ReplicationWire.proof(ReplicationWire.proofDigest(nonce: nonce, stored: bytes)))
        }
    }

    /// Which pieces of `resource` the node on `connection` holds, its load and demand; and the round trip.
    public func holding(_ resource: ContentID, on connection: UInt64, timeout: Double = 5) throws(InosError)
        -> (holding: ReplicationWire.Holding, rttMicroseconds: Double)
    {
        expectReplicationAnswers()
        let start = clock.now()
        let answer: WireMessage
        do { answer = try request(.have, payload: ReplicationWire.have(resource), on: connection, timeout: timeout) } catch {
            throw InosError("HAVE \(resource) on connection \(connection)", mesh: error)
        }
        return (try Self.holding(in: answer), Double(clock.now() - start) / 1000)
    }

    private static func holding(in answer: WireMessage) throws(InosError) -> ReplicationWire.Holding {
        guard answer.header.type == .haveReply, let holding = ReplicationWire.decodeHaveReply(answer.payload) else {
            throw InosError(.malformed, "malformed answer to HAVE")
        }
        return holding
    }

    // MARK: Async forms (suspend on the answer; no thread waits)

    /// Fetches `id`'s stored form from the first of `connections` that has it and imports it into `store`,
    /// verified against the ID (staged when not `durable`), straight from the arena block it arrived in (no
    /// copy). Returns the stored bytes' length, or nil when no connection delivered a matching copy. `length`, when
    /// known from the manifest, bounds what a compressed copy may claim to decode to.
    public func fetchVerified(_ id: ContentID, into store: ContentStore, from connections: [UInt64], durable: Bool = true,
                              length: UInt64? = nil) async -> Int? {
        await fetchVerifiedSource(id, into: store, from: connections, durable: durable, length: length)?.stored
    }

    /// ``fetchVerified(_:into:from:durable:length:)`` that also says which of `connections` delivered (its index).
    public func fetchVerifiedSource(_ id: ContentID, into store: ContentStore, from connections: [UInt64], durable: Bool = true,
                                    length: UInt64? = nil) async -> (stored: Int, source: Int)? {
        for (index, connection) in connections.enumerated() {
            let stored = try? await withFetchedChunk(id.bytes, from: connection) { bytes -> Int? in
                (try? store.importObject(id, stored: bytes, durable: durable, length: length)) == true ? bytes.count : nil
            }
            if let stored, let count = stored { return (count, index) }
        }
        return nil
    }

    /// Asks the node on `connection` to store `piece` (its stored bytes `data`) of `resource` durably.
    public func storePiece(_ piece: ContentID, of resource: ContentID, ticket: OwnerTicket, data: [UInt8],
                           on connection: UInt64, timeout: Double = 60) async throws(InosError) -> ReplicationWire.Status {
        expectReplicationAnswers()
        let answer: WireMessage
        do { answer = try await request(.store, payload: ReplicationWire.store(resource: resource, ticket: ticket, piece: piece) + data, on: connection, timeout: timeout) } catch {
            throw InosError("STORE \(piece) on connection \(connection)", mesh: error)
        }
        return try Self.storeStatus(answer)
    }

    /// ``challenge(_:own:on:timeout:)`` that suspends on the answer.
    public func challenge(_ piece: ContentID, own: [UInt8], on connection: UInt64, timeout: Double = 30) async -> ChallengeOutcome {
        expectReplicationAnswers()
        let nonce = Sodium.random(ReplicationWire.nonceSize)
        do throws(MeshError) {
            let answer = try await request(.challenge, payload: ReplicationWire.challenge(piece, nonce: nonce), on: connection, timeout: timeout)
            return Self.outcome(of: answer, nonce: nonce, own: own)
        } catch {
            return .noAnswer(error.message)
        }
    }

    /// What `answer` shows: a PROOF of SHA-256(nonce ‖ `own`) (compared in constant time), "not held", another
    /// digest, or something that is no PROOF.
    private static func outcome(of answer: WireMessage, nonce: [UInt8], own: [UInt8]) -> ChallengeOutcome {
        guard answer.header.type == .proof else { return .noAnswer("answered \(answer.header.type) instead of PROOF") }
        if answer.payload == ReplicationWire.proof(nil) { return .notHeld }
        guard let digest = ReplicationWire.decodeProof(answer.payload) else { return .noAnswer("a malformed PROOF") }
        return Sodium.equal(digest, ReplicationWire.proofDigest(nonce: nonce, stored: own)) ? .proved : .wrongProof
    }

    /// ``holding(_:on:timeout:)`` that suspends on the answer.
    public func holding(_ resource: ContentID, on connection: UInt64, timeout: Double = 5) async throws(InosError)
        -> (holding: ReplicationWire.Holding, rttMicroseconds: Double)
    {
        expectReplicationAnswers()
        let start = clock.now()
        let answer: WireMessage
        do { answer = try await request(.have, payload: ReplicationWire.have(resource), on: connection, timeout: timeout) } catch {
            throw InosError("HAVE \(resource) on connection \(connection)", mesh: error)
        }
        return (try Self.holding(in: answer), Double(clock.now() - start) / 1000)
    }

    /// A STORED answer's status; a refusal with a message throws it.
    static func storeStatus(_ answer: WireMessage) throws(InosError) -> ReplicationWire.Status {
        guard answer.header.type == .stored, let (status, message) = ReplicationWire.decodeStored(answer.payload) else {
            throw InosError(.malformed, "unexpected answer \(answer.header.type) to STORE: \(String(decoding: answer.payload.prefix(200), as: UTF8.self))")
        }
        if status != .stored, !message.isEmpty { throw InosError(.refused, "\(status): \(message)") }
        return status
    }
}
