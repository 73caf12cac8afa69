// SPDX-License-Identifier: Apache-2.0
import CISAL
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// An on-disk, content-addressed chunk store: one file per chunk under `chunks/<2 hex>/<key hex>`.
///
/// Crash safety: a chunk is written to `tmp/`, `fdatasync`ed, renamed into place and its directory
/// `fsync`ed, so after a crash a chunk is either absent or whole; leftovers in `tmp/` are removed at start.
/// Integrity: each file starts with a header (magic, payload length, CRC32C of the payload); a read checks
/// both, and a chunk that fails is moved to `quarantine/` and reported as corrupt, never returned.
final class FileStore {
    static let magic: UInt64 = 0x314B_4843_534F_4E49  // "INOSCHK1"
    static let headerSize = 16

    let root: String
    let capacity: UInt64
    private var lock = pthread_mutex_t()
    private var used: UInt64 = 0
    private var count: UInt64 = 0
    private var quarantined: UInt64 = 0
    private var tmpCounter: UInt64 = 0

    init(root: String, capacity: UInt64) throws(StoreError) {
        self.root = root
        self.capacity = capacity
        pthread_mutex_init(&lock, nil)
        pthread_mutex_init(&commitLock, nil)
        for dir in [root, root + "/chunks", root + "/tmp", root + "/quarantine"] { try Self.makeDirectories(dir) }
        removeLeftovers()
        try scan()
    }

    deinit {
        for staged in pending { unlink(staged.temporary) }  // staged but never committed: not kept
        pthread_mutex_destroy(&lock)
        pthread_mutex_destroy(&commitLock)
    }

    /// `mkdir -p`: creates `path` and any missing parents.
    static func makeDirectories(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError(code: INOS_ERR_IO, "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    private func withLock<R>(_ body: () throws(StoreError) -> R) throws(StoreError) -> R {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    static func hex(_ key: UnsafeBufferPointer<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(key.count * 2)
        for byte in key {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    func path(for hex: String) -> (dir: String, file: String) {
        let dir = "\(root)/chunks/\(hex.prefix(2))"
        return (dir, "\(dir)/\(hex)")
    }

    // MARK: Operations

    func put(key: String, data: UnsafeRawBufferPointer) throws(StoreError) {
        guard let staged = try writeTemporary(key: key, data: data) else { return }
        do throws(StoreError) {
            try sync(staged.temporary)
            try publish(staged)
        } catch {
            unlink(staged.temporary)
            release(staged.bytes)
            throw error
        }
    }

    /// A chunk written to tmp/ and not yet renamed into place.
    struct Staged {
        var key: String
        var temporary: String
        var bytes: UInt64
    }

    private var pending: [Staged] = []
    private var commitLock = pthread_mutex_t()

    /// Writes a chunk to tmp/ without flushing; it becomes durable and visible at the next ``commit()``.
    func stage(key: String, data: UnsafeRawBufferPointer) throws(StoreError) {
        guard let staged = try writeTemporary(key: key, data: data) else { return }
        try withLock { () throws(StoreError) in pending.append(staged) }
    }

    /// Makes every chunk staged so far durable (one `syncfs`), renames them into place, and makes the renames
    /// durable (a second `syncfs`). Serialised: one commit at a time.
    func commit() throws(StoreError) {
        pthread_mutex_lock(&commitLock)
        defer { pthread_mutex_unlock(&commitLock) }
        let batch = try withLock { () throws(StoreError) -> [Staged] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        do throws(StoreError) {
            try syncFileSystem()
            for staged in batch { try publish(staged, syncDirectory: false) }
            try syncFileSystem()
        } catch {
            for staged in batch where access(staged.temporary, F_OK) == 0 {
                unlink(staged.temporary)
                release(staged.bytes)
            }
            throw error
        }
    }

    /// Writes header and payload to a new file in tmp/. Nil when the chunk is already stored.
    private func writeTemporary(key: String, data: UnsafeRawBufferPointer) throws(StoreError) -> Staged? {
        if access(path(for: key).file, F_OK) == 0 { return nil }  // content-addressed: same key, same bytes
        let total = UInt64(data.count + Self.headerSize)
        let serial = try withLock { () throws(StoreError) -> UInt64 in
            guard used + total <= capacity else {
                throw StoreError(code: INOS_ERR_FULL, "store full: \(used) of \(capacity) bytes used, chunk needs \(total)")
            }
            used += total  // reserved; released on failure
            tmpCounter += 1
            return tmpCounter
        }
        let temporary = "\(root)/tmp/\(key).\(getpid()).\(serial)"
        do throws(StoreError) {
            try writeFile(temporary, data: data)
        } catch {
            unlink(temporary)
            release(total)
            throw error
        }
        return Staged(key: key, temporary: temporary, bytes: total)
    }

    /// Renames a durable temporary file into place (or drops it if an identical chunk got there first).
    private func publish(_ staged: Staged, syncDirectory sync: Bool = true) throws(StoreError) {
        let (dir, file) = path(for: staged.key)
        if access(file, F_OK) == 0 {
            unlink(staged.temporary)
            release(staged.bytes)
            return
        }
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw StoreError.io("mkdir \(dir)") }
        guard rename(staged.temporary, file) == 0 else { throw StoreError.io("rename into \(file)") }
        if sync { try syncDirectory(dir) }
        _ = try? withLock { () throws(StoreError) in count += 1 }
    }

    private func release(_ bytes: UInt64) {
        _ = try? withLock { () throws(StoreError) in used -= min(used, bytes) }
    }

    private func sync(_ path: String) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("open \(path)") }
        defer { close(fd) }
        guard fdatasync(fd) == 0 else { throw StoreError.io("fdatasync \(path)") }
    }

    /// The corresponding system call is `syncfs(2)`: flushes the file system holding the store, once.
    private func syncFileSystem() throws(StoreError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("open \(root)") }
        defer { close(fd) }
        guard syncfs(fd) == 0 else { throw StoreError.io("syncfs \(root)") }
    }

    private func writeFile(_ path: String, data: UnsafeRawBufferPointer) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.io("create \(path)") }
        defer { close(fd) }
        var header = (Self.magic, UInt32(data.count), crc(data))
        try withUnsafeBytes(of: &header) { (raw) throws(StoreError) in try writeAll(fd, UnsafeRawBufferPointer(rebasing: raw[0..<Self.headerSize])) }
        try writeAll(fd, data)
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("write")
            }
            offset += n
        }
    }

    private func syncDirectory(_ dir: String) throws(StoreError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("open \(dir)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError.io("fsync \(dir)") }
    }

    /// Reads a chunk into `destination`; returns its length. Checks header, length and CRC32C.
    func get(key: String, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        let (_, file) = path(for: key)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError(code: INOS_ERR_NOT_FOUND, "no chunk \(key)") }
            throw StoreError.io("open \(file)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError.io("stat \(file)") }
        var header = (UInt64(0), UInt32(0), UInt32(0))
        let headerRead = withUnsafeMutableBytes(of: &header) { pread(fd, $0.baseAddress, Self.headerSize, 0) }
        guard headerRead == Self.headerSize, header.0 == Self.magic,
            Int(info.st_size) == Self.headerSize + Int(header.1)
        else {
            try quarantine(key, file, why: "bad header or length")
        }
        let length = Int(header.1)
        guard destination.count >= length else {
            throw StoreError(code: INOS_ERR_BUFFER_TOO_SMALL, "chunk \(key) has \(length) bytes; buffer holds \(destination.count)", detail: UInt64(length))
        }
        var offset = 0
        while offset < length {
            let n = pread(fd, destination.baseAddress! + offset, length - offset, off_t(Self.headerSize + offset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { try quarantine(key, file, why: "short read") }
            offset += n
        }
        guard crc(UnsafeRawBufferPointer(rebasing: destination[0..<length])) == header.2 else {
            try quarantine(key, file, why: "CRC32C mismatch")
        }
        return length
    }

    /// Moves a corrupt chunk aside (kept for inspection) and reports it. Never returns.
    private func quarantine(_ key: String, _ file: String, why: String) throws(StoreError) -> Never {
        let target = "\(root)/quarantine/\(key)"
        var info = stat()
        let size = lstat(file, &info) == 0 ? UInt64(info.st_size) : 0
        if rename(file, target) == 0 {
            _ = try? withLock { () throws(StoreError) in
                used -= min(used, size)
                count -= min(count, 1)
                quarantined += 1
            }
        }
        throw StoreError(code: INOS_ERR_CORRUPT, "chunk \(key) is corrupt (\(why)); moved to \(target)")
    }

    func remove(key: String) throws(StoreError) {
        let (_, file) = path(for: key)
        var info = stat()
        guard lstat(file, &info) == 0 else { throw StoreError(code: INOS_ERR_NOT_FOUND, "no chunk \(key)") }
        guard unlink(file) == 0 else { throw StoreError.io("unlink \(file)") }
        try withLock { () throws(StoreError) in
            used -= min(used, UInt64(info.st_size))
            count -= min(count, 1)
        }
    }

    func statistics() -> (capacity: UInt64, used: UInt64, count: UInt64, quarantined: UInt64) {
        (try? withLock { () throws(StoreError) in (capacity, used, count, quarantined) }) ?? (capacity, 0, 0, 0)
    }

    /// Calls `visit` with each stored key (hex) and file size; stops when it returns false.
    func forEach(_ visit: (String, UInt64) -> Bool) {
        for prefix in listDirectory("\(root)/chunks") {
            for name in listDirectory("\(root)/chunks/\(prefix)") where !name.hasPrefix(".") {
                var info = stat()
                guard lstat("\(root)/chunks/\(prefix)/\(name)", &info) == 0 else { continue }
                if !visit(name, UInt64(info.st_size)) { return }
            }
        }
    }

    // MARK: Start-up

    private func removeLeftovers() {
        for name in listDirectory("\(root)/tmp") { unlink("\(root)/tmp/\(name)") }
    }

    private func scan() throws(StoreError) {
        var used: UInt64 = 0, count: UInt64 = 0
        forEach { _, size in
            used += size
            count += 1
            return true
        }
        let quarantined = UInt64(listDirectory("\(root)/quarantine").count)
        try withLock { () throws(StoreError) in
            self.used = used
            self.count = count
            self.quarantined = quarantined
        }
    }

    private func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private func crc(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return crc32_iscsi(UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)), Int32(bytes.count), 0xFFFF_FFFF)
    }
}

/// A store failure: an `inos_status` code and a message.
struct StoreError: Error {
    var code: Int32
    var message: String
    var detail: UInt64 = 0

    init(code: Int32, _ message: String, detail: UInt64 = 0) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    static func io(_ what: String) -> StoreError {
        let number = errno
        return StoreError(code: INOS_ERR_IO, "\(what): \(String(cString: strerror(number)))", detail: UInt64(number))
    }
}
