// SPDX-License-Identifier: Apache-2.0
import Content
import Mesh
import MeshCore
import Primitives
import Replication
import Wire
import WorkAllocation

/// A transport frame as a node receives it: the header, then the body codec of its type. Each decoded body is
/// encoded again and must decode to the same values (what a node relays or answers is what it understood).
enum WireTarget {
    static func run(_ raw: UnsafeRawBufferPointer) {
        let header: WireHeader
        do throws(WireError) { header = try WireHeader.parse(raw) } catch {
            require(raw.count < WireHeader.size || raw[0] != WireHeader.version || raw[2] != 0 || raw[3] != 0, "a well-formed header was refused: \(error)")
            return
        }
        var written = [UInt8](repeating: 0, count: WireHeader.size)
        written.withUnsafeMutableBytes { header.write(into: $0) }
        require(written.elementsEqual(raw.prefix(WireHeader.size)), "the header does not encode back to its bytes")
        let message: WireMessage
        do throws(WireError) { message = try WireMessage.decode(raw) } catch {
            require(false, "the header parsed but the message did not: \(error)")
            return
        }
        require(message.encoded.elementsEqual(raw), "the message does not encode back to its bytes")
        _ = message.header.type.description
        FrameBodies.decode(message.header.type, message.payload)
    }
}

/// Every module's frame-body codecs, by frame type: what the peer layer's handlers decode (docs/wire.md).
enum FrameBodies {
    static func decode(_ type: FrameType, _ payload: [UInt8]) {
        switch type {
        case .error:
            let error = ErrorPayload(decoding: payload)
            require(error.message.utf8.count <= 3 * ErrorPayload.maximumTextBytes, "ERROR text is not bounded")
            require(ErrorPayload(decoding: error.encoded).code == error.code, "ERROR code does not round-trip")
        case .chunkGet, .chunkData, .chunkMissing, .findNode, .findProviders:
            if let (key, rest) = try? WirePayload.splitKey(payload) {
                require(WirePayload.key(key, then: Array(rest)) == payload, "a keyed body does not round-trip")
            }
        case .membership: swim(payload)
        case .gossip: gossip(payload)
        case .provide: provide(payload)
        case .providers:
            let key = Array(payload.prefix(32))
            for record in MeshFrameCodecs.decodeProviders(payload[...], key: key) { require(record.verifies(key: key), "PROVIDERS kept a record that does not verify") }
        case .nodes: _ = KademliaTarget.decodeNodes(payload)
        case .membersReply:
            if let list = MemberInfo.decodeList(payload[...]) {
                let again = MemberInfo.decodeList(MemberInfo.encodeList(list)[...])
                require(again?.map(\.member) == list.map(\.member) && again?.map(\.status) == list.map(\.status), "MEMBERS_REPLY does not round-trip")
            }
        case .merkleReply: _ = MerkleTarget.hashes(payload)
        case .store: store(payload)
        case .stored:
            if let (status, _) = ReplicationWire.decodeStored(payload) { require(ReplicationWire.decodeStored(ReplicationWire.stored(status))?.0 == status, "STORED") }
        case .have:
            if let resource = ReplicationWire.decodeHave(payload) { require(ReplicationWire.decodeHave(ReplicationWire.have(resource)) == resource, "HAVE does not round-trip") }
        case .haveReply:
            if let holding = ReplicationWire.decodeHaveReply(payload) {
                require(ReplicationWire.decodeHaveReply(ReplicationWire.haveReply(holding)) == holding, "HAVE_REPLY does not round-trip")
            }
        case .release:
            if let (resource, pieces, holders) = ReplicationWire.decodeRelease(payload) {
                require(holders.count <= ReplicationWire.releaseHoldersLimit, "RELEASE holders are not bounded")
                let again = ReplicationWire.decodeRelease(ReplicationWire.release(resource, pieces: pieces, holders: holders))
                require(again?.resource == resource && again?.pieces == pieces && again?.holders == holders, "RELEASE does not round-trip")
            }
        case .ledger:
            if let entry = LedgerEntry(decoding: payload[...]) { require(entry.encoded == payload, "LEDGER does not encode back to its bytes") }
        case .challenge:
            if let (piece, nonce) = ReplicationWire.decodeChallenge(payload) {
                let again = ReplicationWire.decodeChallenge(ReplicationWire.challenge(piece, nonce: nonce))
                require(again?.piece == piece && again?.nonce == nonce, "CHALLENGE does not round-trip")
            }
        case .proof:
            if let digest = ReplicationWire.decodeProof(payload) { require(ReplicationWire.proof(digest) == payload, "PROOF does not round-trip") }
        case .jobRun:
            if let run = JobWire.decodeRun(payload) {
                require(run.chunks.count <= JobWire.maximumChunks, "JOB_RUN chunks are not bounded")
                let again = JobWire.decodeRun(JobWire.encode(run))
                require(again?.resource == run.resource && again?.chunks == run.chunks, "JOB_RUN does not round-trip")
            }
        case .jobDone:
            if let outcomes = JobWire.decodeDone(payload) {
                let again = JobWire.decodeDone(JobWire.encode(outcomes))
                require(again?.map(\.chunk) == outcomes.map(\.chunk), "JOB_DONE does not round-trip")
            }
        default: break
        }
    }

    static func swim(_ payload: [UInt8]) {
        guard let message = SwimCodec.decode(payload) else { return }
        let again = SwimCodec.decode(SwimCodec.encode(message))
        require(again.map(SwimTarget.withoutAddresses) == SwimTarget.withoutAddresses(message), "a MEMBERSHIP body does not round-trip")
    }

    static func gossip(_ payload: [UInt8]) {
        guard let message = GossipCodec.decode(payload) else { return }
        require(message.payload.count <= GossipCodec.maximumPayload, "a GOSSIP payload is not bounded")
        var again = GossipCodec.decode(GossipCodec.encode(message))
        again?.topic = message.topic
        require(again == message, "a GOSSIP body does not round-trip")
        GossipTarget.topicBody(message.topic, message.payload)
    }

    static func provide(_ payload: [UInt8]) {
        guard let (key, record, _) = MeshFrameCodecs.decodeProviderRecord(payload[...]) else { return }
        _ = record.problem(key: key)
        let again = MeshFrameCodecs.decodeProviderRecord(MeshFrameCodecs.encodeProviderRecord(key: key, record)[...])
        require(again?.key == key && again?.record.member == record.member && again?.record.lamport == record.lamport, "PROVIDE does not round-trip")
    }

    static func store(_ payload: [UInt8]) {
        let decoded = ReplicationWire.decodeStore(payload)
        // The in-place form (what the bulk lane uses on the receive buffer) must agree with the copying one.
        let inPlace = payload.withUnsafeBytes { raw in
            ReplicationWire.decodeStore(raw).map { ($0.resource, $0.ticket, $0.piece, Array($0.data)) }
        }
        require((decoded == nil) == (inPlace == nil), "STORE's two decoders disagree on whether it is valid")
        guard let decoded, let inPlace else { return }
        require(decoded.resource == inPlace.0 && decoded.piece == inPlace.2 && Array(decoded.data) == inPlace.3, "STORE's two decoders disagree")
        if let ticket = decoded.ticket { _ = ticket.problem(now: 1_700_000_000) }
    }
}
