// SPDX-License-Identifier: Apache-2.0

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

    /// Chunk `index`'s stripe number and position in it.
    public func stripe(of index: Int) -> (stripe: Int, position: Int)? {
        guard let erasure else { return nil }
        return (index / erasure.dataShards, index % erasure.dataShards)
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

    /// Decodes and validates a manifest. `expected`, when given, must be the ID of these bytes.
    public init(decoding bytes: [UInt8], expected: ContentID? = nil) throws(ManifestDecodingError) {
        if let expected, ContentID(hashing: bytes, codec: .manifest) != expected {
            throw .init("manifest bytes do not hash to \(expected)")
        }
        var reader = Reader(bytes: bytes)
        guard bytes.starts(with: Self.magic) else { throw .init("not an INOS resource manifest (bad magic)") }
        reader.index = Self.magic.count
        let version = try reader.varint("format version")
        guard version == Self.formatVersion else { throw .init("manifest format version \(version) is not supported") }
        size = try reader.varint("size")
        chunkSize = try reader.varint("chunk size")
        guard chunkSize > 0, chunkSize <= 1 << 30 else { throw .init("chunk size \(chunkSize) is out of range") }
        let count = try reader.varint("chunk count")
        guard count == (size + chunkSize - 1) / chunkSize else {
            throw .init("\(count) chunks cannot hold \(size) bytes in \(chunkSize)-byte chunks")
        }
        var chunks: [Chunk] = []
        chunks.reserveCapacity(Int(count))
        var total: UInt64 = 0
        for index in 0..<Int(count) {
            let chunk = try reader.chunk()
            let expectedLength = index == Int(count) - 1 ? size - chunkSize * (count - 1) : chunkSize
            guard chunk.length == expectedLength else { throw .init("chunk \(index) has length \(chunk.length), expected \(expectedLength)") }
            total += chunk.length
            chunks.append(chunk)
        }
        self.chunks = chunks
        let dataShards = try reader.varint("data shards")
        if dataShards == 0 {
            erasure = nil
        } else {
            let parityShards = try reader.varint("parity shards")
            let parityCount = try reader.varint("parity count")
            guard parityShards > 0, dataShards + parityShards <= 255 else {
                throw .init("erasure \(dataShards)+\(parityShards) is out of range (k+m ≤ 255)")
            }
            let stripes = (count + dataShards - 1) / dataShards
            guard parityCount == stripes * parityShards else {
                throw .init("\(parityCount) parity shards do not match \(stripes) stripes of \(parityShards)")
            }
            var parity: [Chunk] = []
            for _ in 0..<parityCount { parity.append(try reader.chunk()) }
            erasure = Erasure(dataShards: Int(dataShards), parityShards: Int(parityShards), parity: parity)
        }
        let root = try reader.take(32, "Merkle root")
        guard reader.index == bytes.count else { throw .init("\(bytes.count - reader.index) stray bytes after the manifest") }
        merkleRoot = MerkleTree.root(of: chunks.map(\.id.digest))
        guard root == merkleRoot else { throw .init("Merkle root does not match the chunk IDs") }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func varint(_ what: String) throws(ManifestDecodingError) -> UInt64 {
            guard let value = Varint.read(bytes, at: &index) else { throw .init("truncated or malformed \(what)") }
            return value
        }

        mutating func take(_ count: Int, _ what: String) throws(ManifestDecodingError) -> [UInt8] {
            guard bytes.count - index >= count else { throw .init("truncated \(what)") }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }

        mutating func chunk() throws(ManifestDecodingError) -> Chunk {
            let digest = try take(32, "chunk ID")
            let length = try varint("chunk length")
            let flag = try take(1, "chunk encoding")[0]
            guard let encoding = Encoding(rawValue: flag) else { throw .init("unknown chunk encoding \(flag)") }
            let stored = try varint("stored length")
            return Chunk(id: ContentID(codec: .raw, digest: digest), length: length, encoding: encoding, storedLength: stored)
        }
    }
}

/// A manifest that cannot be decoded, and why.
public struct ManifestDecodingError: Error, Hashable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = "invalid resource manifest: " + description }
}
