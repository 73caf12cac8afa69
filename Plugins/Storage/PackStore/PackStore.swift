// SPDX-License-Identifier: Apache-2.0
import CISAL
import InosStoreKit
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// A content-addressed chunk store that appends chunks to large pack files and keeps an index log, so a
/// put writes like `dd`: sequential streams, one `fdatasync` per pack per commit, no file created per chunk.
///
/// Layout under `root`: `packs/NNNNNNNN.pack` (records, see ``PackFormat``), `index.log` (entries replayed
/// at start), `quarantine/` (copies of corrupt records, notes of missing ones).
///
/// Crash safety: a record is written, its pack is `fdatasync`ed, and only then is its index entry appended
/// and the log `fdatasync`ed; a chunk is visible only once its entry is durable, so after a crash every
/// visible chunk is whole. Bytes a crash left past the last indexed record of a pack are cut off at start;
/// torn index entries fail their CRC and are dropped (the log is then rewritten).
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
        var fd: Int32
        var size: UInt64
        var live: UInt64 = 0
        /// Records written since the last `fdatasync` of this pack.
        var dirty = false
        /// Records reserved or written but not yet indexed: the pack must not be compacted away.
        var uncommitted = 0
    }

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
    private var indexFD: Int32 = -1
    private var indexEnd: UInt64 = 0
    private var indexEntries = 0

    init(root: String, capacity: UInt64, packLimit: UInt64 = 1 << 30, lanes: Int = 2) throws(StoreError) {
        self.root = root
        self.capacity = capacity
        self.packLimit = max(packLimit, 1 << 20)
        self.laneCount = min(max(lanes, 1), 16)
        pthread_rwlock_init(&packsLock, nil)
        for dir in [root, packsDirectory, root + "/quarantine"] { try StoreFiles.makeDirectories(dir) }
        try recover()
    }

    deinit {
        for pack in packs.values { close(pack.fd) }
        if indexFD >= 0 { close(indexFD) }
        pthread_rwlock_destroy(&packsLock)
    }

    var packsDirectory: String { root + "/packs" }
    var indexPath: String { root + "/index.log" }

    func packPath(_ number: UInt32) -> String {
        let digits = String(number)
        return "\(packsDirectory)/\(String(repeating: "0", count: max(0, 8 - digits.count)))\(digits).pack"
    }



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
            case .elsewhere: usleep(200)  // another thread is writing the same chunk: wait for its commit
            case .lost: continue  // that thread failed: write it ourselves
            }
        }
    }

    func stage(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) {
        guard data.count <= Int(UInt32.max) else {
            throw StoreError(code: INOS_ERR_INVALID_ARGUMENT, "chunk of \(data.count) bytes is larger than a pack record can hold")
        }
        let length = UInt32(data.count)
        let size = UInt64(PackFormat.recordHeaderSize + key.count) + UInt64(length)
        guard let (fd, location, lane) = try reserve(size, key: key, payloadLength: length, deduplicate: true) else { return }
        do throws(StoreError) {
            try writeRecord(fd, key: key, payload: data, at: location.offset)
        } catch {
            lock.locked {
                inFlight.remove(key)
                packs[location.pack]?.uncommitted -= 1
                lanes[lane].busy = false
            }
            throw error
        }
        // Start writing the record to disk now, in the background, so the flush at commit finds little left to
        // do and the disk works while the CPU hashes the next chunks (RocksDB's bytes_per_sync does the same).
        _ = sync_file_range(fd, Int64(location.offset), Int64(location.recordSize), INOS_SYNC_FILE_RANGE_WRITE)
        lock.locked {
            pending.append((key, location))
            packs[location.pack]?.dirty = true
            lanes[lane].busy = false
        }
    }

    /// Takes `size` bytes at the end of a free lane's pack (the first lane if all are busy), starting a new
    /// pack when that one is full, and marks the lane busy until the caller frees it. With `deduplicate`
    /// (staging), nil when the key is already stored or being written; without it (compaction, which
    /// indexes its copies before any other commit can run), the reservation is not tracked.
    private func reserve(_ size: UInt64, key: ChunkKey, payloadLength: UInt32, deduplicate: Bool) throws(StoreError) -> (Int32, Location, Int)? {
        try lock.withLock { () throws(StoreError) -> (Int32, Location, Int)? in
            if deduplicate {
                if index[key] != nil || inFlight.contains(key) { return nil }
            }
            guard used + size <= capacity else {
                throw StoreError(code: INOS_ERR_FULL, "store full: \(used) of \(capacity) bytes used, chunk needs \(size)")
            }
            let lane = lanes.firstIndex { !$0.busy } ?? 0
            if let current = packs[lanes[lane].pack], current.size > 0, current.size + size > packLimit {
                lanes[lane].pack = 0  // sealed
            }
            if lanes[lane].pack == 0 { lanes[lane].pack = try startPack() }
            let number = lanes[lane].pack
            guard var pack = packs[number] else { throw StoreError(code: INOS_ERR_IO, "no open pack") }
            let location = Location(pack: number, offset: pack.size, payloadLength: payloadLength, keyLength: UInt8(key.count))
            pack.size += size
            packs[number] = pack
            used += size
            lanes[lane].busy = true
            if deduplicate {  // a staged chunk: tracked until its commit
                inFlight.insert(key)
                packs[number]?.uncommitted += 1
            }
            return (pack.fd, location, lane)
        }
    }

    /// Creates the next pack file and returns its number. Called with `lock` held.
    private func startPack() throws(StoreError) -> UInt32 {
        let number = newestPack + 1
        let path = packPath(number)
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.io("create \(path)") }
        packs[number] = Pack(fd: fd, size: 0)
        newestPack = number
        directoryDirty = true
        return number
    }

    /// Writes header, key and payload with one `pwritev`.
    private func writeRecord(_ fd: Int32, key: ChunkKey, payload: UnsafeRawBufferPointer, at offset: UInt64) throws(StoreError) {
        let checksum = PackFormat.recordChecksum(key, payload)
        try withUnsafeTemporaryAllocation(byteCount: PackFormat.recordHeaderSize + ChunkKey.maximumLength, alignment: 8) {
            (header) throws(StoreError) in
            let headerLength = PackFormat.encodeRecordHeader(key, payloadLength: UInt32(payload.count), checksum: checksum, into: header)
            var vectors = [
                iovec(iov_base: header.baseAddress, iov_len: headerLength),
                iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count),
            ]
            let total = headerLength + payload.count
            var written = pwritev(fd, &vectors, payload.isEmpty ? 1 : 2, off_t(offset))
            while written < 0 && errno == EINTR { written = pwritev(fd, &vectors, payload.isEmpty ? 1 : 2, off_t(offset)) }
            guard written >= 0 else { throw StoreError.io("write to pack") }
            if written < total {  // a short write: finish it piece by piece
                if written < headerLength {
                    try StoreFiles.write(fd, UnsafeRawBufferPointer(rebasing: header[written..<headerLength]), at: offset + UInt64(written), "pack")
                    try StoreFiles.write(fd, payload, at: offset + UInt64(headerLength), "pack")
                } else {
                    let done = written - headerLength
                    try StoreFiles.write(fd, UnsafeRawBufferPointer(rebasing: payload[done...]), at: offset + UInt64(written), "pack")
                }
            }
        }
    }

    /// Makes every chunk staged so far durable and visible: `fdatasync` of the packs written to, then one
    /// append of their index entries and an `fdatasync` of the log.
    func commit() throws(StoreError) {
        try serialised { () throws(StoreError) in try commitSerialised() }
    }

    private func commitSerialised() throws(StoreError) {
        let (batch, descriptors, syncDirectory) = lock.locked {
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            var descriptors: [Int32] = []
            for (number, pack) in packs where pack.dirty {
                descriptors.append(pack.fd)
                packs[number]?.dirty = false
            }
            defer { directoryDirty = false }
            return (batch, descriptors, directoryDirty)
        }
        guard !batch.isEmpty else { return }
        do throws(StoreError) {
            for fd in descriptors { try StoreFiles.syncData(fd, "pack") }
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
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: entries.count * PackFormat.entrySize, alignment: 8)
        defer { buffer.deallocate() }
        for (i, entry) in entries.enumerated() {
            PackFormat.encode(entry, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * PackFormat.entrySize)...]))
        }
        do throws(StoreError) {
            try StoreFiles.write(indexFD, UnsafeRawBufferPointer(buffer), at: indexEnd, indexPath)
            try StoreFiles.syncData(indexFD, indexPath)
        } catch {
            _ = ftruncate(indexFD, off_t(indexEnd))  // drop a partial append; replay would skip it anyway
            throw error
        }
        indexEnd += UInt64(buffer.count)
        indexEntries += entries.count
    }

    // MARK: Reading

    func get(_ key: ChunkKey, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        pthread_rwlock_rdlock(&packsLock)
        let found = lock.locked { index[key].map { ($0, packs[$0.pack]?.fd) } }
        guard let (location, descriptor) = found else {
            pthread_rwlock_unlock(&packsLock)
            throw StoreError.notFound(key)
        }
        let length = Int(location.payloadLength)
        guard destination.count >= length else {
            pthread_rwlock_unlock(&packsLock)
            throw StoreError(
                code: INOS_ERR_BUFFER_TOO_SMALL, "chunk \(key.hex) has \(length) bytes; buffer holds \(destination.count)",
                detail: UInt64(length))
        }
        let payload = UnsafeMutableRawBufferPointer(rebasing: destination[0..<length])
        let problem = withUnsafeTemporaryAllocation(byteCount: PackFormat.recordHeaderSize + ChunkKey.maximumLength, alignment: 8) {
            header -> String? in
            defer { pthread_rwlock_unlock(&packsLock) }
            guard let descriptor else { return "its pack \(location.pack) is missing" }
            let headerLength = PackFormat.recordHeaderSize + key.count
            var vectors = [
                iovec(iov_base: header.baseAddress, iov_len: headerLength),
                iovec(iov_base: payload.baseAddress, iov_len: length),
            ]
            var read = preadv(descriptor, &vectors, length == 0 ? 1 : 2, off_t(location.offset))
            while read < 0 && errno == EINTR { read = preadv(descriptor, &vectors, length == 0 ? 1 : 2, off_t(location.offset)) }
            if read < 0 { return "read error: \(String(cString: strerror(errno)))" }
            if read < headerLength + length {
                // preadv stops short only at the end of the file (or on a signal): finish, then judge.
                let more = (try? StoreFiles.read(
                    descriptor, into: UnsafeMutableRawBufferPointer(rebasing: payload[max(0, read - headerLength)...]),
                    at: location.payloadOffset + UInt64(max(0, read - headerLength)), "pack")) ?? 0
                if read < headerLength || read + more < headerLength + length { return "record cut short (pack truncated)" }
            }
            var checksum: UInt32 = 0
            if let problem = PackFormat.checkRecordHeader(
                UnsafeRawBufferPointer(rebasing: header[0..<headerLength]), key: key, location: location, checksum: &checksum)
            {
                return problem
            }
            return PackFormat.recordChecksum(key, UnsafeRawBufferPointer(payload)) == checksum ? nil : "CRC32C mismatch"
        }
        if let problem { try quarantine(key, at: location, why: problem) }
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
        throw StoreError(code: INOS_ERR_CORRUPT, "chunk \(key.hex) is corrupt (\(why)); its record is kept in \(copy)")
    }

    /// Best effort: copies a record's bytes (as far as they exist) to `path` for inspection.
    private func keepCopy(of location: Location, at path: String) {
        let source = lock.locked { packs[location.pack]?.fd }
        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard out >= 0 else { return }
        defer { close(out) }
        guard let source, location.recordSize <= 1 << 32 else { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(location.recordSize), alignment: 8)
        defer { buffer.deallocate() }
        let n = (try? StoreFiles.read(source, into: buffer, at: location.offset, "pack")) ?? 0
        try? StoreFiles.write(out, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), "quarantine copy")
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
        let (moving, source) = lock.locked { (index.filter { $0.value.pack == number }, packs[number]?.fd) }
        guard let source else { return }
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var entries: [PackFormat.Entry] = []
        var descriptors: Set<Int32> = []
        for (key, location) in moving {
            let size = Int(location.recordSize)
            if buffer.count < size {
                buffer.deallocate()
                buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            }
            let record = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
            let headerLength = PackFormat.recordHeaderSize + key.count
            var checksum: UInt32 = 0
            let intact = (try StoreFiles.read(source, into: record, at: location.offset, packPath(number))) == size
                && PackFormat.checkRecordHeader(UnsafeRawBufferPointer(record), key: key, location: location, checksum: &checksum) == nil
                && PackFormat.recordChecksum(key, UnsafeRawBufferPointer(rebasing: record[headerLength...])) == checksum
            guard intact else {
                keepCopy(of: location, at: "\(root)/quarantine/\(key.hex).\(location.pack).\(location.offset)")
                entries.append(PackFormat.Entry(kind: .quarantined, key: key, location: location))
                continue
            }
            guard let (fd, target, lane) = try reserve(UInt64(size), key: key, payloadLength: location.payloadLength, deduplicate: false) else { continue }
            defer { lock.locked { lanes[lane].busy = false } }
            try StoreFiles.write(fd, UnsafeRawBufferPointer(record), at: target.offset, "pack")
            descriptors.insert(fd)
            entries.append(PackFormat.Entry(kind: .stored, key: key, location: target))
        }
        do throws(StoreError) {
            for fd in descriptors { try StoreFiles.syncData(fd, "pack") }
            if lock.locked({ directoryDirty }) { try StoreFiles.syncDirectory(packsDirectory) }
            try appendEntries(entries)
        } catch {
            throw error  // the copies are dead bytes; the chunks stay readable in the old pack
        }
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
            close(removed.fd)
            lock.locked { used -= min(used, removed.size) }
        }
        unlink(packPath(number))
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

    /// Replays the index log, opens the packs, cuts a crash's unindexed tail off each pack, deletes
    /// packs with nothing live, and rewrites the log when it holds damage or mostly history.
    private func recover() throws(StoreError) {
        indexFD = open(indexPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard indexFD >= 0 else { throw StoreError.io("open \(indexPath)") }
        var info = stat()
        guard fstat(indexFD, &info) == 0 else { throw StoreError.io("stat \(indexPath)") }
        let logSize = UInt64(info.st_size)
        var damaged = logSize % UInt64(PackFormat.entrySize) != 0  // a torn append
        var entryCount = 0
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: PackFormat.entrySize * 8192, alignment: 8)
        defer { block.deallocate() }
        var offset: UInt64 = 0
        while offset + UInt64(PackFormat.entrySize) <= logSize {
            let want = Int(min(UInt64(block.count), (logSize - offset) / UInt64(PackFormat.entrySize) * UInt64(PackFormat.entrySize)))
            let got = try StoreFiles.read(indexFD, into: UnsafeMutableRawBufferPointer(rebasing: block[0..<want]), at: offset, indexPath)
            let whole = got / PackFormat.entrySize
            guard whole > 0 else { break }
            for i in 0..<whole {
                let bytes = UnsafeRawBufferPointer(rebasing: block[(i * PackFormat.entrySize)..<((i + 1) * PackFormat.entrySize)])
                guard let entry = PackFormat.decode(bytes) else {
                    damaged = true
                    continue
                }
                entryCount += 1
                if entry.kind == .stored { index[entry.key] = entry.location } else { index[entry.key] = nil }
            }
            offset += UInt64(whole * PackFormat.entrySize)
        }

        for name in StoreFiles.list(packsDirectory) {
            guard name.hasSuffix(".pack"), let number = UInt32(name.dropLast(5)) else { continue }
            let fd = open(packPath(number), O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.io("open \(packPath(number))") }
            var packInfo = stat()
            guard fstat(fd, &packInfo) == 0 else { throw StoreError.io("stat \(packPath(number))") }
            packs[number] = Pack(fd: fd, size: UInt64(packInfo.st_size))
        }

        // Entries whose record is not there (pack deleted or cut short by hand): the chunk is lost. Note it
        // in quarantine/ so it is reported, and let the data path rebuild it from parity.
        var lost: [(ChunkKey, Location)] = []
        for (key, location) in index {
            if let pack = packs[location.pack], location.offset + location.recordSize <= pack.size {
                packs[location.pack]?.live += location.recordSize
            } else {
                lost.append((key, location))
            }
        }
        for (key, location) in lost {
            index[key] = nil
            let note = "\(root)/quarantine/\(key.hex).\(location.pack).\(location.offset).missing"
            let fd = open(note, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }

        // A crash can leave records written but never indexed at the end of any pack a lane was appending
        // to: cut every pack back to its last indexed record, and delete packs with nothing live.
        newestPack = packs.keys.max() ?? 0
        var indexedEnd: [UInt32: UInt64] = [:]
        for location in index.values {
            indexedEnd[location.pack] = max(indexedEnd[location.pack] ?? 0, location.offset + location.recordSize)
        }
        for (number, pack) in packs {
            if pack.live == 0 {
                close(pack.fd)
                unlink(packPath(number))
                packs[number] = nil
                directoryDirty = true
            } else if let end = indexedEnd[number], pack.size > end {
                guard ftruncate(pack.fd, off_t(end)) == 0 else { throw StoreError.io("truncate \(packPath(number))") }
                try StoreFiles.syncData(pack.fd, packPath(number))
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
        quarantined = UInt64(StoreFiles.list(root + "/quarantine").count)
        indexEnd = logSize
        indexEntries = entryCount
        if damaged || !lost.isEmpty || entryCount > 2 * index.count + 4096 { try rewriteIndex() }
    }

    /// Writes the live entries to a new log and renames it over the old one. Called serialised (or at start).
    private func rewriteIndex() throws(StoreError) {
        let live = lock.locked { index.map { PackFormat.Entry(kind: .stored, key: $0.key, location: $0.value) } }
        let temporary = indexPath + ".tmp"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.io("create \(temporary)") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, live.count) * PackFormat.entrySize, alignment: 8)
        defer { buffer.deallocate() }
        for (i, entry) in live.enumerated() {
            PackFormat.encode(entry, into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * PackFormat.entrySize)...]))
        }
        do throws(StoreError) {
            try StoreFiles.write(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<(live.count * PackFormat.entrySize)]), temporary)
            try StoreFiles.syncData(fd, temporary)
            guard rename(temporary, indexPath) == 0 else { throw StoreError.io("rename \(temporary)") }
            try StoreFiles.syncDirectory(root)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        if indexFD >= 0 { close(indexFD) }
        indexFD = fd
        indexEnd = UInt64(live.count * PackFormat.entrySize)
        indexEntries = live.count
    }
}
