// SPDX-License-Identifier: Apache-2.0
import Primitives
import Synchronization

/// The INOS wire protocol, version 1: what travels inside one transport frame (docs/wire.md).
///
/// Every message starts with a 12-byte header — version, type, flags, and a 64-bit request id (for sealed
/// frames: the sender's frame counter) — followed by the payload. The transport already delimits frames and
/// caps their size, so the header carries no length. Handshake messages travel in the clear; everything
/// after them is a `sealed` frame whose ciphertext is another header and payload (``SecureChannel``).
///
/// A frame type is an open set of byte values: this module declares the link's own types (handshake, sealed,
/// keepalive, error, close); each protocol module declares the values it serves in an extension (`Mesh` the
/// chunk, membership, gossip, provider and anti-entropy types, `Replication` and `WorkAllocation` theirs), in
/// the ranges of docs/wire.md. A type no module on this node registered still parses: the peer layer answers
/// a request of that type with ERROR `unknownType` and keeps the session.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let handshakeInit = FrameType(rawValue: 0x01)
    public static let handshakeResponse = FrameType(rawValue: 0x02)
    public static let handshakeFinish = FrameType(rawValue: 0x03)
    public static let sealed = FrameType(rawValue: 0x10)
    public static let ping = FrameType(rawValue: 0x20)
    public static let pong = FrameType(rawValue: 0x21)
    /// An answer to a request that failed: ``ErrorPayload`` (code ‖ text).
    public static let error = FrameType(rawValue: 0x3F)
    public static let close = FrameType(rawValue: 0x40)

    /// The types this module declares: the link's own.
    public static let linkTypes: [FrameType] = [.handshakeInit, .handshakeResponse, .handshakeFinish, .sealed, .ping, .pong, .error, .close]

    /// Types that only ever travel as the link's own framing; one inside a sealed frame closes the connection.
    public var isFraming: Bool { self == .handshakeInit || self == .handshakeResponse || self == .handshakeFinish || self == .sealed }

    /// The name a module gave this type (``FrameType/name(_:_:)``), or its value in hex.
    public var description: String { Self.names.withLock { $0[rawValue] } ?? "0x\(String(rawValue, radix: 16, uppercase: true))" }

    /// Names `type` for logs and errors (`STORE`, `JOB_RUN`); the frame registry calls it for each registration.
    public static func name(_ type: FrameType, _ name: String) { names.withLock { $0[type.rawValue] = name } }

    private static let names = Mutex<[UInt8: String]>([
        0x01: "HANDSHAKE_INIT", 0x02: "HANDSHAKE_RESPONSE", 0x03: "HANDSHAKE_FINISH", 0x10: "SEALED", 0x20: "PING", 0x21: "PONG",
        0x3F: "ERROR", 0x40: "CLOSE",
    ])
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
        // Any type byte parses: whether this node serves it is the peer layer's question (it answers ERROR).
        let type = FrameType(rawValue: bytes[1])
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
public struct WireError: CodedError, Equatable {
    /// A failure class. Wraps a private enum, so cases can be added later: compare, or switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case truncated = "truncated"
            case unsupportedVersion = "unsupported version"
            case malformed = "malformed"
            case unexpected = "unexpected"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Fewer bytes than the header or its length says.
        public static let truncated = Code(.truncated)
        /// A protocol version this node does not speak.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A field out of range.
        public static let malformed = Code(.malformed)
        /// A valid frame where another was expected.
        public static let unexpected = Code(.unexpected)
        public var description: String { base.rawValue }
    }
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
