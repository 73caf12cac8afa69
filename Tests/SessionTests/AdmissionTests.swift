// SPDX-License-Identifier: Apache-2.0
import CSodium
import Identity
import Session
import Testing
import Wire

/// Admission: mesh keys mixed into the handshake, key rotation, the node-ID allowlist and pinned dials.
@Suite("Admission")
struct AdmissionTests {
    /// Runs a handshake between `a` (initiator) and `b` (responder) with their admissions; both channels.
    static func establish(
        _ a: NodeIdentity, _ aAdmission: Admission, _ b: NodeIdentity, _ bAdmission: Admission, expecting: NodeID? = nil
    ) throws -> (SecureChannel, SecureChannel) {
        var initiator = Handshake(identity: a, role: .initiator(expecting: expecting), admission: aAdmission)
        var responder = Handshake(identity: b, role: .responder, admission: bAdmission)
        guard case .send(let response) = try responder.receive(initiator.start()) else { throw SessionError(.unexpected, "no response") }
        guard case .established(let left, let finish?) = try initiator.receive(response) else { throw SessionError(.unexpected, "no finish") }
        guard case .established(let right, nil) = try responder.receive(finish) else { throw SessionError(.unexpected, "not established") }
        return (left, right)
    }

    /// True when a session comes up and carries a message both ways.
    static func admits(_ a: NodeIdentity, _ aAdmission: Admission, _ b: NodeIdentity, _ bAdmission: Admission) -> Bool {
        guard var (left, right) = try? establish(a, aAdmission, b, bAdmission) else { return false }
        let ping = WireMessage(.ping, requestID: 7, payload: [1, 2, 3])
        return (try? right.open(left.seal(ping))) == ping && (try? left.open(right.seal(ping))) == ping
    }

    static func keyed(_ keys: MeshKey...) -> Admission { Admission(keys: keys) }

    @Test("two holders of the mesh key complete the handshake and talk both ways")
    func keyedBothSides() throws {
        let key = MeshKey.generate()
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        var (left, right) = try Self.establish(a, Self.keyed(key), b, Self.keyed(key), expecting: b.id)
        #expect(left.peer == b.id && right.peer == a.id)
        let message = WireMessage(.ping, requestID: 9, payload: Array(repeating: 5, count: 4000))
        #expect(try right.open(left.seal(message)) == message)
        #expect(try left.open(right.seal(message)) == message)
    }

    @Test("a keyed and a keyless node refuse each other, whichever dials, with a mesh-key error")
    func keyedVersusKeyless() throws {
        let keyed = Self.keyed(MeshKey.generate())
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        // Keyless dials keyed: the keyed responder refuses the open-mesh INIT.
        let refusedByKeyed = #expect(throws: SessionError.self) { _ = try Self.establish(a, .open, b, keyed) }
        #expect(refusedByKeyed?.code == .notMember)
        #expect(refusedByKeyed?.message.contains("peer does not hold this mesh's key") == true, "\(String(describing: refusedByKeyed))")
        // Keyed dials keyless: the keyless responder sees a keyed INIT and says the mesh needs a key.
        let refusedByKeyless = #expect(throws: SessionError.self) { _ = try Self.establish(a, keyed, b, .open) }
        #expect(refusedByKeyless?.code == .notMember)
        #expect(refusedByKeyless?.message.contains("requires a mesh key") == true, "\(String(describing: refusedByKeyless))")
    }

    @Test("a keyed initiator refuses a responder that answers without the key's proof (an open-mesh RESPONSE)")
    func keyedInitiatorChecksResponse() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        // An open-mesh responder answering a keyless INIT stands in for a non-holder that ignores the proof.
        var probe = Handshake(identity: a, role: .initiator(expecting: nil))
        var openResponder = Handshake(identity: b, role: .responder)
        guard case .send(let openResponse) = try openResponder.receive(probe.start()) else { Issue.record("no response"); return }
        var initiator = Handshake(identity: a, role: .initiator(expecting: nil), admission: Self.keyed(MeshKey.generate()))
        _ = initiator.start()
        let error = #expect(throws: SessionError.self) { _ = try initiator.receive(openResponse) }
        #expect(error?.code == .notMember && error?.message.contains("peer does not hold this mesh's key") == true)
    }

    @Test("holders of different mesh keys refuse each other with \"peer does not hold this mesh's key\"")
    func differentKeys() throws {
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral()
        let error = #expect(throws: SessionError.self) {
            _ = try Self.establish(a, Self.keyed(MeshKey.generate()), b, Self.keyed(MeshKey.generate()))
        }
        #expect(error?.code == .notMember)
        #expect(error?.message.contains("peer does not hold this mesh's key") == true, "\(String(describing: error))")
    }

    @Test("a replayed keyed INIT with a FINISH signed by another identity is refused: the FINISH proof covers this session")
    func replayedKeyedInit() throws {
        let key = MeshKey.generate()
        let member = NodeIdentity.ephemeral(), responderID = NodeIdentity.ephemeral(), outsider = NodeIdentity.ephemeral()
        var honest = Handshake(identity: member, role: .initiator(expecting: nil), admission: Self.keyed(key))
        let recordedInit = honest.start()
        // The outsider replays the member's INIT (its proof verifies) and answers RESPONSE as a keyless initiator
        // would: its own identity, no proof.
        var responder = Handshake(identity: responderID, role: .responder, admission: Self.keyed(key))
        guard case .send(let responseFrame) = try responder.receive(recordedInit) else { Issue.record("INIT refused"); return }
        // Everything signed travels in the clear, so the outsider can sign a valid FINISH; only the proof is out of reach.
        let response = try WireMessage.decode(responseFrame).payload
        let transcript = Array("inos-session-v1-psk".utf8) + (try WireMessage.decode(recordedInit).payload) + response + outsider.publicKey
        let signature = outsider.sign(blake2b(transcript + Array("initiator".utf8)))
        let forged = WireMessage(.handshakeFinish, payload: outsider.publicKey + signature + Array(repeating: 0, count: 32)).encoded
        let error = #expect(throws: SessionError.self) { _ = try responder.receive(forged) }
        #expect(error?.code == .notMember, "\(String(describing: error))")
    }

    @Test("rotation across three stages: add the new key as accepted, make it primary, drop the old — every pair keeps completing")
    func rotation() throws {
        let old = MeshKey.generate(), new = MeshKey.generate()
        let nodes = (0..<3).map { _ in NodeIdentity.ephemeral() }
        // Each stage is rolled out one node at a time: every mix of "before" and "after" must interoperate.
        let stages: [(before: Admission, after: Admission)] = [
            (Self.keyed(old), Self.keyed(old, new)),  // 1: the new key is accepted, the old one still proven
            (Self.keyed(old, new), Self.keyed(new, old)),  // 2: the new key is proven, the old one still accepted
            (Self.keyed(new, old), Self.keyed(new)),  // 3: the old key is dropped
        ]
        for (stage, step) in stages.enumerated() {
            for upgraded in 0...nodes.count {
                let admissions = nodes.indices.map { $0 < upgraded ? step.after : step.before }
                for i in nodes.indices {
                    for j in nodes.indices where i != j {
                        #expect(Self.admits(nodes[i], admissions[i], nodes[j], admissions[j]), "stage \(stage + 1), \(upgraded) upgraded, \(i) dials \(j)")
                    }
                }
            }
        }
        // Skipping stage 2 breaks it: a node that proves only the new key is refused by one that knows only the old.
        #expect(!Self.admits(nodes[0], Self.keyed(new), nodes[1], Self.keyed(old)))
        #expect(!Self.admits(nodes[0], Self.keyed(old, new), nodes[1], Self.keyed(new)))
    }

    @Test("an allowlist refuses other node IDs in both directions, after their signature is checked")
    func allowlist() throws {
        let key = MeshKey.generate()
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), stranger = NodeIdentity.ephemeral()
        let strict = Admission(keys: [key], allowed: [a.id])
        #expect(Self.admits(a, Self.keyed(key), b, strict))  // a is listed
        // The stranger dials the strict node: refused when its FINISH names it.
        let dialedIn = #expect(throws: SessionError.self) { _ = try Self.establish(stranger, Self.keyed(key), b, strict) }
        #expect(dialedIn?.code == .notAllowed && dialedIn?.message.contains(stranger.id.description) == true, "\(String(describing: dialedIn))")
        // The strict node dials the stranger: refused when its RESPONSE names it.
        let dialedOut = #expect(throws: SessionError.self) { _ = try Self.establish(b, strict, stranger, Self.keyed(key)) }
        #expect(dialedOut?.code == .notAllowed)
        // An allowlist works on an open mesh too.
        #expect(!Self.admits(stranger, .open, b, Admission(allowed: [a.id])))
        #expect(Self.admits(a, .open, b, Admission(allowed: [a.id])))
    }

    @Test("a dial pinned to a node ID refuses another node, also when the pin arrives after INIT")
    func pinnedID() throws {
        let key = MeshKey.generate()
        let a = NodeIdentity.ephemeral(), b = NodeIdentity.ephemeral(), other = NodeIdentity.ephemeral()
        let error = #expect(throws: SessionError.self) { _ = try Self.establish(a, Self.keyed(key), b, Self.keyed(key), expecting: other.id) }
        #expect(error?.code == .impersonation)
        // The pin set after start (a dialer that learns its connection ID late) still applies to the RESPONSE.
        var initiator = Handshake(identity: a, role: .initiator(expecting: nil), admission: Self.keyed(key))
        var responder = Handshake(identity: b, role: .responder, admission: Self.keyed(key))
        let hello = initiator.start()
        initiator.expect(other.id)
        guard case .send(let response) = try responder.receive(hello) else { Issue.record("no response"); return }
        #expect((#expect(throws: SessionError.self) { _ = try initiator.receive(response) })?.code == .impersonation)
        // ...and the right pin passes.
        var pinned = Handshake(identity: a, role: .initiator(expecting: nil), admission: Self.keyed(key))
        var honest = Handshake(identity: b, role: .responder, admission: Self.keyed(key))
        let first = pinned.start()
        pinned.expect(b.id)
        guard case .send(let answer) = try honest.receive(first) else { Issue.record("no response"); return }
        guard case .established(let channel, _) = try pinned.receive(answer) else { Issue.record("not established"); return }
        #expect(channel.peer == b.id)
    }

    @Test("without a key the handshake keeps its open-mesh sizes (INIT 65, RESPONSE 161, FINISH 96 bytes); with one each grows by a 32-byte proof")
    func messageSizes() throws {
        func sizes(_ admission: Admission) throws -> [Int] {
            var initiator = Handshake(identity: NodeIdentity.ephemeral(), role: .initiator(expecting: nil), admission: admission)
            var responder = Handshake(identity: NodeIdentity.ephemeral(), role: .responder, admission: admission)
            let hello = initiator.start()
            guard case .send(let response) = try responder.receive(hello), case .established(_, let finish?) = try initiator.receive(response) else {
                throw SessionError(.unexpected, "handshake did not complete")
            }
            return try [hello, response, finish].map { try WireMessage.decode($0).payload.count }
        }
        #expect(try sizes(.open) == [65, 161, 96])
        #expect(try sizes(Self.keyed(MeshKey.generate())) == [97, 193, 128])
    }

    @Test("a mesh key's ID is a stable 16-hex-digit fingerprint that differs between keys and never shows the key")
    func keyID() throws {
        let bytes = Array(repeating: UInt8(7), count: 32)
        let key = try #require(MeshKey(bytes: bytes))
        #expect(key.id.count == 16 && key.id.allSatisfy(\.isHexDigit))
        #expect(MeshKey(bytes: bytes)?.id == key.id)
        #expect(MeshKey.generate().id != key.id)
        #expect(!"\(key)".contains("0707"))
        #expect(MeshKey(bytes: [1, 2, 3]) == nil)
    }
}

/// BLAKE2b-256, unkeyed (the handshake's transcript hash).
private func blake2b(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    crypto_generichash(&out, 32, bytes, UInt64(bytes.count), nil, 0)
    return out
}
