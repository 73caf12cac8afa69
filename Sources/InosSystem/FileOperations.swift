// SPDX-License-Identifier: Apache-2.0
//
// The file calls of the one syscall layer: open, pread/pwrite (whole buffers, EINTR retried, short transfers
// finished), fsync/fdatasync, rename, mkdir -p, directory listing, statvfs, flock, and atomicWrite. Every call
// throws `SystemError` with errno and path, and passes the fault-injection hook (FaultInjection.swift).
import CInosSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open file: a descriptor and the path it was opened by (for messages and fault rules). A borrowed
/// handle: copying it does not duplicate the descriptor, and ``close()`` is the owner's job.
package struct SystemFile: Hashable, Sendable {
    package let fd: Int32
    package let path: String

    /// The corresponding C function is `open(path, flags | O_CLOEXEC, mode)`.
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) -> SystemFile {
        try injectFault(.open, "open", path)
        let existed = recordingEvents && access(path, F_OK) == 0
        let fd = try retrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
        recordEvent(.opened(
            fd: fd, path: path, created: !existed && flags & O_CREAT != 0, truncated: flags & O_TRUNC != 0,
            directory: flags & O_DIRECTORY != 0))
        return SystemFile(fd: fd, path: path)
    }

    /// Opens a directory for `fsync` or `syncfs`.
    package static func openDirectory(_ path: String) throws(SystemError) -> SystemFile {
        try open(path, O_RDONLY | O_DIRECTORY)
    }

    /// The corresponding C function is `close`. EINTR is not retried (Linux closes the descriptor anyway).
    package func close() {
        recordEvent(.closed(fd: fd))
        _ = Glibc.close(fd)
    }

    /// Reads `buffer.count` bytes at `offset`, fewer only at the end of the file; returns the count.
    /// The corresponding C function is `pread`.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SystemError) -> Int {
        try injectFault(.read, "pread", path)
        var done = 0
        while done < buffer.count {
            let n = try retrying("pread", path) { pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads into several buffers in turn, starting at `offset`, fewer bytes only at the end of the file;
    /// returns the count. The corresponding C function is `preadv`.
    package func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(SystemError) -> Int {
        try injectFault(.read, "preadv", path)
        var done = 0
        let total = buffers.reduce(0) { $0 + $1.count }
        while done < total {
            var vectors: [iovec] = []
            var skip = done
            for buffer in buffers {
                if skip >= buffer.count {
                    skip -= buffer.count
                    continue
                }
                vectors.append(iovec(iov_base: buffer.baseAddress! + skip, iov_len: buffer.count - skip))
                skip = 0
            }
            let n = try retrying("preadv", path) { preadv(fd, &vectors, Int32(vectors.count), off_t(offset) + off_t(done)) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `bytes` at `offset`. The corresponding C function is `pwrite`.
    package func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(SystemError) {
        try write([bytes], at: offset)
    }

    /// Writes all of `parts`, one after the other, at `offset`. The corresponding C function is `pwritev`.
    package func write(_ parts: [UnsafeRawBufferPointer], at offset: UInt64) throws(SystemError) {
        try injectFault(.write, "pwrite", path)
        let total = parts.reduce(0) { $0 + $1.count }
        if recordingEvents {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(total)
            for part in parts { bytes += part }
            recordEvent(.wrote(fd: fd, offset: offset, bytes: bytes))
        }
        var done = 0
        while done < total {
            var vectors: [iovec] = []
            var skip = done
            for part in parts {
                if skip >= part.count {
                    skip -= part.count
                    continue
                }
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress! + skip), iov_len: part.count - skip))
                skip = 0
            }
            done += try retrying("pwrite", path) { pwritev(fd, &vectors, Int32(vectors.count), off_t(offset) + off_t(done)) }
        }
    }

    /// Writes all of `bytes` at the file position (appending, for a file opened with `O_APPEND` or just
    /// created). The corresponding C function is `write`.
    package func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        try injectFault(.write, "write", path)
        if recordingEvents {
            recordEvent(.wrote(fd: fd, offset: UInt64(max(0, lseek(fd, 0, SEEK_CUR))), bytes: Array(bytes)))
        }
        var done = 0
        while done < bytes.count {
            done += try retrying("write", path) { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
        }
    }

    /// Makes the file's data (and its size) durable. The corresponding C function is `fdatasync`.
    /// - Warning: after a failure, Linux may have dropped the unwritten pages: do not retry and trust a later
    ///   success; treat what was written since the last successful sync as lost.
    package func syncData() throws(SystemError) {
        try injectFault(.sync, "fdatasync", path)
        _ = try retrying("fdatasync", path) { fdatasync(fd) }
        recordEvent(.synced(fd: fd))
    }

    /// Makes the file (or, for a directory, the names in it) durable. The corresponding C function is `fsync`.
    package func sync() throws(SystemError) {
        try injectFault(.sync, "fsync", path)
        _ = try retrying("fsync", path) { fsync(fd) }
        recordEvent(.synced(fd: fd))
    }

    /// The corresponding system call is `syncfs(2)`: flushes the whole file system holding the file.
    package func syncFileSystem() throws(SystemError) {
        try injectFault(.sync, "syncfs", path)
        _ = try retrying("syncfs", path) { cinos_syncfs(fd) }
    }

    /// Starts writing a range to disk without waiting (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`): only
    /// a head start for a later ``syncData()``, which alone makes it durable; a failure here is not reported.
    package func startWriteback(offset: UInt64, length: UInt64) {
        _ = cinos_start_writeback(fd, Int64(offset), Int64(length))
    }

    /// The file's size (`fstat`'s `st_size`).
    package func size() throws(SystemError) -> UInt64 {
        var info = stat()
        _ = try retrying("fstat", path) { fstat(fd, &info) }
        return UInt64(max(0, info.st_size))
    }

    /// The file's permission bits (`fstat`'s `st_mode & 0o7777`).
    package func permissions() throws(SystemError) -> mode_t {
        var info = stat()
        _ = try retrying("fstat", path) { fstat(fd, &info) }
        return info.st_mode & 0o7777
    }

    /// The corresponding C function is `ftruncate`.
    package func truncate(to size: UInt64) throws(SystemError) {
        try injectFault(.truncate, "ftruncate", path)
        _ = try retrying("ftruncate", path) { ftruncate(fd, off_t(size)) }
        recordEvent(.truncated(fd: fd, size: size))
    }

    /// Takes an advisory lock on the whole file, waiting for it; closing the descriptor releases it.
    /// The corresponding C function is `flock` (`LOCK_EX` or `LOCK_SH`).
    package func lock(exclusive: Bool) throws(SystemError) {
        try injectFault(.lock, "flock", path)
        _ = try retrying("flock", path) { flock(fd, exclusive ? LOCK_EX : LOCK_SH) }
    }

    /// Takes an advisory lock on the whole file without waiting: false when another open file description
    /// holds a conflicting one (`EWOULDBLOCK`); closing the descriptor releases it.
    /// The corresponding C function is `flock` (`LOCK_EX` or `LOCK_SH`, with `LOCK_NB`).
    package func tryLock(exclusive: Bool) throws(SystemError) -> Bool {
        try injectFault(.lock, "flock", path)
        while true {
            if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK { return false }
            throw SystemError(call: "flock", errno: code, path: path)
        }
    }
}

/// The processes holding a `flock` lock on the file at `path`, as `/proc/locks` lists them (by device and inode),
/// with whether each lock is exclusive. Empty when the file or `/proc/locks` cannot be read: this names holders
/// for messages, it decides nothing. A pid is the process that took the lock (a child that inherited the
/// descriptor holds it too, unnamed).
package func sysFlockHolders(_ path: String) -> [(pid: Int32, exclusive: Bool)] {
    var info = stat()
    guard stat(path, &info) == 0 else { return [] }
    let major = (info.st_dev >> 8) & 0xfff | (info.st_dev >> 32) & ~0xfff
    let minor = info.st_dev & 0xff | (info.st_dev >> 12) & ~0xff
    // Lines: "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"; a waiter's line has "->" after the number.
    let wanted = String(format2: major) + ":" + String(format2: minor) + ":" + String(info.st_ino)
    return sysReadSmallFile("/proc/locks").split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == wanted,
              let pid = Int32(fields[4]) else { return nil }
        return (pid, fields[3] == "WRITE")
    }
}

/// A process' command line (`/proc/PID/cmdline`, arguments joined by spaces), nil when it cannot be read.
package func sysProcessCommandLine(_ pid: Int32) -> String? {
    let text = sysReadSmallFile("/proc/\(pid)/cmdline")
    guard !text.isEmpty else { return nil }
    return text.split(separator: "\0").joined(separator: " ")
}

/// The text of a small (pseudo) file read to its end with `read` ("" when it cannot be opened or read).
private func sysReadSmallFile(_ path: String, limit: Int = 1 << 20) -> String {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { _ = Glibc.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while bytes.count < limit {
        let count = (try? chunk.withUnsafeMutableBytes { buffer throws(SystemError) in try sysRead(fd, into: buffer) }) ?? 0
        if count <= 0 { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

private extension String {
    /// Lower-case hex, at least two digits (`/proc/locks`' `%02x`).
    init(format2 value: some BinaryInteger) {
        let hex = String(value, radix: 16)
        self = hex.count < 2 ? "0" + hex : hex
    }
}

@inline(__always)
private func retrying<T: BinaryInteger>(_ call: String, _ path: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = errno
            if code == EINTR { continue }
            throw SystemError(call: call, errno: code, path: path)
        }
        return result
    }
}

// MARK: Names

/// The folder holding `path` ("." for a bare name, "/" for a file at the root).
package func sysParentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let parent = String(path[..<slash])
    return parent.isEmpty ? "/" : parent
}

/// True if something exists at `path`. The corresponding C function is `access(path, F_OK)`.
package func sysExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// The corresponding C function is `rename`: replaces `to` atomically. Durable once the folder is synced.
package func sysRename(_ from: String, _ to: String) throws(SystemError) {
    try injectFault(.rename, "rename", to)
    _ = try retrying("rename", from) { rename(from, to) }
    recordEvent(.renamed(from: from, to: to))
}

/// The corresponding C function is `link`: fails with `EEXIST` rather than replace `to`.
package func sysLink(_ from: String, _ to: String) throws(SystemError) {
    try injectFault(.rename, "link", to)
    _ = try retrying("link", to) { link(from, to) }
    recordEvent(.linked(from: from, to: to))
}

/// The corresponding C function is `unlink`.
package func sysUnlink(_ path: String) throws(SystemError) {
    try injectFault(.unlink, "unlink", path)
    _ = try retrying("unlink", path) { unlink(path) }
    recordEvent(.unlinked(path))
}

/// `mkdir -p`: creates `path` and any missing parents with `mode`, and makes each new name durable (`fsync`
/// of the folder it was made in).
package func sysMakeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        let parent = prefix.isEmpty ? "/" : prefix
        prefix += "/" + component
        try injectFault(.makeDirectory, "mkdir", prefix)
        if mkdir(prefix, mode) == 0 {
            recordEvent(.madeDirectory(prefix))
            try sysSyncDirectory(parent)
        } else if errno != EEXIST {
            throw SystemError(call: "mkdir", errno: errno, path: prefix)
        }
    }
}

/// The names in a folder, without "." and "..". The corresponding C functions are `opendir` and `readdir`.
package func sysListDirectory(_ path: String) throws(SystemError) -> [String] {
    try injectFault(.list, "opendir", path)
    guard let dir = opendir(path) else { throw SystemError(call: "opendir", errno: errno, path: path) }
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

/// `fsync` of a folder, so that names created, renamed or removed in it are durable.
package func sysSyncDirectory(_ path: String) throws(SystemError) {
    let dir = try SystemFile.openDirectory(path)
    defer { dir.close() }
    try dir.sync()
}

/// The corresponding system call is `syncfs(2)`: flushes the whole file system holding `path`, once.
package func sysSyncFileSystem(_ path: String) throws(SystemError) {
    let dir = try SystemFile.openDirectory(path)
    defer { dir.close() }
    try dir.syncFileSystem()
}

/// Bytes free to unprivileged users on the file system holding `path` (`statvfs`'s `f_bavail * f_frsize`).
package func sysFreeSpace(_ path: String) throws(SystemError) -> UInt64 {
    try injectFault(.statfs, "statvfs", path)
    var info = statvfs()
    _ = try retrying("statvfs", path) { statvfs(path, &info) }
    return UInt64(info.f_bavail) * UInt64(info.f_frsize)
}

// MARK: Atomic replacement

/// Replaces (or, without `replace`, creates) the file at `path` with `bytes`, so that after a crash at any
/// point the path holds either its old content (or nothing) or all of `bytes`: a temporary file in the same
/// folder (mode `mode`), written, `fsync`ed, renamed (or linked, which refuses an existing file with `EEXIST`)
/// over `path`, then the folder `fsync`ed. The temporary file is removed on failure.
package func atomicWrite(path: String, bytes: some Collection<UInt8>, mode: mode_t = 0o644, replace: Bool = true) throws(SystemError) {
    let temporary = "\(path).tmp.\(getpid()).\(temporarySerial.next())"
    let file = try SystemFile.open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
    var open = true
    do throws(SystemError) {
        let contiguous = Array(bytes)
        var outcome: Result<Void, SystemError> = .success(())
        contiguous.withUnsafeBytes { raw in
            do throws(SystemError) { try file.write(raw, at: 0) } catch { outcome = .failure(error) }
        }
        try outcome.get()
        try file.sync()
        file.close()
        open = false
        if replace {
            try sysRename(temporary, path)
        } else {
            try sysLink(temporary, path)
            try? sysUnlink(temporary)
        }
    } catch {
        if open { file.close() }
        try? sysUnlink(temporary)
        throw error
    }
    try sysSyncDirectory(sysParentDirectory(of: path))
}

/// Numbers the temporary files of concurrent atomic writes in one process.
private final class SerialNumber: @unchecked Sendable {  // the counter is guarded by its mutex
    private var mutex = pthread_mutex_t()
    private var value: UInt64 = 0
    init() { pthread_mutex_init(&mutex, nil) }
    func next() -> UInt64 {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        value += 1
        return value
    }
}

private let temporarySerial = SerialNumber()

/// The size of the file at `path`, not following a final symbolic link (`lstat`'s `st_size`).
package func sysFileSize(atPath path: String) throws(SystemError) -> UInt64 {
    var info = stat()
    _ = try retrying("lstat", path) { lstat(path, &info) }
    return UInt64(max(0, info.st_size))
}
