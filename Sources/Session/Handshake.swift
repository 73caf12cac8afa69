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
    static let initSize = 1 + 32 + 32
    static let responseSize = 1 + 32 + 32 + 32 + 64
    static let finishSize = 32 + 64

    public let role: Role
    let identity: NodeIdentity
    let suites: [CipherSuite]
    private let ephemeralSecret: [UInt8]
    private let ephemeralPublic: [UInt8]
    private let nonce: [UInt8]
    private var transcript: [UInt8] = prologue
    private var state: State

    private enum State: Sendable {
        case ready, sentInit, sentResponse(suite: CipherSuite, shared: [UInt8]), done, failed
    }

    public init(identity: NodeIdentity, role: Role, suites: [CipherSuite] = CipherSuite.available) {
        Sodium.ensureReady()
        self.identity = identity
        self.role = role
        self.suites = suites
        var secret = Sodium.random(32)
        var publicKey = [UInt8](repeating: 0, count: 32)
        crypto_scalarmult_base(&publicKey, &secret)
        ephemeralSecret = secret
        ephemeralPublic = publicKey
        nonce = Sodium.random(32)
        state = .ready
    }

    /// The initiator's first message.
    public mutating func start() -> [UInt8] {
        precondition(role != .responder, "the responder waits for INIT")
        let mask = suites.reduce(UInt8(0)) { $0 | (1 << ($1.rawValue - 1)) }
        let payload = [mask] + ephemeralPublic + nonce
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
        guard payload.count == Self.initSize else { throw SessionError(.malformed, "handshake INIT of \(payload.count) bytes") }
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
        state = .sentResponse(suite: suite, shared: shared)
        return .send(WireMessage(.handshakeResponse, payload: body + signature).encoded)
    }

    private mutating func finish(_ payload: [UInt8], expecting expected: NodeID?) throws(SessionError) -> Step {
        guard payload.count == Self.responseSize else { throw SessionError(.malformed, "handshake RESPONSE of \(payload.count) bytes") }
        guard let suite = CipherSuite(rawValue: payload[0]), suites.contains(suite) else {
            throw SessionError(.noCommonSuite, "handshake: the responder chose suite \(payload[0]), which was not offered")
        }
        let peerKey = Array(payload[65..<97])
        let body = Array(payload[0..<97]), signature = Array(payload[97...])
        transcript += body
        guard NodeIdentity.verify(signature, of: Self.hash(transcript + Array("responder".utf8)), by: peerKey) else {
            throw SessionError(.badSignature, "handshake: the responder's signature does not cover this session (forged or replayed)")
        }
        let peer = NodeID(publicKey: peerKey)
        if let expected, expected != peer {
            throw SessionError(.impersonation, "handshake: expected node \(expected), but the peer proved to be \(peer)")
        }
        let shared = try sharedSecret(Array(payload[1..<33]))
        transcript += signature + identity.publicKey
        let mine = identity.sign(Self.hash(transcript + Array("initiator".utf8)))
        transcript += mine
        let keys = Self.hash(transcript, length: 64, key: shared)
        state = .done
        let channel = SecureChannel(suite: suite, peer: peer, sendKey: Array(keys[0..<32]), receiveKey: Array(keys[32...]))
        return .established(channel, reply: WireMessage(.handshakeFinish, payload: identity.publicKey + mine).encoded)
    }

    private mutating func accept(_ payload: [UInt8], suite: CipherSuite, shared: [UInt8]) throws(SessionError) -> Step {
        guard payload.count == Self.finishSize else { throw SessionError(.malformed, "handshake FINISH of \(payload.count) bytes") }
        let peerKey = Array(payload[0..<32]), signature = Array(payload[32...])
        transcript += peerKey
        guard NodeIdentity.verify(signature, of: Self.hash(transcript + Array("initiator".utf8)), by: peerKey) else {
            throw SessionError(.badSignature, "handshake: the initiator's signature does not cover this session (forged or replayed)")
        }
        transcript += signature
        let keys = Self.hash(transcript, length: 64, key: shared)
        state = .done
        let channel = SecureChannel(suite: suite, peer: NodeID(publicKey: peerKey), sendKey: Array(keys[32...]), receiveKey: Array(keys[0..<32]))
        return .established(channel, reply: nil)
    }
}
