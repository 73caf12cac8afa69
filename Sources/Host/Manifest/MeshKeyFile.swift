// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosSystem
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// The text form of a mesh key file (`inos key generate`, `[mesh] key_file`): comment lines starting with `#`,
/// then one line of 64 hex digits — the 32-byte key.
///
///     # inos mesh key: a secret. Any holder may join the mesh; keep this file mode 0600.
///     # key id 3f9c0a51d2e47b68
///     9b1f…(64 hex digits)
///
/// A key file must not be readable by group or others: ``read(_:)`` refuses it otherwise, as the node's
/// identity key is refused.
public enum MeshKeyFile {
    /// The bytes of a mesh key.
    public static let keySize = 32

    /// The file's text for `key` (32 bytes), with its fingerprint `id` in a comment.
    public static func encode(_ key: [UInt8], id: String) -> String {
        precondition(key.count == keySize, "a mesh key has \(keySize) bytes")
        return """
            # inos mesh key: a secret. Any holder may join the mesh; keep this file mode 0600.
            # key id \(id)
            \(key.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())

            """
    }

    /// The key in a key file's text.
    /// - Throws: a message saying what is wrong with the text (never the text itself: it may be a key).
    public static func decode(_ text: String) throws(InosError) -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard lines.count == 1, let line = lines.first else {
            throw InosError(.malformed, lines.isEmpty ? "holds no key (expected one line of 64 hex digits)" : "holds \(lines.count) lines besides comments (expected one line of 64 hex digits: one key per file)")
        }
        let digits = Array(line.utf8)
        guard digits.count == 2 * keySize else {
            throw InosError(.malformed, "has a key line of \(digits.count) characters (expected 64 hex digits)")
        }
        var key: [UInt8] = []
        key.reserveCapacity(keySize)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else {
                throw InosError(.malformed, "has a key line that is not hex (expected 64 digits 0-9, a-f)")
            }
            key.append(high << 4 | low)
        }
        return key
    }

    /// Reads and checks a key file: it must exist, be readable by this process and by nobody but its owner
    /// (no group or other permission bits), and hold one key.
    public static func read(_ path: String) throws(InosError) -> [UInt8] {
        let file: SystemFile
        do throws(SystemError) {
            file = try SystemFile.open(path, O_RDONLY)
        } catch {
            let reason = error.errno == ENOENT ? "does not exist" : "cannot be read (\(error.reason))"
            throw InosError(error.errno == ENOENT ? .notFound : .io, "mesh key file \(path) \(reason)")
        }
        defer { file.close() }
        let mode: mode_t
        do throws(SystemError) {
            mode = try file.permissions() & 0o777
        } catch {
            throw InosError(.io, "mesh key file \(path) cannot be examined (fstat)")
        }
        guard mode & 0o077 == 0 else {
            throw InosError(.insecure, "mesh key file \(path) is readable by others (mode \(String(mode, radix: 8))): run chmod 600 \(path)")
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var outcome: Result<Int, SystemError> = .success(0)
        bytes.withUnsafeMutableBytes { raw in
            do throws(SystemError) { outcome = .success(try file.read(into: raw, at: 0)) } catch { outcome = .failure(error) }
        }
        let count: Int
        do throws(SystemError) {
            count = try outcome.get()
        } catch {
            throw InosError(.io, "mesh key file \(path) cannot be read (\(error.reason))")
        }
        guard count < bytes.count else { throw InosError(.malformed, "mesh key file \(path) is too large to be a key file") }
        do throws(InosError) {
            return try decode(String(decoding: bytes[0..<count], as: UTF8.self))
        } catch {
            throw InosError(error.code, "mesh key file \(path) \(error.message)")
        }
    }

    /// Writes `text` to a new file at `path`, mode 0600. An existing file is refused unless `force`
    /// (then it is replaced, atomically). Either way the file is written to a temporary name, synced, then
    /// linked (which refuses an existing file, so there is no overwrite race) or renamed into place, and the
    /// folder synced (atomicWrite).
    public static func write(_ text: String, to path: String, force: Bool) throws(InosError) {
        let exists = "\(path) already exists: refusing to overwrite a key (use --force to replace it)"
        if !force, sysExists(path) { throw InosError(.alreadyExists, exists) }
        do throws(SystemError) {
            try atomicWrite(path: path, bytes: Array(text.utf8), mode: 0o600, replace: force)
        } catch {
            if !force, error.errno == EEXIST { throw InosError(.alreadyExists, exists) }
            throw InosError(error.isNoSpace ? .noSpace : .io, "cannot write \(path): \(error.reason)")
        }
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
