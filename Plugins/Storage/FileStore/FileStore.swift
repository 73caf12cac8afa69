// SPDX-License-Identifier: Apache-2.0
import InosStoreKit
import InosSystem
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

/// An on-disk, content-addressed chunk store: one file per chunk under `chunks/<2 hex>/<key hex>`.
///
/// Simple to inspect and repair by hand; the pack store (`inos.store.pack`) writes faster. Crash safety: a
/// chunk is written to `tmp/`, `fdatasync`ed, renamed into place and its directory `fsync`ed, so after a
/// crash a chunk is either absent or whole; leftovers in `tmp/` are removed at start. Integrity: each file
/// starts with a header (magic, payload length, CRC32C of the payload); a read checks both, and a chunk that
/// fails is moved to `quarantine/` and reported as corrupt, never returned.
final class FileStore: ChunkStore {
    static let magic: UInt64 = 0x314B_4843_534F_4E49  // "INOSCHK1"
    static let headerSize = 16

    let root: String
    let capacity: UInt64
    private let lock = StoreLock()
    private var used: UInt64 = 0
    private var count: UInt64 = 0
    private var quarantined: UInt64 = 0
    private var tmpCounter: UInt64 = 0
    private var pending: [Staged] = []
    private let commitLock = StoreLock()

    /// A chunk written to tmp/ and not yet renamed into place.
    struct Staged {
        var key: ChunkKey
        var temporary: String
        var bytes: UInt64
    }

    init(root: String, capacity: UInt64) throws(StoreError) {
        self.root = root
        self.capacity = capacity
        for dir in [root, root + "/chunks", root + "/tmp", root + "/quarantine"] { try StoreFiles.makeDirectories(dir) }
        for name in try StoreFiles.list("\(root)/tmp") { try? sysUnlink("\(root)/tmp/\(name)") }  // a crash's leftovers
        var used: UInt64 = 0, count: UInt64 = 0
        forEach { _, size in
            used += size
            count += 1
            return true
        }
        self.used = used
        self.count = count
        quarantined = UInt64(try StoreFiles.list("\(root)/quarantine").count)
    }

    deinit {
        for staged in pending { try? sysUnlink(staged.temporary) }  // staged but never committed: not kept
    }



    func path(for key: ChunkKey) -> (dir: String, file: String) {
        let hex = key.hex
        let dir = "\(root)/chunks/\(hex.prefix(2))"
        return (dir, "\(dir)/\(hex)")
    }

    // MARK: Writing

    func put(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) {
        guard let staged = try writeTemporary(key, data) else { return }
        do throws(StoreError) {
            let file = try StoreFiles.open(staged.temporary, O_WRONLY)
            defer { file.close() }
            try StoreFiles.run("fdatasync \(staged.temporary)") { () throws(SystemError) in try file.syncData() }
            try publish(staged)
        } catch {
            try? sysUnlink(staged.temporary)
            release(staged.bytes)
            throw error
        }
    }

    func stage(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) {
        guard let staged = try writeTemporary(key, data) else { return }
        lock.locked { pending.append(staged) }
    }

    /// Makes every chunk staged so far durable (one `syncfs`), renames them into place, and makes the renames
    /// durable (a second `syncfs`). Serialised: one commit at a time.
    func commit() throws(StoreError) {
        try commitLock.withLock { () throws(StoreError) in try commitSerialised() }
    }

    private func commitSerialised() throws(StoreError) {
        let batch = lock.locked {
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        do throws(StoreError) {
            try StoreFiles.syncFileSystem(root)
            for staged in batch { try publish(staged, syncDirectory: false) }
            try StoreFiles.syncFileSystem(root)
        } catch {
            for staged in batch where sysExists(staged.temporary) {
                try? sysUnlink(staged.temporary)
                release(staged.bytes)
            }
            throw error
        }
    }

    /// Writes header and payload to a new file in tmp/. Nil when the chunk is already stored.
    private func writeTemporary(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError) -> Staged? {
        if sysExists(path(for: key).file) { return nil }  // content-addressed: same key, same bytes
        let total = UInt64(data.count + Self.headerSize)
        let serial = try lock.withLock { () throws(StoreError) -> UInt64 in
            guard used + total <= capacity else {
                throw StoreError(code: .full, "store full: \(used) of \(capacity) bytes used, chunk needs \(total)")
            }
            used += total  // reserved; released on failure
            tmpCounter += 1
            return tmpCounter
        }
        let temporary = "\(root)/tmp/\(key.hex).\(getpid()).\(serial)"
        do throws(StoreError) {
            let file = try StoreFiles.open(temporary, O_WRONLY | O_CREAT | O_EXCL)
            defer { file.close() }
            var header = (Self.magic, UInt32(data.count), StoreFiles.crc32c(data))
            try withUnsafeBytes(of: &header) { (raw) throws(StoreError) in
                try StoreFiles.run("write \(temporary)") { () throws(SystemError) in
                    try file.write([UnsafeRawBufferPointer(rebasing: raw[0..<Self.headerSize]), data], at: 0)
                }
            }
        } catch {
            try? sysUnlink(temporary)
            release(total)
            throw error
        }
        return Staged(key: key, temporary: temporary, bytes: total)
    }

    /// Renames a durable temporary file into place (or drops it if an identical chunk got there first).
    private func publish(_ staged: Staged, syncDirectory sync: Bool = true) throws(StoreError) {
        let (dir, file) = path(for: staged.key)
        if sysExists(file) {
            try? sysUnlink(staged.temporary)
            release(staged.bytes)
            return
        }
        try StoreFiles.makeDirectories(dir)  // a new folder's name is made durable in chunks/
        try StoreFiles.run("rename into \(file)") { () throws(SystemError) in try sysRename(staged.temporary, file) }
        if sync { try StoreFiles.syncDirectory(dir) }
        lock.locked { count += 1 }
    }

    private func release(_ bytes: UInt64) {
        lock.locked { used -= min(used, bytes) }
    }

    // MARK: Reading and removing

    func get(_ key: ChunkKey, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        let (_, file) = path(for: key)
        let handle: SystemFile
        do throws(SystemError) {
            handle = try SystemFile.open(file, O_RDONLY)
        } catch {
            if error.errno == ENOENT { throw StoreError.notFound(key) }
            throw StoreError("open \(file)", error)
        }
        defer { handle.close() }
        // A read error (EIO) is reported as such and the chunk stays: only bad content is quarantined.
        let size = try StoreFiles.run("stat \(file)") { () throws(SystemError) in try handle.size() }
        var header = (UInt64(0), UInt32(0), UInt32(0))
        let headerRead = try withUnsafeMutableBytes(of: &header) { (raw) throws(StoreError) in
            try StoreFiles.run("read \(file)") { () throws(SystemError) in try handle.read(into: raw, at: 0) }
        }
        guard headerRead == Self.headerSize, header.0 == Self.magic,
            size == UInt64(Self.headerSize) + UInt64(header.1)
        else {
            try quarantine(key, file, why: "bad header or length")
        }
        let length = Int(header.1)
        guard destination.count >= length else {
            throw StoreError(code: .bufferTooSmall, "chunk \(key.hex) has \(length) bytes; buffer holds \(destination.count)", detail: UInt64(length))
        }
        let payload = UnsafeMutableRawBufferPointer(rebasing: destination[0..<length])
        guard try StoreFiles.run("read \(file)", { () throws(SystemError) in try handle.read(into: payload, at: UInt64(Self.headerSize)) }) == length else {
            try quarantine(key, file, why: "short read")
        }
        guard StoreFiles.crc32c(UnsafeRawBufferPointer(payload)) == header.2 else {
            try quarantine(key, file, why: "CRC32C mismatch")
        }
        return length
    }

    /// Moves a corrupt chunk aside (kept for inspection) and reports it. Never returns.
    private func quarantine(_ key: ChunkKey, _ file: String, why: String) throws(StoreError) -> Never {
        let target = "\(root)/quarantine/\(key.hex)"
        let size = (try? sysFileSize(atPath: file)) ?? 0
        if (try? sysRename(file, target)) != nil {
            lock.locked {
                used -= min(used, size)
                count -= min(count, 1)
                quarantined += 1
            }
        }
        throw StoreError(code: .corrupt, "chunk \(key.hex) is corrupt (\(why)); moved to \(target)")
    }

    func remove(_ key: ChunkKey) throws(StoreError) {
        let (_, file) = path(for: key)
        guard let size = try? sysFileSize(atPath: file) else { throw StoreError.notFound(key) }
        try StoreFiles.run("unlink \(file)") { () throws(SystemError) in try sysUnlink(file) }
        lock.locked {
            used -= min(used, size)
            count -= min(count, 1)
        }
    }

    func statistics() -> StoreStatistics {
        lock.locked { StoreStatistics(capacity: capacity, used: used, count: count, quarantined: quarantined) }
    }

    func forEach(_ visit: (ChunkKey, UInt64) -> Bool) {
        for prefix in (try? StoreFiles.list("\(root)/chunks")) ?? [] {
            for name in (try? StoreFiles.list("\(root)/chunks/\(prefix)")) ?? [] {
                guard let key = ChunkKey(hex: name) else { continue }  // not a chunk file
                guard let size = try? sysFileSize(atPath: "\(root)/chunks/\(prefix)/\(name)") else { continue }
                if !visit(key, size) { return }
            }
        }
    }
}
