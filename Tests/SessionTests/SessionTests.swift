// SPDX-License-Identifier: Apache-2.0
import Identity
import Session
import Testing
import Wire

@Suite("Secure session")
struct SessionTests {
    /// Runs a full handshake; returns both channels.
    static func establish(_ a: NodeIdentity, _ b: NodeIdentity, expecting: NodeID? = nil, suites: [CipherSuite] = CipherSuite.available)
        throws -> (SecureChannel, SecureChannel)
    {
        var initiator = Handshake(identity: a, role: .initiator(expecting: expecting), suites: suites)
        var responder = Handshake(identity: b, role: .responder, suites: suites)
        guard case .send(let response) = try responder.receive(initiator.start()) else { throw SessionError(.unexpected, "no response") }
        guard case .established(let left, let finish?) = try initiator.receive(response) else { throw SessionError(.unexpected, "no finish") }
        guard case .established(let right, nil) = try responder.receive(finish) else { throw SessionError(.unexpected, "not established") }
        return (left, right)
    }

    @Test("both sides authenticate each other and talk both ways, with every available suite", arguments: CipherSuite.available)
    func handshake(suite: CipherSuite) throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        var (left, right) = try Self.establish(a, b, expecting: b.id, suites: [suite])
        #expect(left.peer == b.id && right.peer == a.id)
        #expect(left.suite == suite)
        for i in 0..<50 {
            let message = WireMessage(.ping, requestID: UInt64(i), payload: Array(repeating: UInt8(i), count: i * 1000))
            let sealed = left.seal(message)
            #expect(!sealed.contains(subsequence: message.payload.prefix(64)) || message.payload.isEmpty)
            #expect(try right.open(sealed) == message)
            #expect(try left.open(right.seal(WireMessage(.pong, requestID: UInt64(i)))) == WireMessage(.pong, requestID: UInt64(i)))
        }
    }

    @Test("a peer that is not the expected node is refused (impersonation)")
    func impersonation() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), expected = NodeIdentity.ephemeral()
        let error = #expect(throws: SessionError.self) { _ = try Self.establish(a, b, expecting: expected.id) }
        #expect(error?.code == .impersonation)
    }

    @Test("handshake messages replayed from another session fail their signatures")
    func replayedHandshake() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        // Record a session's messages.
        var oldInitiator = Handshake(identity: a, role: .initiator(expecting: b.id))
        var oldResponder = Handshake(identity: b, role: .responder)
        guard case .send(let oldResponse) = try oldResponder.receive(oldInitiator.start()),
            case .established(_, let oldFinish?) = try oldInitiator.receive(oldResponse)
        else { Issue.record("first session failed"); return }

        // An attacker replays the old RESPONSE to a new initiator: its signature covers the old INIT.
        var victim = Handshake(identity: a, role: .initiator(expecting: b.id))
        _ = victim.start()
        #expect((#expect(throws: SessionError.self) { _ = try victim.receive(oldResponse) })?.code == .badSignature)

        // ... or replays the old INIT and FINISH to a responder: the FINISH signature covers the old RESPONSE.
        var responder = Handshake(identity: b, role: .responder)
        var oldInit = Handshake(identity: a, role: .initiator(expecting: nil))
        _ = try responder.receive(oldInit.start())
        #expect((#expect(throws: SessionError.self) { _ = try responder.receive(oldFinish) })?.code == .badSignature)
    }

    @Test("tampered, replayed, reordered and truncated sealed frames are refused")
    func sealedFrames() throws {
        var (left, right) = try Self.establish(NodeIdentity.ephemeral(), NodeIdentity.ephemeral())
        let first = left.seal(WireMessage(.ping, requestID: 1, payload: [1, 2, 3]))
        let second = left.seal(WireMessage(.ping, requestID: 2))
        var tampered = first
        tampered[14] ^= 1
        var probe = right
        #expect((#expect(throws: SessionError.self) { _ = try probe.open(tampered) })?.code == .decryptFailed)
        probe = right
        #expect((#expect(throws: SessionError.self) { _ = try probe.open(second) })?.code == .outOfOrder)  // reordered
        probe = right
        #expect((#expect(throws: SessionError.self) { _ = try probe.open(Array(first.dropLast(3))) })?.code == .decryptFailed)
        #expect(try right.open(first).payload == [1, 2, 3])
        #expect((#expect(throws: SessionError.self) { _ = try right.open(first) })?.code == .outOfOrder)  // replayed
        #expect(try right.open(second).header.requestID == 2)
    }

    @Test("each session has keys of its own: a frame from one does not open in another")
    func freshKeys() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        var (one, _) = try Self.establish(a, b)
        var (_, twoRight) = try Self.establish(a, b)
        #expect((#expect(throws: SessionError.self) { _ = try twoRight.open(one.seal(WireMessage(.ping))) })?.code == .decryptFailed)
    }

    @Test("out-of-order and malformed handshake messages are refused")
    func badHandshake() throws {
        var responder = Handshake(identity: NodeIdentity.ephemeral(), role: .responder)
        #expect((#expect(throws: SessionError.self) { _ = try responder.receive(WireMessage(.handshakeFinish, payload: Array(repeating: 0, count: 96)).encoded) })?.code == .unexpected)
        var other = Handshake(identity: NodeIdentity.ephemeral(), role: .responder)
        #expect((#expect(throws: SessionError.self) { _ = try other.receive(WireMessage(.handshakeInit, payload: [1]).encoded) })?.code == .malformed)
        var lowOrder = Handshake(identity: NodeIdentity.ephemeral(), role: .responder)
        let zeroKey = WireMessage(.handshakeInit, payload: [3] + Array(repeating: 0, count: 64)).encoded
        #expect((#expect(throws: SessionError.self) { _ = try lowOrder.receive(zeroKey) })?.code == .weakKey)
        var garbage = Handshake(identity: NodeIdentity.ephemeral(), role: .responder)
        #expect((#expect(throws: SessionError.self) { _ = try garbage.receive([1, 2, 3]) })?.code == .malformed)
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: ArraySlice<UInt8>) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}
