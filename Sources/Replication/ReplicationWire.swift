// SPDX-License-Identifier: Apache-2.0
import Content
import Identity
import Primitives
import Wire

/// Payloads of the replication frames (docs/wire.md, 0x60–0x65, 0x6A–0x6B). Every decoder checks lengths and returns
/// nil for anything malformed; a peer that sends one gets a STORED "malformed" answer or is ignored.
public enum ReplicationWire {
    /// How a STORE ended.
    public enum Status: UInt8, Sendable, CustomStringConvertible {
        case stored = 0, mismatch = 1, noSpace = 2, failed = 3, malformed = 4, unauthorized = 5
        public var description: String {
            switch self {
            case .unauthorized: "refused: not authorized by the resource's owner"
            case .stored: "stored durably"
            case .mismatch: "refused: the bytes do not match their ID"
            case .noSpace: "refused: no space"
            case .failed: "failed"
            case .malformed: "malformed request"
            }
        }
    }

    /// What the owner asks of holders for the whole resource (sent with the first piece).
    public struct Policy: Sendable, Equatable {
        /// Credits per hour the owner pays (caps replicas).
        public var budget: UInt64
        /// Bytes of the resource.
        public var size: UInt64
        public init(budget: UInt64, size: UInt64) {
            self.budget = budget
            self.size = size
        }
        var encoded: [UInt8] { le(budget) + le(size) }
    }

    static func le(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func id(_ bytes: ArraySlice<UInt8>) -> (ContentID, ArraySlice<UInt8>)? {
        var reader = ByteReader(bytes)
        guard let id = id(&reader) else { return nil }
        return (id, reader.rest())
    }
    /// A length-prefixed binary content ID.
    static func id(_ reader: inout ByteReader) -> ContentID? {
        guard let bytes = reader.prefixed(UInt8.self), !bytes.isEmpty else { return nil }
        return try? ContentID(bytes: Array(bytes))
    }
    /// Pieces one HAVE_REPLY or RELEASE may name.
    public static let maximumPieces = 1 << 24
    static func encode(_ id: ContentID) -> [UInt8] { let b = id.bytes; return [UInt8(truncatingIfNeeded: b.count)] + b }

    // STORE: flags (bit 1: an owner ticket follows) ‖ resource ‖ [ticket] ‖ piece ‖ stored bytes.
    // (Bit 0, a bare policy, was the format before owner tickets: such a STORE decodes with no ticket and is refused.)
    public static func store(resource: ContentID, ticket: OwnerTicket, piece: ContentID) -> [UInt8] {
        [2] + encode(resource) + ticket.encoded + encode(piece)
    }

    public static func decodeStore(_ payload: [UInt8]) -> (resource: ContentID, ticket: OwnerTicket?, piece: ContentID, data: ArraySlice<UInt8>)? {
        var reader = ByteReader(payload)
        guard let flags = reader.read(UInt8.self), flags <= 2, let resource = id(&reader) else { return nil }
        var ticket: OwnerTicket?
        switch flags {
        case 1:
            guard reader.bytes(16) != nil else { return nil }
        case 2:
            guard let decoded = OwnerTicket.decode(&reader) else { return nil }
            ticket = decoded
        default: break
        }
        guard let piece = id(&reader) else { return nil }
        return (resource, ticket, piece, reader.rest())
    }

    /// The same, read in place: only the header (IDs and ticket) is copied; `data` is the rest of `payload`.
    public static func decodeStore(_ payload: UnsafeRawBufferPointer) -> (resource: ContentID, ticket: OwnerTicket?, piece: ContentID, data: UnsafeRawBufferPointer)? {
        let bound = 4096  // a header is far smaller; a longer one is decoded from a whole copy, as before
        var head = Array(UnsafeRawBufferPointer(rebasing: payload.prefix(bound)))
        var decoded = decodeStore(head)
        if decoded == nil, payload.count > bound {
            head = Array(payload)
            decoded = decodeStore(head)
        }
        guard let (resource, ticket, piece, rest) = decoded else { return nil }
        return (resource, ticket, piece, UnsafeRawBufferPointer(rebasing: payload[(head.count - rest.count)...]))
    }

    public static func stored(_ status: Status, _ message: String = "") -> [UInt8] { [status.rawValue] + Array(message.utf8.prefix(200)) }

    public static func decodeStored(_ payload: [UInt8]) -> (Status, String)? {
        guard let first = payload.first, let status = Status(rawValue: first) else { return nil }
        return (status, String(decoding: payload.dropFirst(), as: UTF8.self))
    }

    // HAVE: resource → HAVE_REPLY: load (f64) ‖ demand, requests/s (f64) ‖ piece count (u32) ‖ bit set
    public static func have(_ resource: ContentID) -> [UInt8] { encode(resource) }
    public static func decodeHave(_ payload: [UInt8]) -> ContentID? {
        guard let (resource, rest) = id(payload[...]), rest.isEmpty else { return nil }
        return resource
    }

    public struct Holding: Sendable, Equatable {
        public var load: Double
        public var demand: Double
        public var pieces: [Bool]
        public init(load: Double, demand: Double, pieces: [Bool]) {
            self.load = load
            self.demand = demand
            self.pieces = pieces
        }
    }

    public static func haveReply(_ holding: Holding) -> [UInt8] {
        var out = le(holding.load.bitPattern) + le(holding.demand.bitPattern)
        out += withUnsafeBytes(of: UInt32(holding.pieces.count).littleEndian) { Array($0) }
        out += bitSet(holding.pieces)
        return out
    }

    public static func decodeHaveReply(_ payload: [UInt8]) -> Holding? {
        var reader = ByteReader(payload)
        guard let load = reader.read(UInt64.self).map(Double.init(bitPattern:)), let demand = reader.read(UInt64.self).map(Double.init(bitPattern:)),
            load.isFinite, demand.isFinite, demand >= 0, let set = bitSet(&reader)
        else { return nil }
        return Holding(load: load, demand: demand, pieces: set)
    }

    // RELEASE: resource ‖ piece count (u32) ‖ bit set of pieces the holder may drop ‖ [holder count (u16) ‖ the
    // member IDs (u64) the sender's census counted as holding them]. The receiver checks that census itself.
    public static let releaseHoldersLimit = 256

    public static func release(_ resource: ContentID, pieces: [Bool], holders: [UInt64] = []) -> [UInt8] {
        let listed = Array(holders.prefix(releaseHoldersLimit))
        return encode(resource) + withUnsafeBytes(of: UInt32(pieces.count).littleEndian) { Array($0) } + bitSet(pieces)
            + withUnsafeBytes(of: UInt16(listed.count).littleEndian) { Array($0) } + listed.flatMap(le)
    }

    public static func decodeRelease(_ payload: [UInt8]) -> (resource: ContentID, pieces: [Bool], holders: [UInt64])? {
        var reader = ByteReader(payload)
        guard let resource = id(&reader), let count = reader.count(UInt32.self, max: maximumPieces, elementSize: 0),
            let set = reader.bytes((count + 7) / 8)
        else { return nil }
        let flags = bits(set, count: count)
        if reader.atEnd { return (resource, flags, []) }
        guard let listed = reader.count(UInt16.self, max: releaseHoldersLimit, elementSize: 8), reader.remaining == 8 * listed else { return nil }
        var holders: [UInt64] = []
        for _ in 0..<listed { holders.append(reader.read(UInt64.self)!) }
        return (resource, flags, holders)
    }

    // CHALLENGE: piece (CID, length-prefixed) ‖ nonce (32) → PROOF: status (u8: 0 held, 1 not held) ‖ [digest (32)
    // = SHA-256(nonce ‖ the piece's stored bytes)]. The nonce is fresh per challenge, so no answer can be kept
    // from an earlier one: only a node that reads the piece now can compute it.
    public static let nonceSize = 32

    public static func challenge(_ piece: ContentID, nonce: [UInt8]) -> [UInt8] {
        precondition(nonce.count == nonceSize)
        return encode(piece) + nonce
    }

    public static func decodeChallenge(_ payload: [UInt8]) -> (piece: ContentID, nonce: [UInt8])? {
        var reader = ByteReader(payload)
        guard let piece = id(&reader), let nonce = reader.bytes(nonceSize), reader.atEnd else { return nil }
        return (piece, Array(nonce))
    }

    /// A PROOF: the digest, or nil for "not held".
    public static func proof(_ digest: [UInt8]?) -> [UInt8] {
        guard let digest, digest.count == 32 else { return [1] }
        return [0] + digest
    }

    /// The digest of a PROOF (nil: "not held"); a malformed PROOF is nil too (it proves nothing).
    public static func decodeProof(_ payload: [UInt8]) -> [UInt8]? {
        guard payload.count == 33, payload[0] == 0 else { return nil }
        return Array(payload[1...])
    }

    /// SHA-256(nonce ‖ stored): what a holder of the stored bytes answers to a challenge with `nonce`.
    public static func proofDigest(nonce: [UInt8], stored: [UInt8]) -> [UInt8] { Sodium.sha256(parts: [nonce, stored]) }

    static func bitSet(_ flags: [Bool]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (flags.count + 7) / 8)
        for (i, flag) in flags.enumerated() where flag { out[i / 8] |= 1 << UInt8(i % 8) }
        return out
    }

    /// A piece count (u32, at most ``maximumPieces``) and its bit set, which must be all that is left.
    static func bitSet(_ reader: inout ByteReader) -> [Bool]? {
        guard let count = reader.count(UInt32.self, max: maximumPieces, elementSize: 0), reader.remaining == (count + 7) / 8 else { return nil }
        return bits(reader.rest(), count: count)
    }

    static func bits(_ bytes: ArraySlice<UInt8>, count: Int) -> [Bool] {
        let base = bytes.startIndex
        return (0..<count).map { bytes[base + $0 / 8] & (1 << UInt8($0 % 8)) != 0 }
    }
}
