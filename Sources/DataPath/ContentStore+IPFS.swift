// SPDX-License-Identifier: Apache-2.0
import Content
import Primitives

/// A stored resource as IPFS sees it (docs/data-path.md, IPFS export): the UnixFS DAG over its chunks as raw
/// leaves — the root CID `ipfs add --cid-version=1 --raw-leaves --chunker=size-<chunk size>` gives the same
/// bytes — and a CARv1 of it that `ipfs dag import` takes.
extension ContentStore {
    /// The resource's chunks (its own ID for a one-chunk resource) as UnixFS leaves.
    public func ipfsLeaves(of id: ContentID) throws(DataPathError) -> [UnixFS.Leaf] {
        guard let manifest = try manifest(for: id) else {
            guard let content = try fetchWhole(id).map({ content(ofStored: $0, id: id, limit: Int.max) }) ?? nil else {
                throw DataPathError(.notFound, "\(id) is not in this store", chunks: [id])
            }
            return [UnixFS.Leaf(id: id, size: UInt64(content.count))]
        }
        return manifest.chunks.map { UnixFS.Leaf(id: $0.id, size: $0.length) }
    }

    /// The resource's IPFS layout (root CID and dag-pb nodes).
    public func ipfsLayout(of id: ContentID) throws(DataPathError) -> UnixFS.Layout {
        UnixFS.layout(try ipfsLeaves(of: id))
    }

    /// Writes the resource as a CARv1 to `write`, block by block in `ipfs dag export`'s order (the root, then
    /// depth first); each chunk read, decompressed and checked against its ID on the way (a missing or damaged
    /// one is rebuilt from parity, as `get` does, or the export fails naming it). Returns the root CID.
    @discardableResult
    public func exportCAR(_ id: ContentID, write: ([UInt8]) throws -> Void) throws -> ContentID {
        let manifest = try manifest(for: id)
        let layout = UnixFS.layout(try ipfsLeaves(of: id))
        let nodes = Dictionary(layout.nodes.map { ($0.id, $0.bytes) }, uniquingKeysWith: { a, _ in a })
        let chunks = Dictionary((manifest?.chunks ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var repaired = false
        try write(CAR.header(roots: [layout.root]))
        for block in layout.exportOrder() {
            let data: [UInt8]
            if let node = nodes[block] {
                data = node
            } else if let chunk = chunks[block] {
                var content = try chunkContent(chunk)
                if content.map({ ContentID(hashing: $0) != chunk.id }) ?? true, !repaired {
                    // Missing or damaged here: a repairing verify rebuilds it from its stripe, once for the export.
                    _ = try verify(id, repair: true)
                    repaired = true
                    content = try chunkContent(chunk)
                }
                guard let content, ContentID(hashing: content) == chunk.id else {
                    throw DataPathError(.corrupt, "chunk \(chunk.id) of \(id) is missing or damaged here and parity cannot rebuild it", chunks: [chunk.id])
                }
                data = content
            } else {
                // A one-chunk resource: the chunk is the resource.
                guard let stored = try fetchWhole(block), let content = self.content(ofStored: stored, id: block, limit: Int.max), ContentID(hashing: content) == block else {
                    throw DataPathError(.corrupt, "\(block) is missing or damaged here", chunks: [block])
                }
                data = content
            }
            let section = CAR.section(block, length: data.count)
            try write(section.prefix + section.cid)
            try write(data)
        }
        return layout.root
    }
}

extension ContentStore {
    public struct CARImport: Sendable {
        /// The resource stored (and pinned).
        public var id: ContentID
        /// The archive's root, and the root this store computes for what it stored: equal when the archive was
        /// laid out as ``UnixFS/layout(_:maxLinks:)`` lays out (`ipfs add --raw-leaves`, balanced, one chunk size).
        public var archiveRoot: ContentID
        public var storedRoot: ContentID
        public var size: UInt64
        public var blocks: Int
    }

    private static func readLeaf(_ handle: FileHandle, _ offset: Int, _ length: Int) throws(DataPathError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        let read = try withMutableBytes(&bytes) { (raw) throws(DataPathError) in try handle.read(into: raw, at: offset) }
        guard read == length else { throw DataPathError(.io, "short read of a leaf in the import's scratch file") }
        return bytes
    }

    private static func writeAll(_ handle: FileHandle, _ bytes: [UInt8], at offset: Int) throws(DataPathError) {
        try withBytes(bytes) { (raw) throws(DataPathError) in try handle.write(raw, at: offset) }
    }

    /// Bounds on an archive: its dag-pb nodes are held in memory while the file is put together.
    public static let carNodeLimit = 65_536
    public static let carNodeBytesLimit = 64 << 20

    /// Reads a CARv1 of a UnixFS file (raw leaves or dag-pb leaves), checks every block against its CID, puts
    /// the file together in `scratch` and stores it as a resource with the archive's chunk size (its first
    /// leaf's), pinned. Leaves wait in a scratch file, nodes in memory (bounded).
    public func importCAR(_ reader: inout CAR.Reader, scratch: String, pins: PinSet, erasure: (Int, Int)? = (10, 2)) throws -> CARImport {
        let leavesPath = scratch + "/leaves", filePath = scratch + "/file"
        let leaves = try FileHandle.createScratch(leavesPath)
        var placed: [ContentID: (offset: Int, length: Int)] = [:]
        var nodes: [ContentID: [UInt8]] = [:]
        var nodeBytes = 0, offset = 0, blocks = 0
        while let block = try reader.next() {
            blocks += 1
            if block.id.codec == .raw {
                guard placed[block.id] == nil else { continue }
                try withBytes(block.data) { (raw) throws(DataPathError) in try leaves.write(raw, at: offset) }
                placed[block.id] = (offset, block.data.count)
                offset += block.data.count
            } else {
                nodeBytes += block.data.count
                guard nodes.count < Self.carNodeLimit, nodeBytes <= Self.carNodeBytesLimit else {
                    throw DataPathError(.invalidArgument, "the archive has more than \(Self.carNodeLimit) nodes or \(Self.carNodeBytesLimit >> 20) MiB of them")
                }
                nodes[block.id] = block.data
            }
        }
        let root = reader.roots[0]
        let file = try FileHandle.create(filePath)
        var written = 0
        var firstLeaf: Int?
        func lookUp(_ id: ContentID) throws -> [UInt8]? {
            if let node = nodes[id] { return node }
            guard let place = placed[id] else { return nil }
            if firstLeaf == nil { firstLeaf = place.length }
            return try Self.readLeaf(leaves, place.offset, place.length)
        }
        func emit(_ bytes: [UInt8]) throws {
            try Self.writeAll(file, bytes, at: written)
            written += bytes.count
        }
        try UnixFS.reassemble(root, block: lookUp, emit: emit)
        try file.sync()
        var options = Options()
        // The archive's chunk size, so what is stored lays out as the archive did.
        if let first = firstLeaf, first > 0, first <= 64 << 20 { options.chunkSize = first }
        options.erasure = erasure
        let report = try putPinned(file: filePath, pins: pins, options: options)
        removeFile(filePath)
        removeFile(leavesPath)
        let stored = try ipfsLayout(of: report.id).root
        return CARImport(id: report.id, archiveRoot: root, storedRoot: stored, size: UInt64(written), blocks: blocks)
    }
}
