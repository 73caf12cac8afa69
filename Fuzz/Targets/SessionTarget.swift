// SPDX-License-Identifier: Apache-2.0
import Identity
import Session
import Wire

/// The session: handshake messages into a responder (and an initiator), and — structure-aware, since random
/// bytes never pass AEAD — plaintext sealed by the real peer of an established session, opened by the other.
///
/// The first byte picks the mode; the rest are records (``FuzzInput/record()``):
/// - 0, 1: every record is a frame into a fresh responder (open mesh; keyed mesh), then into its channel;
/// - 2, 3: a real INIT and RESPONSE, then the record as XOR patches over the real FINISH into the responder
///   (open; keyed); a FINISH with the real payload must establish the session, one with an altered payload must not;
/// - 4: the record as XOR patches over the real RESPONSE into the initiator;
/// - 5…: every record is plaintext sealed by the initiator's channel and opened by the responder's; the
///   opened bytes must be exactly the plaintext, and the frame altered in one byte or replayed must be refused.
enum SessionTarget {
    /// One handshake, run once per process and copied for each input (``Handshake`` and ``SecureChannel`` are
    /// values): so a run costs the crypto of its own steps, not key generation.
    struct Exchange {
        var initiatorSentInit: Handshake
        var responderReady: Handshake
        var responderSentResponse: Handshake
        let initFrame: [UInt8], responseFrame: [UInt8], finishFrame: [UInt8]
        let initiatorChannel: SecureChannel, responderChannel: SecureChannel

        init(admission: Admission) {
            let initiatorIdentity = NodeIdentity.ephemeral(), responderIdentity = NodeIdentity.ephemeral()
            var initiator = Handshake(identity: initiatorIdentity, role: .initiator(expecting: nil), admission: admission)
            responderReady = Handshake(identity: responderIdentity, role: .responder, admission: admission)
            initFrame = initiator.start()
            initiatorSentInit = initiator
            var responder = responderReady
            guard case .send(let response) = try? responder.receive(initFrame) else { fatalError("the fixture's handshake failed at INIT") }
            responseFrame = response
            responderSentResponse = responder
            guard case .established(let mine, let reply?) = try? initiator.receive(response) else { fatalError("the fixture's handshake failed at RESPONSE") }
            finishFrame = reply
            guard case .established(let theirs, nil) = try? responder.receive(reply) else { fatalError("the fixture's handshake failed at FINISH") }
            initiatorChannel = mine
            responderChannel = theirs
        }
    }

    static let meshKey = MeshKey(bytes: Array(repeating: 0x5A, count: MeshKey.size))!
    static let open = Exchange(admission: .open)
    static let keyed = Exchange(admission: Admission(keys: [meshKey]))

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let mode = input.byte()
        switch mode {
        case 0, 1: rawFrames(&input, responder: (mode == 0 ? open : keyed).responderReady)
        case 2, 3: patchedFinish(&input, mode == 2 ? open : keyed)
        case 4: patchedResponse(&input, open)
        default:
            var sender = open.initiatorChannel, receiver = open.responderChannel
            while let plaintext = input.record() { sealed(plaintext, &sender, &receiver) }
        }
    }

    /// Frames from a peer that knows no key: whatever they are, the handshake refuses them or — it cannot
    /// here, without a signature over this responder's fresh transcript — establishes a session.
    static func rawFrames(_ input: inout FuzzInput, responder template: Handshake) {
        var responder = template
        while let frame = input.record() {
            do throws(SessionError) {
                switch try responder.receive(frame) {
                case .send(let reply): require((try? WireMessage.decode(reply))?.header.type == .handshakeResponse, "the responder sent something other than RESPONSE")
                case .established: require(false, "a responder established a session with frames no initiator signed")
                }
            } catch {
                return
            }
        }
    }

    static func patched(_ frame: [UInt8], _ input: inout FuzzInput) -> [UInt8] {
        var frame = frame
        let patch = input.record() ?? []
        var at = 0
        // Pairs of (skip, xor): skip moves along the frame, xor flips bits there.
        for pair in stride(from: 0, to: patch.count - 1, by: 2) {
            at += Int(patch[pair])
            guard at < frame.count else { break }
            frame[at] ^= patch[pair + 1]
        }
        // A trailing odd byte cuts the frame to that length or extends it, to reach the length checks.
        if patch.count % 2 == 1 {
            let length = Int(patch[patch.count - 1])
            frame = length < frame.count ? Array(frame.prefix(length)) : frame + Array(repeating: 0, count: length - frame.count)
        }
        return frame
    }

    /// Whether `frame` carries `real`'s payload: the handshake covers the payloads, not the 12-byte header's
    /// request ID (which handshake frames do not use), so a frame altered only there is the same message.
    static func samePayload(_ frame: [UInt8], _ real: [UInt8]) -> Bool {
        guard let message = try? WireMessage.decode(frame), let original = try? WireMessage.decode(real) else { return false }
        return message.header.type == original.header.type && message.payload == original.payload
    }

    static func patchedFinish(_ input: inout FuzzInput, _ exchange: Exchange) {
        var responder = exchange.responderSentResponse
        let finish = patched(exchange.finishFrame, &input)
        let step = try? responder.receive(finish)
        if samePayload(finish, exchange.finishFrame) {
            guard case .established(var channel, nil) = step else { return require(false, "the real FINISH did not establish the session") }
            var sender = exchange.initiatorChannel
            while let plaintext = input.record() { sealed(plaintext, &sender, &channel) }
        } else if case .established = step {
            require(false, "a FINISH altered in transit established a session")
        }
    }

    static func patchedResponse(_ input: inout FuzzInput, _ exchange: Exchange) {
        var initiator = exchange.initiatorSentInit
        let response = patched(exchange.responseFrame, &input)
        let step = try? initiator.receive(response)
        if samePayload(response, exchange.responseFrame) {
            guard case .established = step else { return require(false, "the real RESPONSE did not establish the session") }
        } else if case .established = step {
            require(false, "a RESPONSE altered in transit established a session")
        }
    }

    /// `plaintext` sealed by `sender`, opened by `receiver`: the same bytes come out; the frame with one byte
    /// altered, or sent again, is refused; the opened message goes where the peer layer sends it.
    static func sealed(_ plaintext: [UInt8], _ sender: inout SecureChannel, _ receiver: inout SecureChannel) {
        var frame = [UInt8](repeating: 0, count: plaintext.count + SecureChannel.overhead)
        frame.withUnsafeMutableBytes { raw in
            plaintext.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: raw[WireHeader.size...]).copyMemory(from: $0) }
            require(sender.sealInPlace(raw, messageLength: plaintext.count) == raw.count, "sealInPlace used a different length")
        }
        if let first = plaintext.first {
            // One altered byte anywhere (header, ciphertext or tag) must fail authentication or the header check.
            var altered = frame
            altered[Int(first) % altered.count] ^= 0x01 | (plaintext.last ?? 0)
            var probe = receiver
            let opened = altered.withUnsafeMutableBytes { raw in (try? probe.openInPlace(raw)) != nil }
            require(!opened, "a sealed frame altered in one byte was accepted")
        }
        var copy = frame
        let inner: [UInt8]? = copy.withUnsafeMutableBytes { raw in (try? receiver.openInPlace(raw)).map { Array($0) } }
        guard let inner else { return require(false, "the peer's own sealed frame was refused") }
        require(inner == plaintext, "opening did not give back the plaintext")
        var replay = frame
        let replayed = replay.withUnsafeMutableBytes { raw in (try? receiver.openInPlace(raw)) != nil }
        require(!replayed, "a replayed sealed frame was accepted")
        guard let message = try? WireMessage.decode(inner) else { return }
        if message.header.type.isFraming { return }  // the peer layer closes the connection
        FrameBodies.decode(message.header.type, message.payload)
    }
}
