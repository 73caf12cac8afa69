// SPDX-License-Identifier: Apache-2.0
import Content
import Dispatch
import Foundation
import Host
import Primitives
import Synchronization

/// The node's local data path: put a file as content-addressed, compressed, erasure-protected chunks; get
/// it back, rebuilding lost or corrupt chunks from parity; verify it; collect garbage.
///
/// Put: each 1 MiB chunk is read from the file straight into an arena block, hashed in place (its CID),
/// compressed by the compression plugin into a second block (kept raw when incompressible) and written by
/// the store plugin from there; every `k` chunks the erasure plugin computes `m` parity shards in arena
/// blocks, stored the same way. The resource manifest is stored last, so a resource is visible only
/// once all its chunks are durable. A resource of one chunk is named by that chunk's raw CID (the same ID
/// IPFS gives the same bytes); a larger one by its manifest's ID.
public final class ContentStore: Sendable {
    public struct Options: Sendable {
        /// Bytes per chunk. Default 1 MiB.
        public var chunkSize: Int = 1 << 20
        /// Reed-Solomon data and parity shards per stripe; nil for no parity. Default 10+2 (20%).
        public var erasure: (dataShards: Int, parityShards: Int)? = (10, 2)
        /// Stripes processed in parallel (each needs its own arena working set). Default: one per core.
        public var workers: Int = ProcessInfo.processInfo.activeProcessorCount
        public init() {}
    }

    /// Work done so far, for progress bars.
    public struct Progress: Sendable {
        public var bytesDone: Int
        public var bytesTotal: Int

        public init(bytesDone: Int, bytesTotal: Int) {
            self.bytesDone = bytesDone
            self.bytesTotal = bytesTotal
        }
    }

    public struct PutReport: Sendable {
        public var id: ContentID
        public var manifest: ResourceManifest?
        public var bytesStored: Int
    }

    public struct GetReport: Sendable {
        public var size: Int
        /// Chunks that were missing or corrupt and were rebuilt from parity (and stored again).
        public var repaired: [ContentID]
    }

    public struct VerifyReport: Sendable {
        public var chunks: Int
        public var parityShards: Int
        /// Data chunks or parity shards absent or failing their hash.
        public var damaged: [ContentID]
        /// Damaged data chunks that parity can rebuild (or did rebuild, with repair).
        public var repairable: [ContentID]
        /// Damaged data chunks that cannot be rebuilt: the resource cannot be read whole.
        public var lost: [ContentID]
        public var repaired: [ContentID]
        public var isHealthy: Bool { damaged.isEmpty }

        public init(chunks: Int, parityShards: Int, damaged: [ContentID], repairable: [ContentID], lost: [ContentID], repaired: [ContentID]) {
            self.chunks = chunks
            self.parityShards = parityShards
            self.damaged = damaged
            self.repairable = repairable
            self.lost = lost
            self.repaired = repaired
        }
    }

    let host: HostRuntime
    let calls: PluginCalls

    /// Uses the host's `store` slot (required), `compression` and `erasure` slots (optional).
    public init(host: HostRuntime) throws(DataPathError) {
        self.host = host
        self.calls = try PluginCalls(host: host)
    }

    // MARK: Put

    public func put(file path: String, options: Options = Options(), progress: (Progress) -> Void = { _ in })
        throws(DataPathError) -> PutReport
    {
        guard options.chunkSize >= 4096, options.chunkSize <= 64 << 20, options.chunkSize % 64 == 0 else {
            throw DataPathError(.invalidArgument, "chunk size \(options.chunkSize) must be 4 KiB...64 MiB, a multiple of 64")
        }
        if let (k, m) = options.erasure, k < 1 || m < 1 || k + m > 255 {
            throw DataPathError(.invalidArgument, "erasure \(k)+\(m) is out of range: k ≥ 1, m ≥ 1, k+m ≤ 255")
        }
        let file = try FileHandle.openForReading(path)
        let size = try file.size()
        let chunkSize = options.chunkSize
        let chunkCount = max(1, (size + chunkSize - 1) / chunkSize)
        let erasure = chunkCount > 1 ? options.erasure : nil
        let layout = StripeLayout(chunkCount: chunkCount, dataShards: erasure?.dataShards ?? 1, parityShards: erasure?.parityShards ?? 0)
        let shardCount = layout.width
        let storedCapacity = try calls.maxCompressedSize(chunkSize)
        let work = try WorkingSet(arena: host.arena, shardCount: shardCount, chunkSize: chunkSize, storedCapacity: storedCapacity)

        if chunkCount == 1 {
            let length = try file.read(into: work.shard(0), at: 0)
            let chunk = try storeChunk(UnsafeRawBufferPointer(rebasing: work.shard(0)[0..<length]), work: work)
            progress(Progress(bytesDone: size, bytesTotal: size))
            return PutReport(id: chunk.id, manifest: nil, bytesStored: chunk.stored)
        }

        // Stripes are independent: each worker takes every n-th stripe with a working set of its own
        // (as many as the arena holds, at least one), and the results are put back in stripe order.
        let stripeCount = layout.stripeCount
        var sets = [work]
        while sets.count < min(options.workers, stripeCount),
            let extra = try? WorkingSet(arena: host.arena, shardCount: shardCount, chunkSize: chunkSize, storedCapacity: storedCapacity)
        {
            sets.append(extra)
        }
        let shared = Mutex(PutProgress(stripes: [StripeResult?](repeating: nil, count: stripeCount)))
        let job = StripeJob(file: file, path: path, size: size, chunkSize: chunkSize, layout: layout, erasure: erasure)
        let workers = sets
        @Sendable func run(_ worker: Int, report: (Int) -> Void) {
            for index in stride(from: worker, to: stripeCount, by: workers.count) {
                guard shared.withLock({ $0.failure == nil }) else { return }
                do throws(DataPathError) {
                    let result = try self.process(job, index: index, work: workers[worker])
                    let (done, commitNow) = shared.withLock { state -> (Int, Bool) in
                        state.stripes[index] = result
                        state.bytesDone += result.chunks.reduce(0) { $0 + Int($1.length) }
                        state.uncommitted += result.stored
                        guard state.uncommitted >= Self.commitInterval else { return (state.bytesDone, false) }
                        state.uncommitted = 0
                        return (state.bytesDone, true)
                    }
                    // Group commit: one flush per commitInterval of staged chunks, not two per chunk.
                    if commitNow { try self.calls.commit() }
                    report(done)
                } catch {
                    shared.withLock { $0.failure = $0.failure ?? error }
                    return
                }
            }
        }
        // Workers 1… on threads of their own; worker 0 on this thread, which also reports progress.
        let group = DispatchGroup()
        for worker in 1..<workers.count {
            group.enter()
            Thread {
                run(worker) { _ in }
                group.leave()
            }.start()
        }
        run(0) { done in progress(Progress(bytesDone: done, bytesTotal: size)) }
        group.wait()
        let outcome = shared.withLock { $0 }
        if let failure = outcome.failure { throw failure }
        try calls.commit()  // every chunk durable before the manifest makes the resource visible
        progress(Progress(bytesDone: size, bytesTotal: size))
        let results = outcome.stripes.map { $0! }
        let chunks = results.flatMap(\.chunks)
        let parity = results.flatMap(\.parity)
        let stored = results.reduce(0) { $0 + $1.stored }
        let manifest = ResourceManifest(
            size: UInt64(size), chunkSize: UInt64(chunkSize), chunks: chunks,
            erasure: erasure.map { .init(dataShards: $0.dataShards, parityShards: $0.parityShards, parity: parity) })
        let encoded = manifest.encoded()
        try withBytes(encoded) { (raw) throws(DataPathError) in try calls.put(manifest.id, raw) }
        return PutReport(id: manifest.id, manifest: manifest, bytesStored: stored + encoded.count)
    }

    struct StripeJob: Sendable {
        let file: FileHandle
        let path: String
        let size: Int
        let chunkSize: Int
        let layout: StripeLayout
        let erasure: (dataShards: Int, parityShards: Int)?
    }

    struct StripeResult: Sendable {
        var chunks: [ResourceManifest.Chunk] = []
        var parity: [ResourceManifest.Chunk] = []
        var stored = 0
    }

    /// Staged bytes between two group commits of a put. A crash loses at most this much progress (the
    /// staged chunks are swept at restart, never half-visible); the resource appears only after the last.
    static let commitInterval = 256 << 20

    struct PutProgress: Sendable {
        var stripes: [StripeResult?]
        var bytesDone = 0
        var uncommitted = 0
        var failure: DataPathError?
    }

    /// Reads, hashes, compresses and stores one stripe's chunks, then its parity, in `work`'s blocks.
    private func process(_ job: StripeJob, index: Int, work: WorkingSet) throws(DataPathError) -> StripeResult {
        var result = StripeResult()
        let stripe = job.layout.chunks(inStripe: index)
        let (start, count) = (stripe.lowerBound, stripe.count)
        for position in 0..<count {
            let shard = work.shard(position)
            let length = try job.file.read(into: shard, at: (start + position) * job.chunkSize)
            guard length == min(job.chunkSize, job.size - (start + position) * job.chunkSize) else {
                throw DataPathError(.io, "\(job.path) changed while it was being stored")
            }
            if job.erasure != nil && length < job.chunkSize { shard[length...].initializeMemory(as: UInt8.self, repeating: 0) }
            let chunk = try storeChunk(UnsafeRawBufferPointer(rebasing: shard[0..<length]), work: work, staged: true)
            result.chunks.append(chunk.chunk)
            result.stored += chunk.stored
        }
        if let (k, m) = job.erasure {
            for position in count..<k { work.shard(position).initializeMemory(as: UInt8.self, repeating: 0) }
            try calls.encode(
                k: k, m: m, shardLength: job.chunkSize, data: (0..<k).map(work.shardPointer),
                parity: (k..<k + m).map(work.shardPointer))
            for p in 0..<m {
                let chunk = try storeChunk(UnsafeRawBufferPointer(work.shard(k + p)), work: work, staged: true)
                result.parity.append(chunk.chunk)
                result.stored += chunk.stored
            }
        }
        return result
    }

    /// Hashes bytes in place, compresses them into the working set's stored block, stores the smaller form.
    /// With `staged`, the chunk is durable only after the next ``PluginCalls/commit()``.
    private func storeChunk(_ bytes: UnsafeRawBufferPointer, work: WorkingSet, staged: Bool = false) throws(DataPathError)
        -> (chunk: ResourceManifest.Chunk, stored: Int, id: ContentID)
    {
        let id = ContentID(hashing: bytes)
        let (encoding, length) = try calls.compress(bytes, into: work.storedBuffer)
        let form = encoding == .raw ? bytes : UnsafeRawBufferPointer(rebasing: work.storedBuffer[0..<length])
        if staged { try calls.stage(id, form) } else { try calls.put(id, form) }
        return (.init(id: id, length: UInt64(bytes.count), encoding: encoding, storedLength: UInt64(form.count)), form.count, id)
    }

    // MARK: Get and verify

    /// Reads the manifest of a multi-chunk resource; nil for a single-chunk (raw) ID.
    public func manifest(for id: ContentID) throws(DataPathError) -> ResourceManifest? {
        guard id.codec == .manifest else {
            guard id.codec == .raw else { throw DataPathError(.invalidArgument, "\(id) is neither a chunk nor a resource manifest") }
            return nil
        }
        guard let bytes = try fetchWhole(id) else {
            throw DataPathError(.notFound, "resource \(id) is not in this store", chunks: [id])
        }
        do throws(ManifestDecodingError) {
            return try ResourceManifest(decoding: bytes, expected: id)
        } catch {
            calls.remove(id)
            throw DataPathError(.corrupt, "the stored manifest of \(id) is damaged (\(error.description)); removed", chunks: [id], cause: error)
        }
    }

    /// Writes the resource to `path` (via a temporary file renamed into place, so a failed get leaves no
    /// partial output). Missing or corrupt chunks are rebuilt from parity and stored again.
    public func get(_ id: ContentID, to path: String, progress: (Progress) -> Void = { _ in }) throws(DataPathError) -> GetReport {
        let partial = path + ".inos-partial"
        do throws(DataPathError) {
            let output = try FileHandle.create(partial)
            let report = try walk(id, repair: true, output: output, progress: progress)
            guard report.lost.isEmpty else { throw Self.lostError(id, report) }
            try output.sync()
            try renameFile(partial, path)
            return GetReport(size: report.size, repaired: report.repaired)
        } catch {
            removeFile(partial)
            throw error
        }
    }

    /// Checks every chunk and parity shard of a resource; with `repair`, rebuilds what parity allows.
    public func verify(_ id: ContentID, repair: Bool = false) throws(DataPathError) -> VerifyReport {
        try walk(id, repair: repair, output: nil, progress: { _ in }).verify
    }

    private struct Walk {
        var size = 0
        var verify: VerifyReport
        var lost: [ContentID] { verify.lost }
        var repaired: [ContentID] { verify.repaired }
    }

    private static func lostError(_ id: ContentID, _ walk: Walk) -> DataPathError {
        let names = walk.lost.prefix(5).map(\.description).joined(separator: ", ")
        return DataPathError(
            .unrecoverable,
            "cannot read \(id): \(walk.lost.count) chunk(s) are missing or corrupt beyond what parity can rebuild (\(names)\(walk.lost.count > 5 ? ", …" : ""))",
            chunks: walk.lost)
    }

    private func walk(_ id: ContentID, repair: Bool, output: FileHandle?, progress: (Progress) -> Void)
        throws(DataPathError) -> Walk
    {
        guard let manifest = try manifest(for: id) else { return try walkSingle(id, output: output) }
        let chunkSize = Int(manifest.chunkSize)
        let erasure = manifest.erasure
        let layout = manifest.layout
        let work = try WorkingSet(
            arena: host.arena, shardCount: layout.width, chunkSize: chunkSize,
            storedCapacity: try calls.maxCompressedSize(chunkSize))
        var result = Walk(verify: VerifyReport(
            chunks: manifest.chunks.count, parityShards: erasure?.parity.count ?? 0, damaged: [], repairable: [], lost: [], repaired: []))
        result.size = Int(manifest.size)
        for stripe in 0..<layout.stripeCount {
            let stripeChunks = layout.chunks(inStripe: stripe)
            let (stripeStart, count) = (stripeChunks.lowerBound, stripeChunks.count)
            var present = [Bool](repeating: false, count: layout.width)
            for position in 0..<count {
                let chunk = manifest.chunks[stripeStart + position]
                present[position] = try load(chunk, into: work, shard: position, padded: erasure != nil)
                if !present[position] { result.verify.damaged.append(chunk.id) }
            }
            if let erasure {
                let (k, m) = (erasure.dataShards, erasure.parityShards)
                for p in 0..<m {
                    let shard = manifest.piece(layout.parityIndex(stripe: stripe, p))
                    present[k + p] = try load(shard, into: work, shard: k + p, padded: false)
                    if !present[k + p] { result.verify.damaged.append(shard.id) }
                }
                let missing = (0..<count).filter { !present[$0] }
                if !missing.isEmpty {
                    for position in count..<k {  // padding shards are known zeros
                        work.shard(position).initializeMemory(as: UInt8.self, repeating: 0)
                        present[position] = true
                    }
                    let ids = missing.map { manifest.chunks[stripeStart + $0].id }
                    if present.filter({ $0 }).count >= k {
                        result.verify.repairable += ids
                        if repair || output != nil {
                            try calls.reconstruct(k: k, m: m, shardLength: chunkSize, shards: (0..<k + m).map(work.shardPointer), present: present)
                            for position in missing {
                                let chunk = manifest.chunks[stripeStart + position]
                                let bytes = UnsafeRawBufferPointer(rebasing: work.shard(position)[0..<Int(chunk.length)])
                                guard chunk.id.matches(bytes) else {
                                    throw DataPathError(.corrupt, "chunk \(chunk.id) rebuilt from parity does not match its ID", chunks: [chunk.id])
                                }
                                if repair { try restore(chunk, bytes, work: work) }
                                result.verify.repaired.append(chunk.id)
                            }
                        }
                    } else {
                        result.verify.lost += ids
                    }
                }
                // Parity shards that are gone: with the stripe's data whole (read or rebuilt above), encode them
                // again. The same data gives the same parity, so each must match the ID its manifest names.
                let missingParity = (0..<m).filter { !present[k + $0] }
                if repair, !missingParity.isEmpty, (0..<count).allSatisfy({ present[$0] }) || missing.allSatisfy({ result.verify.repaired.contains(manifest.chunks[stripeStart + $0].id) }) {
                    for position in count..<k { work.shard(position).initializeMemory(as: UInt8.self, repeating: 0) }
                    try calls.encode(k: k, m: m, shardLength: chunkSize, data: (0..<k).map(work.shardPointer), parity: (0..<m).map { work.shardPointer(k + $0) })
                    for p in missingParity {
                        let shard = manifest.piece(layout.parityIndex(stripe: stripe, p))
                        let bytes = UnsafeRawBufferPointer(rebasing: work.shard(k + p)[0..<Int(shard.length)])
                        guard shard.id.matches(bytes) else {
                            throw DataPathError(.corrupt, "parity shard \(shard.id) encoded again does not match its ID", chunks: [shard.id])
                        }
                        try restore(shard, bytes, work: work)
                        result.verify.repaired.append(shard.id)
                    }
                }
            } else if present[0] == false {
                result.verify.lost.append(manifest.chunks[stripeStart].id)
            }
            if let output, result.verify.lost.isEmpty {
                for position in 0..<count {
                    let chunk = manifest.chunks[stripeStart + position]
                    try output.write(UnsafeRawBufferPointer(rebasing: work.shard(position)[0..<Int(chunk.length)]), at: (stripeStart + position) * chunkSize)
                }
            }
            progress(Progress(bytesDone: min(result.size, (stripeStart + count) * chunkSize), bytesTotal: result.size))
        }
        return result
    }

    /// Loads a chunk's stored form, decodes it into shard `index` and checks its hash. False if it is
    /// absent, corrupt or fails the hash (a failing copy is removed so a repair can replace it).
    private func load(_ chunk: ResourceManifest.Chunk, into work: WorkingSet, shard index: Int, padded: Bool)
        throws(DataPathError) -> Bool
    {
        let shard = work.shard(index)
        let length = Int(chunk.length)
        guard length <= shard.count, Int(chunk.storedLength) <= work.storedCapacity else {
            throw DataPathError(.corrupt, "manifest lists chunk \(chunk.id) larger than its chunk size")
        }
        switch chunk.encoding {
        case .raw:
            guard let got = try calls.get(chunk.id, into: shard), got == length else { return false }
        case .lz4Frame:
            guard let got = try calls.get(chunk.id, into: work.storedBuffer) else { return false }
            guard let decoded = try? calls.decompress(UnsafeRawBufferPointer(rebasing: work.storedBuffer[0..<got]), into: shard, chunk: chunk.id),
                decoded == length
            else {
                calls.remove(chunk.id)
                return false
            }
        }
        guard chunk.id.matches(UnsafeRawBufferPointer(rebasing: shard[0..<length])) else {
            calls.remove(chunk.id)
            return false
        }
        if padded && length < shard.count { shard[length...].initializeMemory(as: UInt8.self, repeating: 0) }
        return true
    }

    /// Stores a rebuilt chunk again, in the encoding the manifest names.
    private func restore(_ chunk: ResourceManifest.Chunk, _ bytes: UnsafeRawBufferPointer, work: WorkingSet) throws(DataPathError) {
        if chunk.encoding == .lz4Frame, case (.lz4Frame, let length) = try calls.compress(bytes, into: work.storedBuffer) {
            try calls.put(chunk.id, UnsafeRawBufferPointer(rebasing: work.storedBuffer[0..<length]))
        } else {
            try calls.put(chunk.id, bytes)
        }
    }

    /// What a stored object holds: the stored bytes themselves if they hash to `id`, else what their LZ4 frame
    /// decodes to (at most `limit` bytes) if that does; nil if neither — the object is not what `id` names.
    func content(ofStored stored: [UInt8], id: ContentID, limit: Int) -> [UInt8]? {
        if stored.withUnsafeBytes({ id.matches($0) }) { return stored }
        // The size is the frame's claim: check it against what these bytes could decode to before allocating
        // (a 20-byte frame from a peer may claim 64 MiB), and do not zero what the decoder overwrites.
        guard let size = LZ4Frame.contentSize(stored), size <= limit, size <= LZ4Frame.maximumContent(frameLength: stored.count) else {
            return nil
        }
        var ok = false
        let decoded = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            ok = stored.withUnsafeBytes { src in (try? calls.decompress(src, into: UnsafeMutableRawBufferPointer(buffer), chunk: id)) == size }
            count = ok ? size : 0
        }
        return ok && decoded.withUnsafeBytes({ id.matches($0) }) ? decoded : nil
    }

    /// A single-chunk resource: its stored form is an LZ4 frame or the raw bytes; the hash decides.
    private func walkSingle(_ id: ContentID, output: FileHandle?) throws(DataPathError) -> Walk {
        var report = Walk(verify: VerifyReport(chunks: 1, parityShards: 0, damaged: [], repairable: [], lost: [], repaired: []))
        guard let stored = try fetchWhole(id) else {
            report.verify.damaged = [id]
            report.verify.lost = [id]
            return report
        }
        guard let content = content(ofStored: stored, id: id, limit: 1 << 30) else {
            calls.remove(id)
            report.verify.damaged = [id]
            report.verify.lost = [id]
            return report
        }
        report.size = content.count
        if let output { try withBytes(content) { (raw) throws(DataPathError) in try output.write(raw, at: 0) } }
        return report
    }

    /// A whole stored object as bytes (manifests, single-chunk resources). Nil if absent or corrupt.
    func fetchWhole(_ id: ContentID) throws(DataPathError) -> [UInt8]? {
        var capacity = 1 << 20
        while true {
            // Read straight into the array's storage: no zero-fill and no second copy (this serves peers).
            var outcome: PluginCalls.Fetch = .missing
            var failure: DataPathError?
            let buffer = [UInt8](unsafeUninitializedCapacity: capacity) { raw, count in
                do throws(DataPathError) {
                    outcome = try calls.getReportingSize(id, into: UnsafeMutableRawBufferPointer(raw))
                } catch { failure = error }
                if case .found(let length) = outcome { count = length } else { count = 0 }
            }
            if let failure { throw failure }
            switch outcome {
            case .found: return buffer
            case .missing: return nil
            case .needs(let size):
                guard size > capacity, size <= 1 << 30 else { return nil }
                capacity = size
            }
        }
    }

}

/// Reads the content size an LZ4 frame header declares (the codec plugin always writes it).
enum LZ4Frame {
    static func contentSize(_ frame: [UInt8]) -> Int? {
        guard frame.count >= 15, frame[0] == 0x04, frame[1] == 0x22, frame[2] == 0x4D, frame[3] == 0x18 else { return nil }
        let flags = frame[4]
        guard flags & 0x08 != 0 else { return nil }
        var header = ByteReader(frame[6..<14])
        return header.read(UInt64.self).flatMap { Int(exactly: $0) }
    }

    /// The same, of a frame in place.
    static func contentSize(_ frame: UnsafeRawBufferPointer) -> Int? {
        guard frame.count >= 15, frame[0] == 0x04, frame[1] == 0x22, frame[2] == 0x4D, frame[3] == 0x18, frame[4] & 0x08 != 0 else { return nil }
        return Int(exactly: UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: 6, as: UInt64.self)))
    }

    /// The most bytes a frame of `frameLength` bytes can decode to: an LZ4 sequence turns each byte of a match
    /// length into at most 255 output bytes (its token and offset into at most 18), so no frame expands more
    /// than 256 times.
    static func maximumContent(frameLength: Int) -> Int {
        let (bound, overflow) = frameLength.multipliedReportingOverflow(by: 256)
        return overflow ? .max : bound
    }
}
