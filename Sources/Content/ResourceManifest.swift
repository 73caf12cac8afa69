// SPDX-License-Identifier: Apache-2.0
import Primitives

/// What a stored resource is made of: its size, how it was cut, the ID and stored form of every chunk, the
/// erasure-coding stripes with their parity IDs, and a Merkle root over the chunk hashes.
///
/// Its canonical binary encoding (``encoded()``) is hashed into the resource ID (codec `inos-manifest`), so
/// the manifest cannot be altered without changing the ID. Decoding checks every field and the root.
public struct ResourceManifest: Hashable, Sendable {
    /// How a chunk's bytes are kept in the store.
    public enum Encoding: UInt8, Hashable, Sendable {
        /// As they are (incompressible chunks, or compression off).
        case raw = 0
        /// An LZ4 frame (readable by the `lz4` tool).
        case lz4Frame = 1
    }

    public struct Chunk: Hashable, Sendable {
        /// The ID of the chunk's original bytes (raw codec).
        public var id: ContentID
        /// Original length in bytes.
        public var length: UInt64
        public var encoding: Encoding
        /// Bytes as stored (after compression).
        public var storedLength: UInt64

        public init(id: ContentID, length: UInt64, encoding: Encoding, storedLength: UInt64) {
            self.id = id
            self.length = length
            self.encoding = encoding
            self.storedLength = storedLength
        }
    }

    /// Reed-Solomon protection: chunks are grouped in stripes of `dataShards` consecutive chunks (the last
    /// stripe may be shorter and is zero-padded for coding); each stripe has `parityShards` parity shards of
    /// `chunkSize` bytes, stored like chunks under their own IDs.
    public struct Erasure: Hashable, Sendable {
        public var dataShards: Int
        public var parityShards: Int
        /// Parity IDs, `parityShards` per stripe, stripe by stripe.
        public var parity: [Chunk]

        public init(dataShards: Int, parityShards: Int, parity: [Chunk]) {
            self.dataShards = dataShards
            self.parityShards = parityShards
            self.parity = parity
        }

        public var stripeCount: Int { parityShards == 0 ? 0 : parity.count / parityShards }
    }

    public static let formatVersion: UInt64 = 1
    static let magic: [UInt8] = Array("INOSMAN".utf8)

    public var size: UInt64
    public var chunkSize: UInt64
    public var chunks: [Chunk]
    public var erasure: Erasure?
    /// ``MerkleTree/root(of:)`` over the chunk digests, in order.
    public var merkleRoot: [UInt8]

    public init(size: UInt64, chunkSize: UInt64, chunks: [Chunk], erasure: Erasure?) {
        self.size = size
        self.chunkSize = chunkSize
        self.chunks = chunks
        self.erasure = erasure
        self.merkleRoot = MerkleTree.root(of: chunks.map(\.id.digest))
    }

    /// The resource ID: the hash of the canonical encoding.
    public var id: ContentID { ContentID(hashing: encoded(), codec: .manifest) }

    /// Where the chunks and parity shards sit in stripes: the erasure's k + m, or one chunk per stripe without.
    public var layout: StripeLayout {
        StripeLayout(chunkCount: chunks.count, dataShards: erasure?.dataShards ?? 1, parityShards: erasure?.parityShards ?? 0)
    }

    /// Piece `index` in ``layout``'s numbering: the chunks, then the parity shards.
    public func piece(_ index: Int) -> Chunk {
        index < chunks.count ? chunks[index] : erasure!.parity[index - chunks.count]
    }

    /// Chunk `index`'s stripe number and position in it; nil without erasure coding.
    public func stripe(of index: Int) -> (stripe: Int, position: Int)? {
        guard erasure != nil else { return nil }
        let (stripe, position, _) = layout.stripe(ofPiece: index)
        return (stripe, position)
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var out = Self.magic
        Varint.append(Self.formatVersion, to: &out)
        Varint.append(size, to: &out)
        Varint.append(chunkSize, to: &out)
        Varint.append(UInt64(chunks.count), to: &out)
        for chunk in chunks { Self.append(chunk, to: &out) }
        if let erasure {
            Varint.append(UInt64(erasure.dataShards), to: &out)
            Varint.append(UInt64(erasure.parityShards), to: &out)
            Varint.append(UInt64(erasure.parity.count), to: &out)
            for chunk in erasure.parity { Self.append(chunk, to: &out) }
        } else {
            Varint.append(0, to: &out)
        }
        out += merkleRoot
        return out
    }

    private static func append(_ chunk: Chunk, to out: inout [UInt8]) {
        out += chunk.id.digest
        Varint.append(chunk.length, to: &out)
        out.append(chunk.encoding.rawValue)
        Varint.append(chunk.storedLength, to: &out)
    }

    /// The fewest bytes a chunk entry takes (digest, one-byte lengths, encoding): what claimed chunk and parity
    /// counts are checked against before anything is allocated for them.
    static let minimumChunkEntrySize = 32 + 1 + 1 + 1

    /// The largest stored form a chunk of `chunkSize` bytes can legitimately have: raw is its length, an LZ4
    /// frame is kept only when smaller, and LZ4's worst case is well inside this.
    static func maximumStoredLength(chunkSize: UInt64) -> UInt64 { chunkSize + chunkSize / 64 + 65_536 }

    /// Decodes and validates a manifest. `expected`, when given, must be the ID of these bytes.
    ///
    /// Never traps and never allocates for more than the bytes could hold, whatever they claim: counts are
    /// checked against the bytes left (``ByteReader``), the chunk size is at most 2^30, erasure k + m at most 255,
    /// a chunk's stored length at most ``maximumStoredLength(chunkSize:)`` and a parity shard's length at most
    /// the chunk size.
    public init(decoding bytes: [UInt8], expected: ContentID? = nil) throws(ManifestDecodingError) {
        if let expected, ContentID(hashing: bytes, codec: .manifest) != expected {
            throw .init("manifest bytes do not hash to \(expected)")
        }
        guard bytes.starts(with: Self.magic) else { throw .init("not an INOS resource manifest (bad magic)") }
        var reader = Reader(ByteReader(bytes[Self.magic.count...]))
        let version = try reader.varint("format version")
        guard version == Self.formatVersion else { throw .init("manifest format version \(version) is not supported") }
        size = try reader.varint("size")
        chunkSize = try reader.varint("chunk size")
        guard chunkSize > 0, chunkSize <= 1 << 30 else { throw .init("chunk size \(chunkSize) is out of range") }
        let claimed = try reader.varint("chunk count")
        let needed = size / chunkSize + (size % chunkSize == 0 ? 0 : 1)
        guard claimed == needed else {
            throw .init("\(claimed) chunks cannot hold \(size) bytes in \(chunkSize)-byte chunks")
        }
        let count = try reader.count(claimed, "chunk")
        let storedLimit = Self.maximumStoredLength(chunkSize: chunkSize)
        var chunks: [Chunk] = []
        chunks.reserveCapacity(count)
        for index in 0..<count {
            let chunk = try reader.chunk(storedLimit: storedLimit)
            // count ≥ 1 here and chunkSize · (count − 1) < size, as count = ⌈size / chunkSize⌉.
            let expectedLength = index == count - 1 ? size - chunkSize * UInt64(count - 1) : chunkSize
            guard chunk.length == expectedLength else { throw .init("chunk \(index) has length \(chunk.length), expected \(expectedLength)") }
            chunks.append(chunk)
        }
        self.chunks = chunks
        let dataShards = try reader.varint("data shards")
        if dataShards == 0 {
            erasure = nil
        } else {
            let parityShards = try reader.varint("parity shards")
            let parityCount = try reader.varint("parity count")
            guard parityShards > 0, dataShards <= 255, parityShards <= 255 - dataShards else {
                throw .init("erasure \(dataShards)+\(parityShards) is out of range (k+m ≤ 255)")
            }
            let layout = StripeLayout(chunkCount: count, dataShards: Int(dataShards), parityShards: Int(parityShards))
            guard parityCount == UInt64(layout.parityCount) else {
                throw .init("\(parityCount) parity shards do not match \(layout.stripeCount) stripes of \(parityShards)")
            }
            let parityTotal = try reader.count(parityCount, "parity shard")
            var parity: [Chunk] = []
            parity.reserveCapacity(parityTotal)
            for index in 0..<parityTotal {
                let shard = try reader.chunk(storedLimit: storedLimit)
                guard shard.length <= chunkSize else { throw .init("parity shard \(index) has length \(shard.length), above the chunk size") }
                parity.append(shard)
            }
            erasure = Erasure(dataShards: Int(dataShards), parityShards: Int(parityShards), parity: parity)
        }
        let root = try reader.take(32, "Merkle root")
        guard reader.bytes.atEnd else { throw .init("\(reader.bytes.remaining) stray bytes after the manifest") }
        merkleRoot = MerkleTree.root(of: chunks.map(\.id.digest))
        guard root == merkleRoot else { throw .init("Merkle root does not match the chunk IDs") }
    }

    /// ``ByteReader`` with the manifest's errors.
    private struct Reader {
        var bytes: ByteReader

        init(_ bytes: ByteReader) { self.bytes = bytes }

        mutating func varint(_ what: String) throws(ManifestDecodingError) -> UInt64 {
            guard let value = bytes.varint() else { throw .init("truncated or malformed \(what)") }
            return value
        }

        /// A claimed count of chunk entries, checked against the bytes left.
        func count(_ claimed: UInt64, _ what: String) throws(ManifestDecodingError) -> Int {
            guard let count = bytes.check(count: claimed, max: .max, elementSize: ResourceManifest.minimumChunkEntrySize) else {
                throw .init("\(claimed) \(what) entries claimed, but only \(bytes.remaining) bytes follow")
            }
            return count
        }

        mutating func take(_ count: Int, _ what: String) throws(ManifestDecodingError) -> [UInt8] {
            guard let taken = bytes.bytes(count) else { throw .init("truncated \(what)") }
            return Array(taken)
        }

        mutating func chunk(storedLimit: UInt64) throws(ManifestDecodingError) -> Chunk {
            let digest = try take(32, "chunk ID")
            let length = try varint("chunk length")
            let flag = try take(1, "chunk encoding")[0]
            guard let encoding = Encoding(rawValue: flag) else { throw .init("unknown chunk encoding \(flag)") }
            let stored = try varint("stored length")
            guard stored <= storedLimit else { throw .init("stored length \(stored) is out of range") }
            return Chunk(id: ContentID(codec: .raw, digest: digest), length: length, encoding: encoding, storedLength: stored)
        }
    }
}

/// A manifest that cannot be decoded, and why. Its own type (callers and tests tell it from a store's failure),
/// with the shared shape: the code is always ``InosError/Code/malformed``.
public struct ManifestDecodingError: CodedError, Hashable {
    public var description: String
    init(_ description: String) { self.description = "invalid resource manifest: " + description }

    public var code: InosError.Code { .malformed }
    public var message: String { description }
}
