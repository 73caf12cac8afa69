// SPDX-License-Identifier: Apache-2.0
import Content
import Host

extension ContentStore {
    /// The stored form of an object (a chunk, a parity shard, a manifest), to serve it to a peer. Nil when
    /// this node does not hold it (or holds only a corrupt copy, which the store quarantines).
    public func storedObject(_ id: ContentID) throws(DataPathError) -> [UInt8]? { try fetchWhole(id) }

    /// Stores an object received from a peer after checking that it is what `id` names: its bytes, or the
    /// bytes its LZ4 frame decodes to, must hash to `id`. Returns false, storing nothing, when they do not —
    /// a peer cannot plant anything under a name it does not match.
    ///
    /// With `durable: false` the object is staged: written but neither durable nor visible until ``commit()``
    /// (one flush for a whole batch — what a reader fetching many pieces wants).
    /// `length`, when the caller knows it (a manifest lists every chunk's length), bounds what a compressed copy may
    /// claim to decode to before anything is allocated; otherwise at most 64 MiB.
    public func importObject(_ id: ContentID, stored: [UInt8], durable: Bool = true, length: UInt64? = nil) throws(DataPathError) -> Bool {
        try withBytes(stored) { (raw) throws(DataPathError) in try importObject(id, stored: raw, durable: durable, length: length) }
    }

    /// The same, from bytes where they are — a received frame's arena block: they are verified and handed to the
    /// store plugin in place, never copied.
    public func importObject(_ id: ContentID, stored: UnsafeRawBufferPointer, durable: Bool = true, length: UInt64? = nil) throws(DataPathError) -> Bool {
        guard matches(id, stored: stored, length: length) else { return false }
        if durable { try calls.put(id, stored) } else { try calls.stage(id, stored) }
        return true
    }

    /// Whether `stored` (an object's stored form, from a peer) is what `id` names, keeping nothing: its bytes, or
    /// what its LZ4 frame decodes to (at most `length` when known, never more than 64 MiB), hash to `id`.
    public func matches(_ id: ContentID, stored: [UInt8], length: UInt64? = nil) -> Bool {
        stored.withUnsafeBytes { matches(id, stored: $0, length: length) }
    }

    /// The same, in place. A raw object is hashed where it is. An LZ4 frame is decoded window by window and each
    /// window hashed as it comes (the codec's `decompress_each`, ABI 1.3: its one 64 KiB window is all a verify
    /// holds); with a codec without it, into a scratch block of the arena (a heap buffer only when the arena has
    /// none free), hashed there and the scratch dropped.
    public func matches(_ id: ContentID, stored: UnsafeRawBufferPointer, length: UInt64? = nil) -> Bool {
        if id.matches(stored) { return true }
        let limit = min(64 << 20, length.map { Int(clamping: $0) } ?? .max)
        // The size is the frame's claim: check it against what these bytes could decode to before decoding.
        guard let size = LZ4Frame.contentSize(stored), size <= limit, size <= LZ4Frame.maximumContent(frameLength: stored.count) else {
            return false
        }
        var verifier = ContentID.Verifier(id)
        var decoded = 0
        let streamed: Int?
        do throws(DataPathError) {
            streamed = try calls.decompressEach(stored, chunk: id) { window in
                decoded += window.count
                if decoded <= size { verifier.update(window) }
            }
        } catch { return false }
        if let streamed { return streamed == size && decoded == size && verifier.matches() }
        func check(_ scratch: UnsafeMutableRawBufferPointer) -> Bool {
            (try? calls.decompress(stored, into: scratch, chunk: id)) == size && id.matches(UnsafeRawBufferPointer(scratch))
        }
        if var scratch = ArenaBlock(allocating: size, in: host.arena) {
            return scratch.withMutableBytes { check($0) }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
        defer { buffer.deallocate() }
        return check(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]))
    }

    /// Makes every object staged with `importObject(_:stored:durable: false)` durable and visible.
    public func commit() throws(DataPathError) { try calls.commit() }
}

extension ContentStore {
    /// The store's capacity and the bytes it uses (for the node-status topic and the allocator).
    public func capacity() -> (total: UInt64, used: UInt64)? {
        guard let stats = try? calls.stats() else { return nil }
        return (stats.capacity_bytes, stats.used_bytes)
    }
}

extension ContentStore {
    /// True if the store holds `id` (without reading it; a damaged copy is found out when it is read).
    public func contains(_ id: ContentID) -> Bool {
        var probe = [UInt8](repeating: 0, count: 1)
        let result = try? withMutableBytes(&probe) { (raw) throws(DataPathError) in try calls.getReportingSize(id, into: raw) }
        switch result {
        case .found, .needs: return true
        default: return false
        }
    }

    /// Deletes a stored object (a piece this node no longer has to keep).
    public func remove(_ id: ContentID) { calls.remove(id) }

    /// The objects a resource consists of, in the order replication numbers them: its chunks, then its parity
    /// shards — or the resource itself when it is a single chunk (no manifest).
    public func pieces(of id: ContentID) throws(DataPathError) -> [(id: ContentID, storedLength: UInt64)] {
        Self.pieces(of: id, manifest: try manifest(for: id))
    }

    /// The same, from a manifest already read (nil: a single-chunk resource).
    public static func pieces(of id: ContentID, manifest: ResourceManifest?) -> [(id: ContentID, storedLength: UInt64)] {
        guard let manifest else { return [(id, 0)] }
        return (manifest.chunks + (manifest.erasure?.parity ?? [])).map { ($0.id, $0.storedLength) }
    }
}

extension ContentStore {
    /// The content of one chunk of a resource, decoded and checked against its ID; nil if absent or damaged.
    public func chunkContent(_ chunk: ResourceManifest.Chunk) throws(DataPathError) -> [UInt8]? {
        guard let stored = try fetchWhole(chunk.id) else { return nil }
        return content(ofStored: stored, id: chunk.id, limit: Int(chunk.length))
    }
}
