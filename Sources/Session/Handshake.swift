// SPDX-License-Identifier: Apache-2.0
import CSodium
import Identity
import Wire

/// The session handshake: three messages that authenticate both node identities and agree on fresh keys.
///
///     INIT      initiator → responder   suites (bit set) ‖ eI (X25519) ‖ nI (32 random bytes)
///     RESPONSE  responder → initiator   suite ‖ eR ‖ nR ‖ pkR (Ed25519) ‖ sigR
///     FINISH    initiator → responder   pkI ‖ sigI
///
/// With T1 = "inos-session-v1" ‖ INIT payload ‖ RESPONSE payload without sigR, sigR signs
/// BLAKE2b(T1 ‖ "responder"); with T2 = T1 ‖ sigR ‖ pkI, sigI signs BLAKE2b(T2 ‖ "initiator"). The session keys
/// are BLAKE2b-512 of T2 ‖ sigI keyed with X25519(eI, eR): the first half seals initiator → responder, the
/// second the other way. Both signatures cover both fresh ephemeral keys and nonces, so a message replayed
/// from another session fails its signature; an initiator that names the node it expects refuses any
/// other identity (impersonation). Ephemeral keys give forward secrecy.
///
/// **Keyed (a private mesh).** With a mesh key K (see ``Admission``), P = BLAKE2b("inos-mesh-admission-v1")
/// keyed with K, and MAC(x) = BLAKE2b-256(x) keyed with P, the prologue is "inos-session-v1-psk" and each
/// message ends in a 32-byte proof: INIT in tagI = MAC(prologue ‖ suites ‖ eI ‖ nI), RESPONSE in
/// tagR = MAC(T1 ‖ sigR ‖ "responder"), FINISH in tagF = MAC(T2 ‖ sigI ‖ "initiator"), where T2 now also holds
/// tagR and the transcript every tag. The session keys are keyed with X25519(eI, eR) ‖ P. The initiator
/// proves with its first key; the responder accepts any of its keys (rotation) and answers with the one the
/// initiator used. A node without the key fails at the first proof it checks ("peer does not hold this mesh's
/// key"), in either direction; a keyless node can tell a keyed INIT by its size. Without a key the handshake
/// is the keyless one above, byte for byte. An allowlist (``Admission/allowed``) refuses other node IDs once
/// their signature is checked.
public struct Handshake: Sendable {
    public enum Role: Sendable, Equatable {
        /// The dialing side; `expecting` pins the peer's node ID when it is known.
        case initiator(expecting: NodeID?)
        case responder
    }

    /// What to do after a handshake message.
    public enum Step: Sendable {
        /// Send these bytes (a plain frame) to the peer and wait for its answer.
        case send([UInt8])
        /// The session is up; send `reply` first if there is one.
        case established(SecureChannel, reply: [UInt8]?)
    }

    static let prologue = Array("inos-session-v1".utf8)
    static let keyedPrologue = Array("inos-session-v1-psk".utf8)
    static let initSize = 1 + 32 + 32
    static let responseSize = 1 + 32 + 32 + 32 + 64
    static let finishSize = 32 + 64
    /// The mesh-key proof each keyed message ends in.
    static let proofSize = 32

    public private(set) var role: Role
    let identity: NodeIdentity
    let suites: [CipherSuite]
    /// The mesh keys and allowlist this node admits peers by.
    public let admission: Admission
    /// The mesh key of this session: the initiator's first key; for the responder the key the INIT proved.
    private var meshKey: MeshKey?
    private let ephemeralSecret: [UInt8]
    private let ephemeralPublic: [UInt8]
    private let nonce: [UInt8]
    private var transcript: [UInt8] = prologue
    private var state: State

    private enum State: Sendable {
        case ready, sentInit, sentResponse(suite: CipherSuite, shared: [UInt8]), done, failed
    }

    /// A handshake for `identity` in `role`. With a keyed `admission` only holders of one of its keys complete
    /// it; with ``Admission/open`` it is the keyless handshake.
    public init(identity: NodeIdentity, role: Role, suites: [CipherSuite] = CipherSuite.available, admission: Admission = .open) {
        Sodium.ensureReady()
        self.identity = identity
        self.role = role
        self.suites = suites
        self.admission = admission
        if case .initiator = role { meshKey = admission.primary }
        transcript = admission.isOpen ? Self.prologue : Self.keyedPrologue
        var secret = Sodium.random(32)
        var publicKey = [UInt8](repeating: 0, count: 32)
        crypto_scalarmult_base(&publicKey, &secret)
        ephemeralSecret = secret
        ephemeralPublic = publicKey
        nonce = Sodium.random(32)
        state = .ready
    }

    /// Pins the node an initiator expects, for a dialer that learns which connection is its own only after the
    /// handshake started (INIT names no identity). It applies when RESPONSE is handled; after that it does nothing.
    public mutating func expect(_ node: NodeID) {
        guard case .initiator = role else { return }
        switch state {
        case .ready, .sentInit: role = .initiator(expecting: node)
        default: return
        }
    }

    /// The initiator's first message.
    public mutating func start() -> [UInt8] {
        precondition(role != .responder, "the responder waits for INIT")
        let mask = suites.reduce(UInt8(0)) { $0 | (1 << ($1.rawValue - 1)) }
        var payload = [mask] + ephemeralPublic + nonce
        if let meshKey { payload += meshKey.proof(transcript + payload) }
        transcript += payload
        state = .sentInit
        return WireMessage(.handshakeInit, payload: payload).encoded
    }

    /// Handles the peer's next handshake message (a plain frame).
    public mutating func receive(_ frame: [UInt8]) throws(SessionError) -> Step {
        let message: WireMessage
        do throws(WireError) { message = try WireMessage.decode(frame) } catch {
            state = .failed
            throw SessionError(.malformed, "handshake: \(error.message)")
        }
        do throws(SessionError) {
            switch (state, role, message.header.type) {
            case (.ready, .responder, .handshakeInit): return try respond(to: message.payload)
            case (.sentInit, .initiator(let expected), .handshakeResponse): return try finish(message.payload, expecting: expected)
            case (.sentResponse(let suite, let shared), .responder, .handshakeFinish):
                return try accept(message.payload, suite: suite, shared: shared)
            default:
                throw SessionError(.unexpected, "handshake: \(message.header.type) was not expected now")
            }
        } catch {
            state = .failed
            throw error
        }
    }

    private func sharedSecret(_ peerEphemeral: [UInt8]) throws(SessionError) -> [UInt8] {
        var shared = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult(&shared, ephemeralSecret, peerEphemeral) == 0, shared.contains(where: { $0 != 0 }) else {
            throw SessionError(.weakKey, "handshake: the peer's ephemeral key is a low-order point")
        }
        return shared
    }

    static func hash(_ bytes: [UInt8], length: Int = 32, key: [UInt8] = []) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        crypto_generichash(&out, length, bytes, UInt64(bytes.count), key.isEmpty ? nil : key, key.count)
        return out
    }

    private mutating func respond(to payload: [UInt8]) throws(SessionError) -> Step {
        let keyedSize = Self.initSize + Self.proofSize
        if admission.isOpen, payload.count == keyedSize {
            throw SessionError(.notMember, "handshake: the peer's mesh requires a mesh key and this node has none (set [mesh] key_file or --mesh-key)")
        }
        if !admission.isOpen, payload.count == Self.initSize {
            throw SessionError(.notMember, "handshake: peer does not hold this mesh's key (it offered the open-mesh handshake, without a key)")
        }
        guard payload.count == (admission.isOpen ? Self.initSize : keyedSize) else {
            throw SessionError(.malformed, "handshake INIT of \(payload.count) bytes")
        }
        if !admission.isOpen {
            let proven = Array(payload[..<Self.initSize]), proof = Array(payload[Self.initSize...])
            guard let key = admission.keys.first(where: { Sodium.equal($0.proof(transcript + proven), proof) }) else {
                throw SessionError(.notMember, "handshake: peer does not hold this mesh's key (its proof matches none of this node's \(admission.keys.count) key(s))")
            }
            meshKey = key
        }
        let offered = payload[0]
        guard let suite = suites.first(where: { offered & (1 << ($0.rawValue - 1)) != 0 }) else {
            throw SessionError(.noCommonSuite, "handshake: no cipher suite in common (offered bits \(offered))")
        }
        let shared = try sharedSecret(Array(payload[1..<33]))
        transcript += payload
        let body = [suite.rawValue] + ephemeralPublic + nonce + identity.publicKey
        transcript += body
        let signature = identity.sign(Self.hash(transcript + Array("responder".utf8)))
        transcript += signature
        var proof: [UInt8] = []
        if let meshKey {
            proof = meshKey.proof(transcript + Array("responder".utf8))
            transcript += proof
        }
        state = .sentResponse(suite: suite, shared: shared)
        return .send(WireMessage(.handshakeResponse, payload: body + signature + proof).encoded)
    }

    /// Refuses `peer` when an allowlist is set and does not name it.
    private func checkAllowed(_ peer: NodeID) throws(SessionError) {
        if let allowed = admission.allowed, !allowed.contains(peer) {
            throw SessionError(.notAllowed, "handshake: node \(peer) is not in this node's allowlist ([mesh] allow): refused")
        }
    }

    /// The session keys: BLAKE2b-512 of the transcript keyed with the X25519 secret (‖ the mesh key's proof key).
    private func sessionKeys(shared: [UInt8]) -> [UInt8] {
        Self.hash(transcript, length: 64, key: shared + (meshKey?.proofKey ?? []))
    }

    private mutating func finish(_ payload: [UInt8], expecting expected: NodeID?) throws(SessionError) -> Step {
        if meshKey != nil, payload.count == Self.responseSize {
            throw SessionError(.notMember, "handshake: peer does not hold this mesh's key (it answered with the open-mesh handshake)")
        }
        guard payload.count == Self.responseSize + (meshKey == nil ? 0 : Self.proofSize) else {
            throw SessionError(.malformed, "handshake RESPONSE of \(payload.count) bytes")
        }
        guard let suite = CipherSuite(rawValue: payload[0]), suites.contains(suite) else {
            throw SessionError(.noCommonSuite, "handshake: the responder chose suite \(payload[0]), which was not offered")
        }
        let peerKey = Array(payload[65..<97])
        let body = Array(payload[0..<97]), signature = Array(payload[97..<Self.responseSize]), proof = Array(payload[Self.responseSize...])
        transcript += body
        guard NodeIdentity.verify(signature, of: Self.hash(transcript + Array("responder".utf8)), by: peerKey) else {
            throw SessionError(.badSignature, "handshake: the responder's signature does not cover this session (forged or replayed)")
        }
        transcript += signature
        if let meshKey {
            guard Sodium.equal(meshKey.proof(transcript + Array("responder".utf8)), proof) else {
                throw SessionError(.notMember, "handshake: peer does not hold this mesh's key (its proof does not match \(meshKey))")
            }
            transcript += proof
        }
        let peer = NodeID(publicKey: peerKey)
        if let expected, expected != peer {
            throw SessionError(.impersonation, "handshake: expected node \(expected), but the peer proved to be \(peer)")
        }
        try checkAllowed(peer)
        let shared = try sharedSecret(Array(payload[1..<33]))
        transcript += identity.publicKey
        let mine = identity.sign(Self.hash(transcript + Array("initiator".utf8)))
        transcript += mine
        var reply = identity.publicKey + mine
        if let meshKey {
            let proof = meshKey.proof(transcript + Array("initiator".utf8))
            transcript += proof
            reply += proof
        }
        let keys = sessionKeys(shared: shared)
        state = .done
        let channel = SecureChannel(suite: suite, peer: peer, sendKey: Array(keys[0..<32]), receiveKey: Array(keys[32...]))
        return .established(channel, reply: WireMessage(.handshakeFinish, payload: reply).encoded)
    }

    private mutating func accept(_ payload: [UInt8], suite: CipherSuite, shared: [UInt8]) throws(SessionError) -> Step {
        guard payload.count == Self.finishSize + (meshKey == nil ? 0 : Self.proofSize) else {
            throw SessionError(.malformed, "handshake FINISH of \(payload.count) bytes")
        }
        let peerKey = Array(payload[0..<32]), signature = Array(payload[32..<Self.finishSize]), proof = Array(payload[Self.finishSize...])
        transcript += peerKey
        guard NodeIdentity.verify(signature, of: Self.hash(transcript + Array("initiator".utf8)), by: peerKey) else {
            throw SessionError(.badSignature, "handshake: the initiator's signature does not cover this session (forged or replayed)")
        }
        transcript += signature
        if let meshKey {
            // The INIT's proof alone could be replayed from another session: this one covers the whole transcript.
            guard Sodium.equal(meshKey.proof(transcript + Array("initiator".utf8)), proof) else {
                throw SessionError(.notMember, "handshake: peer does not hold this mesh's key (its FINISH proof does not match \(meshKey))")
            }
            transcript += proof
        }
        let peer = NodeID(publicKey: peerKey)
        try checkAllowed(peer)
        let keys = sessionKeys(shared: shared)
        state = .done
        let channel = SecureChannel(suite: suite, peer: peer, sendKey: Array(keys[32...]), receiveKey: Array(keys[0..<32]))
        return .established(channel, reply: nil)
    }
}
