// SPDX-License-Identifier: Apache-2.0
//
// The file-system calls of the stores, on the one syscall layer (InosSystem, linked into each plugin like
// PluginKit: it never crosses the ABI): EINTR retried and errno kept there; here a failure becomes a
// StoreError (ENOSPC as INOS_ERR_FULL, anything else as INOS_ERR_IO), and CRC32C.
import CISAL
import InosSystem
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

package enum StoreFiles {
    /// Runs file calls, turning a `SystemError` into a `StoreError` that says what was being done.
    package static func run<R>(_ what: @autoclosure () -> String, _ body: () throws(SystemError) -> R) throws(StoreError) -> R {
        do throws(SystemError) { return try body() } catch { throw StoreError(what(), error) }
    }

    /// `mkdir -p`: creates `path` and any missing parents, each new name made durable.
    package static func makeDirectories(_ path: String) throws(StoreError) {
        try run("cannot create \(path)") { () throws(SystemError) in try sysMakeDirectories(path) }
    }

    /// Names in a directory, without "." and "..". A directory that cannot be read is an error (never "empty":
    /// a store must not mistake an unreadable folder for one with nothing in it).
    package static func list(_ path: String) throws(StoreError) -> [String] {
        try run("cannot list \(path)") { () throws(SystemError) in try sysListDirectory(path) }
    }

    /// Opens (or creates) a file: `flags` as for `open(2)` (`O_CLOEXEC` is added).
    package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(StoreError) -> SystemFile {
        try run("open \(path)") { () throws(SystemError) in try SystemFile.open(path, flags, mode: mode) }
    }

    /// `fsync` of a directory, so that names created, renamed or removed in it are durable.
    package static func syncDirectory(_ path: String) throws(StoreError) {
        try run("fsync \(path)") { () throws(SystemError) in try sysSyncDirectory(path) }
    }

    /// The corresponding system call is `syncfs(2)`: flushes the whole file system holding `path`, once.
    package static func syncFileSystem(_ path: String) throws(StoreError) {
        try run("syncfs \(path)") { () throws(SystemError) in try sysSyncFileSystem(path) }
    }

    /// Free bytes of the file system holding `path` (or the current directory if `path` does not exist yet);
    /// unlimited when neither can be examined (the disk then reports ENOSPC itself).
    package static func freeSpace(_ path: String) -> UInt64 {
        (try? sysFreeSpace(path)) ?? (try? sysFreeSpace(".")) ?? .max
    }

    /// CRC32C (ISA-L, hardware-accelerated), chainable: pass the previous result as `seed`.
    package static func crc32c(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0xFFFF_FFFF) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return crc32_iscsi(UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)), Int32(bytes.count), seed)
    }
}
