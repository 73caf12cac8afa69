// SPDX-License-Identifier: Apache-2.0
import Primitives

extension ContentID.Codec {
    /// dag-pb: the protobuf nodes UnixFS files are made of (`bafybei…`).
    public static let dagPB = ContentID.Codec(rawValue: 0x70)
}

/// A resource as IPFS lays out a file: a UnixFS (dag-pb) DAG over its chunks as raw leaves, balanced, at most
/// ``maxLinks`` links per node — what `ipfs add --cid-version=1 --raw-leaves --chunker=size-N` builds for the
/// same bytes when N is the resource's chunk size (so the root CID is the one IPFS computes).
///
/// - One chunk: the root is the raw leaf itself.
/// - More: leaves are grouped into nodes of up to 174 links, those into nodes of up to 174, and so on up to
///   one root — go-unixfs' balanced layout fills each node before the next, so this bottom-up grouping builds
///   the same tree.
///
/// Node bytes (dag-pb, canonical: links before data): `PBNode { repeated PBLink Links = 2; bytes Data = 1 }`,
/// `PBLink { bytes Hash = 1; string Name = 2 (empty); uint64 Tsize = 3 }`, and Data the UnixFS
/// `Data { Type = 1 (File = 2); filesize = 3; repeated blocksizes = 4 }`. A link's Tsize is the bytes of the
/// DAG under it: a leaf's length, a node's encoded size plus its links' Tsizes.
public enum UnixFS {
    /// kubo's default (and `--max-links`-free) fan-out of a file node.
    public static let maxLinks = 174

    public struct Leaf: Sendable, Equatable {
        public var id: ContentID
        public var size: UInt64
        public init(id: ContentID, size: UInt64) {
            self.id = id
            self.size = size
        }
    }

    /// One dag-pb block of the layout.
    public struct Node: Sendable, Equatable {
        public var id: ContentID
        public var bytes: [UInt8]
        /// Its links, in order (CIDs of nodes or leaves).
        public var links: [ContentID]
    }

    public struct Layout: Sendable {
        /// The root CID (a raw leaf for a one-chunk resource).
        public var root: ContentID
        /// The dag-pb nodes, children before parents (the root last, when it is a node).
        public var nodes: [Node]
        public var size: UInt64

        /// The blocks in the order `ipfs dag export` writes them: depth first from the root, each block once
        /// (`leafBytes` gives a leaf's bytes).
        public func exportOrder() -> [ContentID] {
            let byID = Dictionary(nodes.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var order: [ContentID] = []
            var seen: Set<ContentID> = []
            var stack = [root]
            while let next = stack.popLast() {
                guard seen.insert(next).inserted else { continue }
                order.append(next)
                if let node = byID[next] { stack += node.links.reversed() }
            }
            return order
        }
    }

    /// The layout of a file whose chunks are `leaves`, in order.
    public static func layout(_ leaves: [Leaf], maxLinks: Int = UnixFS.maxLinks) -> Layout {
        precondition(maxLinks >= 2, "a node needs at least two links")
        guard leaves.count > 1 else {
            let leaf = leaves.first ?? Leaf(id: ContentID(hashing: [UInt8]()), size: 0)
            return Layout(root: leaf.id, nodes: [], size: leaf.size)
        }
        // Each entry of a level: its CID, the file bytes under it, and the DAG bytes under it (Tsize).
        var level = leaves.map { (id: $0.id, fileSize: $0.size, dagSize: $0.size) }
        var nodes: [Node] = []
        repeat {
            var next: [(id: ContentID, fileSize: UInt64, dagSize: UInt64)] = []
            var start = 0
            while start < level.count {
                let children = level[start..<min(start + maxLinks, level.count)]
                let bytes = encodeFileNode(children.map { ($0.id, $0.fileSize, $0.dagSize) })
                let id = ContentID(hashing: bytes, codec: .dagPB)
                nodes.append(Node(id: id, bytes: bytes, links: children.map(\.id)))
                next.append((id, children.reduce(0) { $0 + $1.fileSize }, UInt64(bytes.count) + children.reduce(0) { $0 + $1.dagSize }))
                start += maxLinks
            }
            level = next
        } while level.count > 1
        return Layout(root: level[0].id, nodes: nodes, size: level[0].fileSize)
    }

    /// A UnixFS file node over `children` (CID, file bytes, DAG bytes).
    static func encodeFileNode(_ children: [(ContentID, UInt64, UInt64)]) -> [UInt8] {
        var out: [UInt8] = []
        for (id, _, dagSize) in children {
            var link: [UInt8] = []
            Protobuf.bytes(1, id.bytes, to: &link)
            Protobuf.bytes(2, [], to: &link)  // Name: "" (kubo writes it)
            Protobuf.varint(3, dagSize, to: &link)
            Protobuf.bytes(2, link, to: &out)
        }
        var data: [UInt8] = []
        Protobuf.varint(1, 2, to: &data)  // Type: File
        Protobuf.varint(3, children.reduce(0) { $0 + $1.1 }, to: &data)  // filesize
        for (_, fileSize, _) in children { Protobuf.varint(4, fileSize, to: &data) }  // blocksizes
        Protobuf.bytes(1, data, to: &out)
        return out
    }

    // MARK: Reading a DAG

    /// A dag-pb file node as read back: its links (CID and Tsize) and its UnixFS data.
    public struct FileNode: Sendable, Equatable {
        public var links: [(id: ContentID, tsize: UInt64)]
        public var type: UInt64
        /// Inline file bytes (a leaf node of a non-raw-leaves DAG), if any.
        public var data: [UInt8]
        public var fileSize: UInt64?
        public var blockSizes: [UInt64]

        public static func == (a: FileNode, b: FileNode) -> Bool {
            a.links.map(\.id) == b.links.map(\.id) && a.links.map(\.tsize) == b.links.map(\.tsize) && a.type == b.type && a.data == b.data
                && a.fileSize == b.fileSize && a.blockSizes == b.blockSizes
        }
    }

    /// Decodes a dag-pb node carrying UnixFS file data; bounded: at most `maxLinks` links, every length checked
    /// against the bytes. Throws for anything else (a directory, a malformed node).
    public static func decodeFileNode(_ bytes: [UInt8], maxLinks: Int = 4096) throws(ContentIDError) -> FileNode {
        var links: [(ContentID, UInt64)] = []
        var unixfs: [UInt8]?
        var reader = Protobuf.Reader(bytes[...])
        while let (field, wire) = try reader.key() {
            switch (field, wire) {
            case (2, 2):
                guard links.count < maxLinks else { throw .malformed("dag-pb node with more than \(maxLinks) links") }
                var link = Protobuf.Reader(try reader.lengthDelimited())
                var hash: ContentID?
                var tsize: UInt64 = 0
                while let (f, w) = try link.key() {
                    switch (f, w) {
                    case (1, 2): hash = try ContentID(bytes: Array(try link.lengthDelimited()))
                    case (2, 2): _ = try link.lengthDelimited()
                    case (3, 0): tsize = try link.varint()
                    default: try link.skip(w)
                    }
                }
                guard let hash else { throw .malformed("dag-pb link without a hash") }
                links.append((hash, tsize))
            case (1, 2):
                unixfs = Array(try reader.lengthDelimited())
            default:
                try reader.skip(wire)
            }
        }
        guard let unixfs else { throw .malformed("dag-pb node without UnixFS data") }
        var node = FileNode(links: links, type: 0, data: [], fileSize: nil, blockSizes: [])
        var data = Protobuf.Reader(unixfs[...])
        var sawType = false
        while let (field, wire) = try data.key() {
            switch (field, wire) {
            case (1, 0):
                node.type = try data.varint()
                sawType = true
            case (2, 2): node.data = Array(try data.lengthDelimited())
            case (3, 0): node.fileSize = try data.varint()
            case (4, 0):
                guard node.blockSizes.count < maxLinks else { throw .malformed("more blocksizes than links allowed") }
                node.blockSizes.append(try data.varint())
            default: try data.skip(wire)
            }
        }
        guard sawType, node.type == 2 || node.type == 0 else { throw .unsupported("UnixFS node of type \(node.type): only files are read") }
        guard node.blockSizes.isEmpty || node.blockSizes.count == node.links.count else {
            throw .malformed("\(node.blockSizes.count) blocksizes for \(node.links.count) links")
        }
        return node
    }
}

/// The protobuf wire format, as far as dag-pb and UnixFS need it: varints and length-delimited fields.
enum Protobuf {
    static func varint(_ field: UInt64, _ value: UInt64, to out: inout [UInt8]) {
        Varint.append(field << 3 | 0, to: &out)
        Varint.append(value, to: &out)
    }

    static func bytes(_ field: UInt64, _ value: [UInt8], to out: inout [UInt8]) {
        Varint.append(field << 3 | 2, to: &out)
        Varint.append(UInt64(value.count), to: &out)
        out += value
    }

    /// Reads fields from bytes it was given; every length is checked against what is left.
    struct Reader {
        var bytes: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        /// The next field's number and wire type, or nil at the end.
        mutating func key() throws(ContentIDError) -> (UInt64, UInt64)? {
            guard !bytes.isEmpty else { return nil }
            let key = try varint()
            guard key >> 3 > 0 else { throw .malformed("protobuf field number 0") }
            return (key >> 3, key & 7)
        }

        mutating func varint() throws(ContentIDError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while let byte = bytes.first {
                bytes = bytes.dropFirst()
                guard shift < 64 else { throw .malformed("protobuf varint over 64 bits") }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            throw .malformed("truncated protobuf varint")
        }

        mutating func lengthDelimited() throws(ContentIDError) -> ArraySlice<UInt8> {
            let length = try varint()
            guard length <= UInt64(bytes.count) else { throw .malformed("protobuf field of \(length) bytes, \(bytes.count) left") }
            let value = bytes.prefix(Int(length))
            bytes = bytes.dropFirst(Int(length))
            return value
        }

        mutating func skip(_ wire: UInt64) throws(ContentIDError) {
            switch wire {
            case 0: _ = try varint()
            case 1:
                guard bytes.count >= 8 else { throw .malformed("truncated fixed64") }
                bytes = bytes.dropFirst(8)
            case 2: _ = try lengthDelimited()
            case 5:
                guard bytes.count >= 4 else { throw .malformed("truncated fixed32") }
                bytes = bytes.dropFirst(4)
            default: throw .malformed("protobuf wire type \(wire)")
            }
        }
    }
}

extension UnixFS {
    /// Writes the file a UnixFS DAG holds, in order, to `emit`: raw leaves as they are, file nodes' links
    /// walked depth first. `block` gives a block's bytes by CID (already verified against it). Bounded: at most
    /// `maximumDepth` levels, the sizes the nodes claim must add up, and the file must be `expectedSize` when
    /// given. Returns the bytes written.
    @discardableResult
    public static func reassemble(
        _ root: ContentID, maximumDepth: Int = 16, block: (ContentID) throws -> [UInt8]?, emit: ([UInt8]) throws -> Void
    ) throws -> UInt64 {
        func walk(_ id: ContentID, depth: Int) throws -> UInt64 {
            guard depth <= maximumDepth else { throw ContentIDError.malformed("UnixFS DAG deeper than \(maximumDepth) levels") }
            guard let bytes = try block(id) else { throw ContentIDError.malformed("block \(id) is not in the archive") }
            if id.codec == .raw {
                try emit(bytes)
                return UInt64(bytes.count)
            }
            guard id.codec == .dagPB else { throw ContentIDError.unsupported("block codec 0x\(String(id.codec.rawValue, radix: 16))") }
            let node = try decodeFileNode(bytes)
            var written: UInt64 = 0
            if !node.data.isEmpty {
                try emit(node.data)
                written += UInt64(node.data.count)
            }
            for (index, link) in node.links.enumerated() {
                let size = try walk(link.id, depth: depth + 1)
                if index < node.blockSizes.count, node.blockSizes[index] != size {
                    throw ContentIDError.malformed("node \(id) says child \(index) holds \(node.blockSizes[index]) bytes; it holds \(size)")
                }
                written += size
            }
            if let claimed = node.fileSize, claimed != written { throw ContentIDError.malformed("node \(id) says \(claimed) bytes; its DAG holds \(written)") }
            return written
        }
        return try walk(root, depth: 0)
    }
}

extension UnixFS {
    /// A file node over `children` (CID, file bytes, DAG bytes) — for tests that build hostile DAGs.
    public static func encodeFileNodeForTesting(_ children: [(ContentID, UInt64, UInt64)]) -> [UInt8] { encodeFileNode(children) }
}
