// SPDX-License-Identifier: Apache-2.0
import Host

#if canImport(Glibc)
import Glibc
#endif

/// An open file the data path owns; closed when it goes away. Its calls go through the syscall layer
/// (`SystemFile`: EINTR retried, short transfers finished, faults injectable in tests).
final class FileHandle: Sendable {  // an fd and a path; pread/pwrite are safe from any thread
    let file: SystemFile

    private init(_ file: SystemFile) { self.file = file }

    static func openForReading(_ path: String) throws(DataPathError) -> FileHandle {
        do throws(SystemError) { return FileHandle(try SystemFile.open(path, O_RDONLY)) } catch { throw .io("cannot open \(path)", error) }
    }

    static func create(_ path: String) throws(DataPathError) -> FileHandle {
        do throws(SystemError) {
            return FileHandle(try SystemFile.open(path, O_WRONLY | O_CREAT | O_TRUNC))
        } catch {
            throw .io("cannot create \(path)", error)
        }
    }

    /// A scratch file this process writes and reads back (mode 0600).
    static func createScratch(_ path: String) throws(DataPathError) -> FileHandle {
        do throws(SystemError) {
            return FileHandle(try SystemFile.open(path, O_RDWR | O_CREAT | O_TRUNC, mode: 0o600))
        } catch {
            throw .io("cannot create \(path)", error)
        }
    }

    deinit { file.close() }

    var path: String { file.path }

    func size() throws(DataPathError) -> Int {
        do throws(SystemError) { return Int(clamping: try file.size()) } catch { throw .io("cannot examine \(path)", error) }
    }

    /// Reads exactly `buffer.count` bytes at `offset` (fewer only at end of file); returns the count.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(DataPathError) -> Int {
        do throws(SystemError) { return try file.read(into: buffer, at: UInt64(offset)) } catch { throw .io("read \(path)", error) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DataPathError) {
        do throws(SystemError) { try file.write(bytes, at: UInt64(offset)) } catch { throw .io("write \(path)", error) }
    }

    func sync() throws(DataPathError) {
        do throws(SystemError) { try file.syncData() } catch { throw .io("fdatasync \(path)", error) }
    }
}

extension DataPathError {
    /// A failed system call: `.noSpace` for ENOSPC/EDQUOT, else `.io`, with the call's reason in the message and
    /// the call itself as the cause.
    static func io(_ what: String, _ error: SystemError, function: String = #function, file: String = #fileID, line: Int = #line)
        -> DataPathError
    {
        DataPathError(error.isNoSpace ? .noSpace : .io, "\(what): \(error.reason)", cause: error, function: function, file: file, line: line)
    }
}

func renameFile(_ from: String, _ to: String) throws(DataPathError) {
    do throws(SystemError) { try sysRename(from, to) } catch { throw .io("cannot move \(from) to \(to)", error) }
}

func removeFile(_ path: String) { try? sysUnlink(path) }

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
