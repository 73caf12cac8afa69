// SPDX-License-Identifier: Apache-2.0
//
// The file-system calls the stores share, each retrying EINTR and turning errno into a StoreError.
import CISAL
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

package enum StoreFiles {
    /// `mkdir -p`: creates `path` and any missing parents.
    package static func makeDirectories(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError.io("cannot create \(prefix)")
            }
        }
    }

    /// Names in a directory, without "." and ".."; empty if it cannot be read.
    package static func list(_ path: String) -> [String] {
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

    /// Writes all of `bytes` at `offset` (or at the file position when nil).
    package static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64? = nil, _ what: @autoclosure () -> String) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let n =
                if let offset { pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
                else { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("write \(what())")
            }
            done += n
        }
    }

    /// Reads up to `bytes.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    package static func read(_ fd: Int32, into bytes: UnsafeMutableRawBufferPointer, at offset: UInt64, _ what: @autoclosure () -> String) throws(StoreError) -> Int {
        var done = 0
        while done < bytes.count {
            let n = pread(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("read \(what())")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The corresponding C function is `fdatasync`.
    package static func syncData(_ fd: Int32, _ what: @autoclosure () -> String) throws(StoreError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw StoreError.io("fdatasync \(what())") }
        }
    }

    /// `fsync` of a directory, so that names created, renamed or removed in it are durable.
    package static func syncDirectory(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("open \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError.io("fsync \(path)") }
    }

    /// The corresponding system call is `syncfs(2)`: flushes the whole file system holding `path`, once.
    package static func syncFileSystem(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("open \(path)") }
        defer { close(fd) }
        guard syncfs(fd) == 0 else { throw StoreError.io("syncfs \(path)") }
    }

    /// Free bytes of the file system holding `path` (or the current directory if `path` does not exist yet).
    package static func freeSpace(_ path: String) -> UInt64 {
        var info = statvfs()
        if statvfs(path, &info) != 0 && statvfs(".", &info) != 0 { return .max }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    /// CRC32C (ISA-L, hardware-accelerated), chainable: pass the previous result as `seed`.
    package static func crc32c(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0xFFFF_FFFF) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return crc32_iscsi(UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self)), Int32(bytes.count), seed)
    }
}
