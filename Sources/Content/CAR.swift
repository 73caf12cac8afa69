// SPDX-License-Identifier: Apache-2.0

/// CARv1 (content-addressable archive), as `ipfs dag export` writes it and `ipfs dag import` reads it:
/// `varint(header length) ‖ header (dag-cbor {"roots": [CID], "version": 1})`, then per block
/// `varint(CID length + data length) ‖ binary CID ‖ data`.
public enum CAR {
    /// The header for `roots` (canonical dag-cbor: map keys by length, then bytes; CIDs as tag 42 over
    /// a byte string with a leading 0x00).
    public static func header(roots: [ContentID]) -> [UInt8] {
        var cbor: [UInt8] = [0xA2]  // map of 2
        cbor += CBOR.text("roots")
        cbor += CBOR.head(4, UInt64(roots.count))  // array
        for root in roots {
            cbor += [0xD8, 42]  // tag 42: a CID
            cbor += CBOR.head(2, UInt64(root.bytes.count + 1)) + [0x00] + root.bytes
        }
        cbor += CBOR.text("version")
        cbor.append(0x01)
        var out: [UInt8] = []
        Varint.append(UInt64(cbor.count), to: &out)
        return out + cbor
    }

    /// One block's section.
    public static func section(_ id: ContentID, length: Int) -> (prefix: [UInt8], cid: [UInt8]) {
        let cid = id.bytes
        var prefix: [UInt8] = []
        Varint.append(UInt64(cid.count + length), to: &prefix)
        return (prefix, cid)
    }

    /// Reads a CARv1 from `next` (which hands out the archive's bytes as asked), block by block; every length
    /// is bounded (`maximumBlock`), every block's bytes must hash to its CID (sha2-256), and only raw and
    /// dag-pb blocks are accepted.
    public struct Reader {
        /// The largest block accepted (IPFS' own limit is 2 MiB; a 1 MiB chunk fits with room).
        public static let defaultMaximumBlock = 4 << 20
        public private(set) var roots: [ContentID] = []
        let maximumBlock: Int
        var read: (Int) throws -> [UInt8]

        /// `read(n)` returns up to `n` bytes, empty at the end.
        public init(maximumBlock: Int = Reader.defaultMaximumBlock, read: @escaping (Int) throws -> [UInt8]) throws {
            self.maximumBlock = maximumBlock
            self.read = read
            guard let length = try varint(), length > 0, length <= 4096 else { throw ContentIDError.malformed("CAR header length missing or over 4 KiB") }
            let header = try exactly(Int(length))
            roots = try CBOR.carRoots(header)
            guard !roots.isEmpty else { throw ContentIDError.malformed("CAR header names no root") }
        }

        /// The next block, verified; nil at the end of the archive.
        public mutating func next() throws -> (id: ContentID, data: [UInt8])? {
            guard let length = try varint() else { return nil }
            guard length > 4, length <= UInt64(maximumBlock + 64) else { throw ContentIDError.malformed("CAR section of \(length) bytes (at most \(maximumBlock + 64))") }
            let section = try exactly(Int(length))
            // The CID: version, codec, multihash function, digest length, digest.
            var index = 0
            for _ in 0..<4 { guard Varint.read(section, at: &index) != nil else { throw ContentIDError.malformed("truncated CID in a CAR section") } }
            guard index + 32 <= section.count else { throw ContentIDError.malformed("truncated CID digest in a CAR section") }
            let id = try ContentID(bytes: Array(section[..<(index + 32)]))
            guard id.codec == .raw || id.codec == .dagPB else {
                throw ContentIDError.unsupported("block codec 0x\(String(id.codec.rawValue, radix: 16)) (only raw and dag-pb files are imported)")
            }
            let data = Array(section[(index + 32)...])
            guard ContentID(hashing: data, codec: id.codec) == id else { throw ContentIDError.malformed("a CAR block does not hash to its CID \(id)") }
            return (id, data)
        }

        private mutating func varint() throws -> UInt64? {
            var bytes: [UInt8] = []
            while bytes.count < 10 {
                let byte = try read(1)
                guard let first = byte.first else {
                    if bytes.isEmpty { return nil }
                    throw ContentIDError.malformed("truncated varint in a CAR")
                }
                bytes.append(first)
                if first & 0x80 == 0 {
                    var index = 0
                    guard let value = Varint.read(bytes, at: &index) else { throw ContentIDError.malformed("bad varint in a CAR") }
                    return value
                }
            }
            throw ContentIDError.malformed("varint over 9 bytes in a CAR")
        }

        private mutating func exactly(_ count: Int) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(count)
            while out.count < count {
                let more = try read(count - out.count)
                guard !more.isEmpty else { throw ContentIDError.malformed("a CAR ends inside a block (\(out.count) of \(count) bytes)") }
                out += more
            }
            return out
        }
    }
}

/// The little dag-cbor a CAR header needs.
enum CBOR {
    static func head(_ major: UInt8, _ value: UInt64) -> [UInt8] {
        let m = major << 5
        switch value {
        case 0..<24: return [m | UInt8(value)]
        case 24..<256: return [m | 24, UInt8(value)]
        case 256..<65_536: return [m | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        case 65_536..<4_294_967_296: return [m | 26] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        default: return [m | 27] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        }
    }

    static func text(_ string: String) -> [UInt8] { head(3, UInt64(string.utf8.count)) + Array(string.utf8) }

    /// The roots of a CARv1 header: a map with "version": 1 and "roots": [tag 42 CIDs]; anything else throws.
    static func carRoots(_ bytes: [UInt8]) throws -> [ContentID] {
        var reader = Reader(bytes: bytes)
        let (major, entries) = try reader.head()
        guard major == 5, entries <= 8 else { throw ContentIDError.malformed("CAR header is not a small CBOR map") }
        var roots: [ContentID]?
        var version: UInt64?
        for _ in 0..<entries {
            let (keyMajor, keyLength) = try reader.head()
            guard keyMajor == 3, keyLength <= 16 else { throw ContentIDError.malformed("CAR header key is not a short string") }
            let key = String(decoding: try reader.take(Int(keyLength)), as: UTF8.self)
            switch key {
            case "version":
                let (m, v) = try reader.head()
                guard m == 0 else { throw ContentIDError.malformed("CAR version is not an integer") }
                version = v
            case "roots":
                let (m, count) = try reader.head()
                guard m == 4, count <= 16 else { throw ContentIDError.malformed("CAR roots is not a short array") }
                var list: [ContentID] = []
                for _ in 0..<count {
                    guard try reader.take(2) == [0xD8, 42] else { throw ContentIDError.malformed("CAR root is not a CID (tag 42)") }
                    let (bm, length) = try reader.head()
                    guard bm == 2, length > 1, length <= 80 else { throw ContentIDError.malformed("CAR root CID is not a byte string") }
                    let cid = try reader.take(Int(length))
                    guard cid.first == 0 else { throw ContentIDError.malformed("CAR root CID lacks its 0x00 prefix") }
                    list.append(try ContentID(bytes: Array(cid.dropFirst())))
                }
                roots = list
            default:
                throw ContentIDError.malformed("unknown CAR header key \(key)")
            }
        }
        guard version == 1 else { throw ContentIDError.unsupported("CAR version \(version.map(String.init) ?? "missing"); only CARv1 is read") }
        return roots ?? []
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func take(_ count: Int) throws -> [UInt8] {
            guard count >= 0, index + count <= bytes.count else { throw ContentIDError.malformed("truncated CBOR") }
            defer { index += count }
            return Array(bytes[index..<(index + count)])
        }

        mutating func head() throws -> (UInt8, UInt64) {
            let first = try take(1)[0]
            let major = first >> 5
            let info = first & 0x1F
            switch info {
            case 0..<24: return (major, UInt64(info))
            case 24: return (major, UInt64(try take(1)[0]))
            case 25: return (major, try take(2).reduce(0) { $0 << 8 | UInt64($1) })
            case 26: return (major, try take(4).reduce(0) { $0 << 8 | UInt64($1) })
            case 27: return (major, try take(8).reduce(0) { $0 << 8 | UInt64($1) })
            default: throw ContentIDError.malformed("indefinite or reserved CBOR length")
            }
        }
    }
}
