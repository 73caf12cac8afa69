// SPDX-License-Identifier: Apache-2.0
import InosStoreKit
import InosSystem
import PluginABI
import PluginKit
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// A content-addressed chunk store that appends chunks to large pack files and keeps an index log, so a
/// put writes like `dd`: sequential streams, one `fdatasync` per pack per commit, no file created per chunk.
///
/// Layout under `root`: `packs/NNNNNNNN.pack` (records, see ``PackFormat``), `index.log` (entries replayed
/// at start), `quarantine/` (copies of corrupt records, notes of missing ones).
///
/// Crash safety: a record is written, its pack is `fdatasync`ed (and the packs folder `fsync`ed when the pack
/// is new), and only then is its index entry appended and the log `fdatasync`ed; a chunk is visible only once
/// its entry is durable, so after a crash every visible chunk is whole. The log's own name is made durable
/// (`fsync` of the store folder) when it is created. Every file system call goes through the syscall layer
/// (InosSystem), and no sync result is ignored: a pack whose sync failed is sealed (nothing more is appended to
/// it), and a log whose append failed is rewritten before the next append.
///
/// The index is a cache of the packs: records carry magic, key and CRC, so start-up finds every whole record
/// the log does not know (a crash's unindexed tail, or everything when the log is lost, emptied or damaged)
/// and indexes it again; a pack is deleted only when none of its whole records is needed. Bytes past the last
/// needed record of a pack (a torn write) are cut off.
///
/// Faults: a read error (EIO) is reported as `INOS_ERR_IO` and the chunk stays indexed (the next read may
/// succeed; only bad content is quarantined); a full disk (ENOSPC) is `INOS_ERR_FULL`, like a full store; a
/// failed write or sync releases its reservation.
///
/// Speed: writers append to one of `lanes` packs each (a free lane per writer), so parallel writers do not
/// queue on one file's inode lock, and each record's writeback is started at once (`sync_file_range`), so
/// the disk works while the CPU prepares the next chunks and a commit's flush finds little left to do.
///
/// Space: removing a chunk appends a `removed` entry; when less than half of a sealed pack is still live,
/// its live records are copied to a lane's pack and the old pack is deleted.
///
/// Concurrency: writers reserve space under a short lock and write in parallel; commits, index appends and
/// compaction are serialised; reads take a shared lock that compaction takes exclusively only to close a
/// pack it has emptied.
final class PackStore: ChunkStore {
    typealias Location = PackFormat.Location

    let root: String
    let capacity: UInt64
    /// A pack is sealed and a new one started once it would grow past this many bytes.
    let packLimit: UInt64
    /// Packs open for appending at once. Each writer takes a free lane, so parallel writers append to
    /// different files and do not queue on one file's inode lock.
    let laneCount: Int

    private struct Pack {
        var file: SystemFile
        var size: UInt64
        var live: UInt64 = 0
        /// Records written since the last `fdatasync` of this pack.
        var dirty = false
        /// Records reserved or written but not yet indexed: the pack must not be compacted away.
        var uncommitted = 0
        /// A sync of this pack failed: what was written since the last good sync may be lost, so nothing more
        /// is appended to it (its indexed records, synced before, stay readable).
        var sealed = false
    }

    /// What start-up found and did, for operators and tests.
    struct Recovery: Equatable {
        /// Index entries that failed their check (or a torn one at the end of the log).
        var damagedEntries = 0
        /// Whole records the log did not know, indexed again from the packs.
        var recoveredRecords = 0
        /// Indexed chunks whose record is gone (pack deleted or cut short): noted in quarantine/.
        var lostRecords = 0
        /// Bytes cut off the ends of packs (torn or unneeded records after the last needed one).
        var truncatedBytes: UInt64 = 0
        /// Packs deleted because none of their records is needed.
        var deletedPacks = 0
        /// Every pack was read in full because the log was lost, empty or damaged.
        var rebuilt = false
    }

    /// `store.lock`, held shared while the store is open, so `inos store fsck` refuses to run under it.
    private let folderLock: StoreFolderLock
    private let lock = StoreLock()
    private let commitLock = StoreLock()
    private var packsLock = pthread_rwlock_t()

    // Guarded by `lock`.
    private var index: [ChunkKey: Location] = [:]
    private var inFlight: Set<ChunkKey> = []
    private var pending: [(key: ChunkKey, location: Location)] = []
    private var packs: [UInt32: Pack] = [:]
    /// The pack each write lane appends to (0: none yet) and whether a writer is using the lane.
    private var lanes: [(pack: UInt32, busy: Bool)] = []
    private var newestPack: UInt32 = 0
    private var used: UInt64 = 0
    private var quarantined: UInt64 = 0
    private var directoryDirty = false

    // Guarded by `commitLock`.
    private var indexFile: SystemFile?
    private var indexEnd: UInt64 = 0
    private var indexEntries = 0
    /// An append to the log failed: its tail is in doubt, so the log is rewritten before the next append.
    private var indexInDoubt = false

    /// What start-up found (set once by `init`).
    private(set) var recovery = Recovery()

    init(root: String, capacity: UInt64, packLimit: UInt64 = 1 << 30, lanes: Int = 2) throws(StoreError) {
        self.root = root
        self.capacity = capacity
        self.packLimit = max(packLimit, 1 << 20)
        self.laneCount = min(max(lanes, 1), 16)
        try StoreFiles.makeDirectories(root)
        do throws(InosError) { folderLock = try StoreFolderLock(root: root, exclusive: false) } catch {
            let errno = (error.cause as? SystemError)?.errno ?? EWOULDBLOCK
            throw StoreError(code: .io, "\(error.message)\(error.cause.map { ": \($0)" } ?? "")", detail: UInt64(errno))
        }
        pthread_rwlock_init(&packsLock, nil)
        for dir in [packsDirectory, root + "/quarantine"] { try StoreFiles.makeDirectories(dir) }
        try recover()
    }

    deinit {
        for pack in packs.values { pack.file.close() }
        indexFile?.close()
        pthread_rwlock_destroy(&packsLock)
    }

    var packsDirectory: String { root + "/packs" }
    var indexPath: String { root + "/index.log" }

    func packPath(_ number: UInt32) -> String { "\(packsDirectory)/\(PackScan.packName(number))" }

    private func serialised<R>(_ body: () throws(StoreError) -> R) throws(StoreError) -> R {
        try commitLock.withLock(body)
    }

    // MARK: Writing

    func put(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) {
        while true {
            try stage(key, data)
            try commit()
            enum State { case stored, elsewhere, lost }
            let state: State = lock.locked { index[key] != nil ? .stored : inFlight.contains(key) ? .elsewhere : .lost }
            switch state {
            case .stored: return
            case .elsewhere: sysSleep(microseconds: 200)  // another thread is writing the same chunk: wait for its commit
            case .lost: continue  // that thread failed: write it ourselves
            }
        }
    }

    func stage(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) {
        guard data.count <= Int(UInt32.max) else {
            throw StoreError(code: .invalidArgument, "chunk of \(data.count) bytes is larger than a pack record can hold")
        }
        let length = UInt32(data.count)
        let size = UInt64(PackFormat.recordHeaderSize + key.count) + UInt64(length)
        guard let (file, location, lane) = try reserve(size, key: key, payloadLength: length, deduplicate: true) else { return }
        do throws(StoreError) {
            try writeRecord(file, key: key, payload: data, at: location.offset)
        } catch {
            lock.locked {
                inFlight.remove(key)
                packs[location.pack]?.uncommitted -= 1
                lanes[lane].busy = false
                release(location)
            }
            throw error
        }
        // Start writing the record to disk now, in the background, so the flush at commit finds little left to
        // do and the disk works while the CPU hashes the next chunks (RocksDB's bytes_per_sync does the same).
        file.startWriteback(offset: location.offset, length: location.recordSize)
        lock.locked {
            pending.append((key, location))
            packs[location.pack]?.dirty = true
            lanes[lane].busy = false
        }
    }

    /// Gives back the space of a record whose write failed. When it is the last reservation of its pack, the
    /// pack shrinks back (and the file is cut to match, so a failed write on a full disk frees what it took);
    /// otherwise the bytes stay as a hole no index entry points to. Called with `lock` held.
    private func release(_ location: Location) {
        guard var pack = packs[location.pack], pack.size == location.offset + location.recordSize else { return }
        guard (try? pack.file.truncate(to: location.offset)) != nil else { return }
        pack.size = location.offset
        packs[location.pack] = pack
        used -= min(used, location.recordSize)
    }

    /// Takes `size` bytes at the end of a free lane's pack (the first lane if all are busy), starting a new
    /// pack when that one is full or sealed, and marks the lane busy until the caller frees it. With
    /// `deduplicate` (staging), nil when the key is already stored or being written; without it (compaction,
    /// which indexes its copies before any other commit can run), the reservation is not tracked.
    private func reserve(_ size: UInt64, key: ChunkKey, payloadLength: UInt32, deduplicate: Bool) throws(StoreError) -> (SystemFile, Location, Int)? {
        try lock.withLock { () throws(StoreError) -> (SystemFile, Location, Int)? in
            if deduplicate {
                if index[key] != nil || inFlight.contains(key) { return nil }
            }
            guard used + size <= capacity else {
                throw StoreError(code: .full, "store full: \(used) of \(capacity) bytes used, chunk needs \(size)")
            }
            let lane = lanes.firstIndex { !$0.busy } ?? 0
            if let current = packs[lanes[lane].pack], current.sealed || (current.size > 0 && current.size + size > packLimit) {
                lanes[lane].pack = 0  // sealed
            }
            if lanes[lane].pack == 0 { lanes[lane].pack = try startPack() }
            let number = lanes[lane].pack
            guard var pack = packs[number] else { throw StoreError(code: .io, "no open pack") }
            let location = Location(pack: number, offset: pack.size, payloadLength: payloadLength, keyLength: UInt8(key.count))
            pack.size += size
            packs[number] = pack
            used += size
            lanes[lane].busy = true
            if deduplicate {  // a staged chunk: tracked until its commit
                inFlight.insert(key)
                packs[number]?.uncommitted += 1
            }
            return (pack.file, location, lane)
        }
    }

    /// Creates the next pack file and returns its number; its name becomes durable with the next commit's
    /// `fsync` of the packs folder, before any entry points into it. Called with `lock` held.
    private func startPack() throws(StoreError) -> UInt32 {
        let number = newestPack + 1
        let file = try StoreFiles.open(packPath(number), O_RDWR | O_CREAT | O_EXCL)
        packs[number] = Pack(file: file, size: 0)
        newestPack = number
        directoryDirty = true
        return number
    }

    /// Writes header, key and payload with one `pwritev`.
    private func writeRecord(_ file: SystemFile, key: ChunkKey, payload: UnsafeRawBufferPointer, at offset: UInt64) throws(StoreError) {
        let checksum = PackFormat.recordChecksum(key, payload)
        try withUnsafeTemporaryAllocation(byteCount: PackFormat.recordHeaderSize + ChunkKey.maximumLength, alignment: 8) {
            (header) throws(StoreError) in
            let headerLength = PackFormat.encodeRecordHeader(key, payloadLength: UInt32(payload.count), checksum: checksum, into: header)
            try StoreFiles.run("write to \(file.path)") { () throws(SystemError) in
                try file.write([UnsafeRawBufferPointer(rebasing: header[0..<headerLength]), payload], at: offset)
            }
        }
    }

    /// Makes every chunk staged so far durable and visible: `fdatasync` of the packs written to, then one
    /// append of their index entries and an `fdatasync` of the log.
    func commit() throws(StoreError) {
        try serialised { () throws(StoreError) in try commitSerialised() }
    }

    private func commitSerialised() throws(StoreError) {
        let (batch, dirty, syncDirectory) = lock.locked {
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            var dirty: [(UInt32, SystemFile)] = []
            for (number, pack) in packs where pack.dirty {
                dirty.append((number, pack.file))
                packs[number]?.dirty = false
            }
            defer { directoryDirty = false }
            return (batch, dirty, directoryDirty)
        }
        guard !batch.isEmpty else { return }
        do throws(StoreError) {
            for (number, file) in dirty {
                do throws(StoreError) {
                    try StoreFiles.run("fdatasync \(file.path)") { () throws(SystemError) in try file.syncData() }
                } catch {
                    lock.locked { packs[number]?.sealed = true }  // its unsynced pages may be gone: append elsewhere
                    throw error
                }
            }
            if syncDirectory { try StoreFiles.syncDirectory(packsDirectory) }
            try appendEntries(batch.map { PackFormat.Entry(kind: .stored, key: $0.key, location: $0.location) })
        } catch {
            lock.locked {
                for (key, location) in batch {
                    inFlight.remove(key)
                    packs[location.pack]?.uncommitted -= 1
                }
                if syncDirectory { directoryDirty = true }
            }
            throw error
        }
        lock.locked {
            for (key, location) in batch {
                index[key] = location
                inFlight.remove(key)
                packs[location.pack]?.live += location.recordSize
                packs[location.pack]?.uncommitted -= 1
            }
        }
    }

    /// Appends entries to the index log and makes them durable. Called serialised.
    private func appendEntries(_ entries: [PackFormat.Entry]) throws(StoreError) {
        guard !entries.isEmpty else { return }
        if indexInDoubt { try rewriteIndex() }
        guard let indexFile else { throw StoreError(code: .io, "the index log is not open") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: entries.count * PackFormat.entrySize, alignment: 8)
        defer { buffer.deallocate() }
        for (i, entry) in entries.enumerated() {
            PackFormat.encode(entry, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * PackFormat.entrySize)...]))
        }
        do throws(StoreError) {
            try StoreFiles.run("append to \(indexPath)") { () throws(SystemError) in
                try indexFile.write(UnsafeRawBufferPointer(buffer), at: indexEnd)
                try indexFile.syncData()
            }
        } catch {
            // The entries may or may not be on disk (a failed fdatasync may also have dropped earlier pages):
            // cut them off if we can, and rewrite the log from memory before the next append either way.
            try? indexFile.truncate(to: indexEnd)
            indexInDoubt = true
            throw error
        }
        indexEnd += UInt64(buffer.count)
        indexEntries += entries.count
    }

    // MARK: Reading

    func get(_ key: ChunkKey, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        pthread_rwlock_rdlock(&packsLock)
        let found = lock.locked { index[key].map { ($0, packs[$0.pack]?.file) } }
        guard let (location, file) = found else {
            pthread_rwlock_unlock(&packsLock)
            throw StoreError.notFound(key)
        }
        let length = Int(location.payloadLength)
        guard destination.count >= length else {
            pthread_rwlock_unlock(&packsLock)
            throw StoreError(
                code: .bufferTooSmall, "chunk \(key.hex) has \(length) bytes; buffer holds \(destination.count)",
                detail: UInt64(length))
        }
        let payload = UnsafeMutableRawBufferPointer(rebasing: destination[0..<length])
        let outcome = withUnsafeTemporaryAllocation(byteCount: PackFormat.recordHeaderSize + ChunkKey.maximumLength, alignment: 8) {
            header -> Result<String?, StoreError> in
            defer { pthread_rwlock_unlock(&packsLock) }
            guard let file else { return .success("its pack \(location.pack) is missing") }
            let headerLength = PackFormat.recordHeaderSize + key.count
            let head = UnsafeMutableRawBufferPointer(rebasing: header[0..<headerLength])
            let read: Int
            do throws(SystemError) {
                read = try file.read(into: [head, payload], at: location.offset)
            } catch {
                // A read error says nothing about the record: report it, keep the chunk (the next read may work).
                return .failure(StoreError("read chunk \(key.hex) from \(file.path)", error))
            }
            if read < headerLength + length { return .success("record cut short (pack truncated)") }
            var checksum: UInt32 = 0
            if let problem = PackFormat.checkRecordHeader(UnsafeRawBufferPointer(head), key: key, location: location, checksum: &checksum) {
                return .success(problem)
            }
            return .success(PackFormat.recordChecksum(key, UnsafeRawBufferPointer(payload)) == checksum ? nil : "CRC32C mismatch")
        }
        if let problem = try outcome.get() { try quarantine(key, at: location, why: problem) }
        return length
    }

    /// Takes a corrupt chunk out of the index (durably), keeps a copy of its record in `quarantine/`, and
    /// reports it. Never returns.
    private func quarantine(_ key: ChunkKey, at location: Location, why: String) throws(StoreError) -> Never {
        let copy = "\(root)/quarantine/\(key.hex).\(location.pack).\(location.offset)"
        try serialised { () throws(StoreError) in
            guard lock.locked({ index[key] == location }) else { return }  // another reader got there first
            keepCopy(of: location, at: copy)
            try appendEntries([PackFormat.Entry(kind: .quarantined, key: key, location: location)])
            lock.locked {
                index[key] = nil
                packs[location.pack]?.live -= location.recordSize
                quarantined += 1
            }
            compactIfMostlyDead(location.pack)
        }
        throw StoreError(code: .corrupt, "chunk \(key.hex) is corrupt (\(why)); its record is kept in \(copy)")
    }

    /// Best effort: copies a record's bytes (as far as they exist) to `path` for inspection.
    private func keepCopy(of location: Location, at path: String) {
        let source = lock.locked { packs[location.pack]?.file }
        guard let out = try? SystemFile.open(path, O_WRONLY | O_CREAT | O_TRUNC) else { return }
        defer { out.close() }
        guard let source, location.recordSize <= 1 << 32 else { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(location.recordSize), alignment: 8)
        defer { buffer.deallocate() }
        let n = (try? source.read(into: buffer, at: location.offset)) ?? 0
        try? out.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: 0)
    }

    // MARK: Removing and compaction

    func remove(_ key: ChunkKey) throws(StoreError) {
        try serialised { () throws(StoreError) in
            guard let location = lock.locked({ index[key] }) else { throw StoreError.notFound(key) }
            try appendEntries([PackFormat.Entry(kind: .removed, key: key, location: location)])
            lock.locked {
                index[key] = nil
                packs[location.pack]?.live -= location.recordSize
            }
            compactIfMostlyDead(location.pack)
        }
    }

    /// Compacts a sealed pack once less than half of it is live. A failure leaves the pack as it was (the
    /// chunks stay readable there) and is retried at the next removal. Called serialised.
    private func compactIfMostlyDead(_ number: UInt32) {
        let worth = lock.locked {
            guard !lanes.contains(where: { $0.pack == number }), let pack = packs[number], pack.uncommitted == 0 else { return false }
            return pack.live * 2 < pack.size
        }
        if worth { try? compact(number) }
    }

    /// Copies the live records of pack `number` to a write lane's pack, indexes them there, then deletes the
    /// pack. Called serialised, so no commit or other compaction runs meanwhile.
    func compact(_ number: UInt32) throws(StoreError) {
        let (moving, source) = lock.locked { (index.filter { $0.value.pack == number }, packs[number]?.file) }
        guard let source else { return }
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var entries: [PackFormat.Entry] = []
        var targets: [UInt32: SystemFile] = [:]
        for (key, location) in moving {
            let size = Int(location.recordSize)
            if buffer.count < size {
                buffer.deallocate()
                buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            }
            let record = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
            let headerLength = PackFormat.recordHeaderSize + key.count
            var checksum: UInt32 = 0
            let got = try StoreFiles.run("read \(source.path)") { () throws(SystemError) in try source.read(into: record, at: location.offset) }
            let intact = got == size
                && PackFormat.checkRecordHeader(UnsafeRawBufferPointer(record), key: key, location: location, checksum: &checksum) == nil
                && PackFormat.recordChecksum(key, UnsafeRawBufferPointer(rebasing: record[headerLength...])) == checksum
            guard intact else {
                keepCopy(of: location, at: "\(root)/quarantine/\(key.hex).\(location.pack).\(location.offset)")
                entries.append(PackFormat.Entry(kind: .quarantined, key: key, location: location))
                continue
            }
            guard let (file, target, lane) = try reserve(UInt64(size), key: key, payloadLength: location.payloadLength, deduplicate: false) else { continue }
            defer { lock.locked { lanes[lane].busy = false } }
            try StoreFiles.run("write to \(file.path)") { () throws(SystemError) in try file.write(UnsafeRawBufferPointer(record), at: target.offset) }
            targets[target.pack] = file
            entries.append(PackFormat.Entry(kind: .stored, key: key, location: target))
        }
        // A failure from here on leaves the copies as dead bytes; the chunks stay readable in the old pack.
        for (target, file) in targets {
            do throws(StoreError) {
                try StoreFiles.run("fdatasync \(file.path)") { () throws(SystemError) in try file.syncData() }
            } catch {
                lock.locked { packs[target]?.sealed = true }
                throw error
            }
        }
        if lock.locked({ directoryDirty }) {
            try StoreFiles.syncDirectory(packsDirectory)
            lock.locked { directoryDirty = false }
        }
        try appendEntries(entries)
        lock.locked {
            for entry in entries {
                if entry.kind == .stored {
                    index[entry.key] = entry.location
                    packs[entry.location.pack]?.live += entry.location.recordSize
                } else {
                    index[entry.key] = nil
                    quarantined += 1
                }
            }
        }
        pthread_rwlock_wrlock(&packsLock)
        let removed = lock.locked { packs.removeValue(forKey: number) }
        pthread_rwlock_unlock(&packsLock)
        if let removed {
            removed.file.close()
            lock.locked { used -= min(used, removed.size) }
        }
        try StoreFiles.run("delete \(packPath(number))") { () throws(SystemError) in try sysUnlink(packPath(number)) }
        try StoreFiles.syncDirectory(packsDirectory)
        if indexEntries > 2 * lock.locked({ index.count }) + 4096 { try rewriteIndex() }
    }

    // MARK: Statistics and listing

    func statistics() -> StoreStatistics {
        lock.locked { StoreStatistics(capacity: capacity, used: used, count: UInt64(index.count), quarantined: quarantined) }
    }

    func forEach(_ visit: (ChunkKey, UInt64) -> Bool) {
        let snapshot = lock.locked { index.map { ($0.key, $0.value.recordSize) } }
        for (key, size) in snapshot where !visit(key, size) { return }
    }

    // MARK: Start-up

    /// Replays the index log, opens the packs, and reads from the packs every whole record the log does not
    /// know: the tail of each pack past its last indexed record (a crash between a pack's sync and the log
    /// append), or every pack from the start when the log is missing, empty or damaged before its end (the
    /// index is then rebuilt from the packs alone). Then it cuts torn or unneeded bytes off the ends of packs, deletes packs
    /// none of whose records is needed, and rewrites the log when it changed anything.
    private func recover() throws(StoreError) {
        let existed = sysExists(indexPath)
        let log = try StoreFiles.open(indexPath, O_RDWR | O_CREAT)
        indexFile = log
        // A new log's name must be durable before any entry in it counts (a crash could otherwise lose the
        // whole log while the packs survive; start-up would then rebuild it, but nothing should depend on that).
        if !existed { try StoreFiles.syncDirectory(root) }
        let replay = try StoreFiles.run("read \(indexPath)") { () throws(SystemError) in try PackScan.replayIndex(log) }
        recovery.damagedEntries = replay.damagedEntries
        /// The last kind of entry each key has in the log: a record of a key whose last entry is a removal is
        /// not needed (unless the log is damaged and a later entry may be the one that was lost).
        var lastKind: [ChunkKey: PackFormat.EntryKind] = [:]
        for entry in replay.entries {
            lastKind[entry.key] = entry.kind
            if entry.kind == .stored { index[entry.key] = entry.location } else { index[entry.key] = nil }
        }

        for name in try StoreFiles.list(packsDirectory) {
            guard let number = PackScan.packNumber(name) else { continue }
            let file = try StoreFiles.open(packPath(number), O_RDWR)
            let size = try StoreFiles.run("stat \(file.path)") { () throws(SystemError) in try file.size() }
            packs[number] = Pack(file: file, size: size)
        }
        newestPack = packs.keys.max() ?? 0

        // Entries whose record is not there (pack deleted or cut short by hand): the chunk is lost here unless
        // a copy turns up in the scan below. Noted in quarantine/ so it is reported; the data path rebuilds it.
        var lost: [ChunkKey: Location] = [:]
        for (key, location) in index {
            guard let pack = packs[location.pack], location.offset + location.recordSize <= pack.size else {
                lost[key] = location
                continue
            }
        }
        for key in lost.keys { index[key] = nil }

        // A torn append at the end of the log is a crash's normal leftover: the tail scans find its records.
        // Damage before a good entry, or no entries at all beside packs, means the log itself was lost.
        let rebuild = replay.damagedBeforeLastEntry > 0 || (replay.entries.isEmpty && !packs.isEmpty)
        recovery.rebuilt = rebuild
        var indexedEnd: [UInt32: UInt64] = [:]
        for location in index.values {
            indexedEnd[location.pack] = max(indexedEnd[location.pack] ?? 0, location.offset + location.recordSize)
        }
        var recovered: [UInt32: Int] = [:]
        for number in packs.keys.sorted() {
            guard let pack = packs[number] else { continue }
            let start = rebuild ? 0 : indexedEnd[number] ?? 0
            _ = try StoreFiles.run("scan \(pack.file.path)") { () throws(SystemError) in
                try PackScan.records(in: pack.file, pack: number, size: pack.size, from: start) { key, location in
                    if index[key] != nil { return }  // indexed (here or in another pack): a duplicate
                    if !rebuild, lost[key] == nil, let kind = lastKind[key], kind != .stored { return }  // removed
                    index[key] = location
                    lost[key] = nil
                    recovered[number, default: 0] += 1
                }
            }
        }
        // Found records may never have been synced (a process crash keeps the page cache): sync their packs
        // before the log points at them, so a power loss now cannot leave an entry to a torn record.
        for number in recovered.keys.sorted() {
            guard let file = packs[number]?.file else { continue }
            try StoreFiles.run("fdatasync \(file.path)") { () throws(SystemError) in try file.syncData() }
        }
        recovery.recoveredRecords = recovered.values.reduce(0, +)
        recovery.lostRecords = lost.count
        for (key, location) in lost {
            let note = "\(root)/quarantine/\(key.hex).\(location.pack).\(location.offset).missing"
            try StoreFiles.open(note, O_WRONLY | O_CREAT | O_TRUNC).close()
        }
        if !lost.isEmpty { try StoreFiles.syncDirectory(root + "/quarantine") }

        // Cut every pack back to its last needed record; delete packs with nothing needed.
        indexedEnd = [:]
        for location in index.values {
            indexedEnd[location.pack] = max(indexedEnd[location.pack] ?? 0, location.offset + location.recordSize)
            packs[location.pack]?.live += location.recordSize
        }
        for (number, pack) in packs {
            if pack.live == 0 {
                pack.file.close()
                try StoreFiles.run("delete \(pack.file.path)") { () throws(SystemError) in try sysUnlink(packPath(number)) }
                packs[number] = nil
                directoryDirty = true
                recovery.deletedPacks += 1
            } else if let end = indexedEnd[number], pack.size > end {
                try StoreFiles.run("truncate \(pack.file.path)") { () throws(SystemError) in
                    try pack.file.truncate(to: end)
                    try pack.file.syncData()
                }
                recovery.truncatedBytes += pack.size - end
                packs[number]?.size = end
            }
        }
        // Lanes go on appending to the newest packs that still have room; further lanes start packs lazily.
        let open = packs.filter { $0.value.size < packLimit }.keys.sorted(by: >).prefix(laneCount)
        lanes = open.map { (pack: $0, busy: false) } + Array(repeating: (pack: 0, busy: false), count: laneCount - open.count)
        if directoryDirty {
            try StoreFiles.syncDirectory(packsDirectory)
            directoryDirty = false
        }
        used = packs.values.reduce(0) { $0 + $1.size }
        quarantined = UInt64(try StoreFiles.list(root + "/quarantine").count)
        indexEnd = replay.size
        indexEntries = replay.entries.count
        if rebuild || replay.damagedEntries > 0 || !lost.isEmpty || recovery.recoveredRecords > 0 || indexEntries > 2 * index.count + 4096 {
            try rewriteIndex()
        }
    }

    /// Writes the live entries to a new log and renames it over the old one (atomicWrite: temporary file,
    /// fsync, rename, fsync of the store folder), then reopens it. Called serialised (or at start).
    private func rewriteIndex() throws(StoreError) {
        let live = lock.locked { index.map { PackFormat.Entry(kind: .stored, key: $0.key, location: $0.value) } }
        var bytes = [UInt8](repeating: 0, count: live.count * PackFormat.entrySize)
        bytes.withUnsafeMutableBytes { buffer in
            for (i, entry) in live.enumerated() {
                PackFormat.encode(entry, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * PackFormat.entrySize)...]))
            }
        }
        try StoreFiles.run("rewrite \(indexPath)") { () throws(SystemError) in try atomicWrite(path: indexPath, bytes: bytes) }
        let reopened = try StoreFiles.open(indexPath, O_RDWR)
        indexFile?.close()
        indexFile = reopened
        indexEnd = UInt64(bytes.count)
        indexEntries = live.count
        indexInDoubt = false
    }
}
