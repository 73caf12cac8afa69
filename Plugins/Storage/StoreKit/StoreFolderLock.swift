// SPDX-License-Identifier: Apache-2.0
//
// The lock on a pack store's folder: `store.lock` in it, an advisory `flock`. Every process that opens the store
// holds it shared for as long as the store is open; `inos store fsck` holds it exclusively, so it never reads
// packs a node is appending to, nor rewrites `index.log` under one. Neither side waits.
import InosSystem
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// A held lock on a store folder (see the file's comment); released when the value is dropped (its descriptor is
/// closed). Shared holders do not exclude each other: several processes may open one store today (a node, and a
/// client command given the same data directory or manifest), as before this lock.
package struct StoreFolderLock: ~Copyable {
    package static let fileName = "store.lock"

    /// The error code when another process holds the lock in a conflicting way (the folder is in use).
    package static let inUse = InosError.Code.unavailable

    private let file: SystemFile

    /// Takes the lock on `root` (which must exist): `exclusive` for a check or repair, shared for a store that opens
    /// the folder. Throws ``inUse`` at once, naming the holders it can see, when a conflicting lock is held.
    package init(root: String, exclusive: Bool) throws(InosError) {
        let path = root + "/" + Self.fileName
        let file: SystemFile
        do throws(SystemError) {
            file = try SystemFile.open(path, O_RDWR | O_CREAT)
        } catch {
            throw InosError(error.code, "cannot open the store's lock file \(path)", cause: error)
        }
        let locked: Bool
        do throws(SystemError) { locked = try file.tryLock(exclusive: exclusive) } catch {
            file.close()
            throw InosError(error.code, "cannot lock \(path)", cause: error)
        }
        guard locked else {
            file.close()
            let what = exclusive ? "it is open" : "it is being checked or repaired (inos store fsck)"
            throw InosError(Self.inUse, "the store in \(root) is in use: \(what), by \(Self.holders(path)); try again once it has stopped")
        }
        self.file = file
    }

    deinit { file.close() }

    /// Who holds `path`'s lock, for the message: "pid 4242 (inos node --data-dir …)", or "another process".
    static func holders(_ path: String) -> String {
        let named = sysFlockHolders(path).map { holder in
            let command = sysProcessCommandLine(holder.pid).map { " (\($0.count > 120 ? String($0.prefix(120)) + "…" : $0))" } ?? ""
            return "pid \(holder.pid)\(command)"
        }
        return named.isEmpty ? "another process" : named.joined(separator: ", ")
    }
}
