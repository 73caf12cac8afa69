// SPDX-License-Identifier: Apache-2.0

/// The INOS wire protocol, version 1: what travels inside one transport frame (docs/wire.md).
///
/// Every message starts with a 12-byte header — version, type, flags, and a 64-bit request id (for sealed
/// frames: the sender's frame counter) — followed by the payload. The transport already delimits frames and
/// caps their size, so the header carries no length. Handshake messages travel in the clear; everything
/// after them is a `sealed` frame whose ciphertext is another header and payload (``SecureChannel``).
public enum FrameType: UInt8, Sendable, CaseIterable {
    case handshakeInit = 0x01
    case handshakeResponse = 0x02
    case handshakeFinish = 0x03
    case sealed = 0x10
    case ping = 0x20
    case pong = 0x21
    case chunkGet = 0x30
    case chunkData = 0x31
    case chunkMissing = 0x32
    case error = 0x3F
    case close = 0x40
    /// A SWIM membership message (MeshCore.SwimCodec), inside a sealed frame.
    case membership = 0x50
    /// A gossip message (MeshCore.GossipCodec), inside a sealed frame.
    case gossip = 0x51
    /// DHT provider records: PROVIDE stores one at a node; FIND_PROVIDERS asks for those of a key; PROVIDERS answers.
    case provide = 0x52
    case findProviders = 0x53
    case providers = 0x54
    /// Merkle anti-entropy of provider records: a question (root, a node's children, a leaf's records) and its answer.
    case merkle = 0x55
    case merkleReply = 0x56
    /// Kademlia: FIND_NODE asks for the members closest to a key; NODES answers.
    case findNode = 0x57
    case nodes = 0x58
    /// Replication (docs/wire.md): STORE asks a node to hold a piece of a resource durably, STORED answers
    /// once it is on disk (or says why not); HAVE asks which of a resource's pieces a node holds (with its
    /// load and demand), HAVE_REPLY answers; RELEASE lets a holder drop pieces it no longer needs to keep.
    case store = 0x60
    case stored = 0x61
    case have = 0x62
    case haveReply = 0x63
    case release = 0x64
    /// A signed ledger entry for the receiving node (one-way).
    case ledger = 0x65
    /// MEMBERS asks for the alive members with their addresses and last node status; MEMBERS_REPLY answers.
    case members = 0x66
    case membersReply = 0x67
    /// Distributed jobs: JOB_RUN asks a node to run a function over some chunks of a resource it holds;
    /// JOB_DONE answers with one result (or error) per chunk.
    case jobRun = 0x68
    case jobDone = 0x69
    /// Proof of storage: CHALLENGE names a piece and a fresh nonce; PROOF answers SHA-256(nonce ‖ the piece's
    /// stored bytes), which only a node that reads the piece can compute (a repair leader checks HAVE claims so).
    case challenge = 0x6A
    case proof = 0x6B
}

public struct WireHeader: Equatable, Sendable {
    public static let size = 12
    public static let version: UInt8 = 1

    public var type: FrameType
    public var requestID: UInt64

    public init(type: FrameType, requestID: UInt64 = 0) {
        self.type = type
        self.requestID = requestID
    }

    /// Writes the header into the first 12 bytes of `out`.
    public func write(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.size)
        out[0] = Self.version
        out[1] = type.rawValue
        out.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        out.storeBytes(of: requestID.littleEndian, toByteOffset: 4, as: UInt64.self)
    }

    /// Parses a header; never traps, whatever the bytes.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> WireHeader {
        guard bytes.count >= size else { throw WireError(.truncated, "frame of \(bytes.count) bytes is shorter than the 12-byte header") }
        guard bytes[0] == version else { throw WireError(.unsupportedVersion, "wire version \(bytes[0]); this node speaks \(version)") }
        guard let type = FrameType(rawValue: bytes[1]) else {
            throw WireError(.unknownType, "unknown frame type 0x\(String(bytes[1], radix: 16))")
        }
        guard bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == 0 else {
            throw WireError(.malformed, "reserved flag bits are set")
        }
        return WireHeader(type: type, requestID: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self)))
    }
}

/// A decoded message: header and payload.
public struct WireMessage: Equatable, Sendable {
    public var header: WireHeader
    public var payload: [UInt8]

    public init(_ type: FrameType, requestID: UInt64 = 0, payload: [UInt8] = []) {
        header = WireHeader(type: type, requestID: requestID)
        self.payload = payload
    }

    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: WireHeader.size + payload.count)
        out.withUnsafeMutableBytes { raw in
            header.write(into: raw)
            UnsafeMutableRawBufferPointer(rebasing: raw[WireHeader.size...]).copyMemory(from: UnsafeRawBufferPointer(start: payload, count: payload.count))
        }
        return out
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> WireMessage {
        let header = try WireHeader.parse(bytes)
        return WireMessage(header.type, requestID: header.requestID, payload: Array(bytes[WireHeader.size...]))
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> WireMessage {
        var result: Result<WireMessage, WireError>!
        bytes.withUnsafeBytes { raw in
            do throws(WireError) { result = .success(try decode(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }
}

/// A frame this node cannot accept; the connection that sent it is closed with this reason.
public struct WireError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable { case truncated, unsupportedVersion, unknownType, malformed, unexpected }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Payload helpers: a key (1...64 bytes) with a length byte in front, as chunk messages carry it.
public enum WirePayload {
    public static func key(_ key: [UInt8], then rest: [UInt8] = []) -> [UInt8] {
        precondition((1...64).contains(key.count))
        return [UInt8(key.count)] + key + rest
    }

    /// Splits `payload` into its key and the bytes after it.
    public static func splitKey(_ payload: [UInt8]) throws(WireError) -> (key: [UInt8], rest: ArraySlice<UInt8>) {
        guard let length = payload.first.map(Int.init), (1...64).contains(length), payload.count >= 1 + length else {
            throw WireError(.malformed, "chunk message without a valid key")
        }
        return (Array(payload[1...length]), payload[(1 + length)...])
    }
}
