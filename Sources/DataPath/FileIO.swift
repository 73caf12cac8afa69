// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#endif

/// An open file the data path owns; closed when it goes away.
/// The corresponding C functions are `open`, `pread`, `pwrite`, `fdatasync`, `rename`, `close`.
final class FileHandle: Sendable {  // an fd and a path; pread/pwrite are safe from any thread
    let fd: Int32
    let path: String

    static func openForReading(_ path: String) throws(DataPathError) -> FileHandle {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error("cannot open \(path)") }
        return FileHandle(fd: fd, path: path)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    static func create(_ path: String) throws(DataPathError) -> FileHandle {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.error("cannot create \(path)") }
        return FileHandle(fd: fd, path: path)
    }

    deinit { close(fd) }

    var size: Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Reads exactly `buffer.count` bytes at `offset` (fewer only at end of file); returns the count.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(DataPathError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error("read \(path)")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DataPathError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error("write \(path)")
            }
            done += n
        }
    }

    func sync() throws(DataPathError) {
        guard fdatasync(fd) == 0 else { throw Self.error("fdatasync \(path)") }
    }

    static func error(_ what: String) -> DataPathError {
        DataPathError(.io, "\(what): \(String(cString: strerror(errno)))")
    }
}

func renameFile(_ from: String, _ to: String) throws(DataPathError) {
    guard rename(from, to) == 0 else { throw FileHandle.error("cannot move \(from) to \(to)") }
}

func removeFile(_ path: String) { unlink(path) }

/// Runs `body` over the bytes of an array, keeping the typed error (withUnsafeBytes rethrows untyped).
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(DataPathError) -> R) throws(DataPathError) -> R {
    var outcome: Result<R, DataPathError>!
    array.withUnsafeBytes { raw in
        do throws(DataPathError) { outcome = .success(try body(raw)) } catch { outcome = .failure(error) }
    }
    return try outcome.get()
}

func withMutableBytes<R>(_ array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(DataPathError) -> R)
    throws(DataPathError) -> R
{
    var outcome: Result<R, DataPathError>!
    array.withUnsafeMutableBytes { raw in
        do throws(DataPathError) { outcome = .success(try body(raw)) } catch { outcome = .failure(error) }
    }
    return try outcome.get()
}
