// SPDX-License-Identifier: Apache-2.0
import Content

#if canImport(Glibc)
import Glibc
#endif

/// The resources a node keeps: one empty file per pinned ID in a folder, so pinning is atomic and survives
/// crashes. A lock file in the same folder keeps garbage collection (exclusive) from running while a put
/// (shared) has stored chunks but not yet its manifest and pin.
public final class PinSet: Sendable {
    public let folder: String

    public init(folder: String) throws(DataPathError) {
        self.folder = folder
        var prefix = folder.hasPrefix("/") ? "" : "."
        for component in folder.split(separator: "/") {  // mkdir -p
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw FileHandle.error("cannot create \(prefix)") }
        }
    }

    public func pin(_ id: ContentID) throws(DataPathError) {
        let path = "\(folder)/\(id)"
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileHandle.error("cannot pin \(id)") }
        fsync(fd)
        close(fd)
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// True if `id` is pinned (one file lookup, not a listing).
    public func isPinned(_ id: ContentID) -> Bool { access("\(folder)/\(id)", F_OK) == 0 }

    /// Returns false if the ID was not pinned.
    @discardableResult
    public func unpin(_ id: ContentID) -> Bool { unlink("\(folder)/\(id)") == 0 }

    public var pinned: [ContentID] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var ids: [ContentID] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let id = try? ContentID(name) { ids.append(id) }
        }
        return ids.sorted()
    }

    /// Runs `body` holding the pin lock: shared for puts, exclusive for garbage collection.
    public func withLock<R>(exclusive: Bool, _ body: () throws(DataPathError) -> R) throws(DataPathError) -> R {
        let fd = open("\(folder)/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileHandle.error("cannot open \(folder)/.lock") }
        defer { close(fd) }  // closing releases the lock
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else { throw FileHandle.error("cannot lock \(folder)/.lock") }
        }
        return try body()
    }
}

extension ContentStore {
    public struct CollectionReport: Sendable {
        public var pinned: Int
        public var kept: Int
        public var removed: Int
        public var bytesFreed: UInt64
    }

    /// Stores a file and pins it, under the shared pin lock.
    public func putPinned(file path: String, pins: PinSet, options: Options = Options(), progress: (Progress) -> Void = { _ in })
        throws(DataPathError) -> PutReport
    {
        try pins.withLock(exclusive: false) { () throws(DataPathError) in
            let report = try put(file: path, options: options, progress: progress)
            try pins.pin(report.id)
            return report
        }
    }

    /// Removes every stored object that no pinned resource needs (its manifest, chunks and parity).
    /// A pinned resource whose manifest is unreadable keeps everything: nothing is deleted on a guess.
    public func collectGarbage(pins: PinSet) throws(DataPathError) -> CollectionReport {
        try pins.withLock(exclusive: true) { () throws(DataPathError) in
            var live: Set<ContentID> = []
            let pinned = pins.pinned
            for id in pinned {
                live.insert(id)
                do throws(DataPathError) {
                    guard let manifest = try manifest(for: id) else { continue }
                    live.formUnion(manifest.chunks.map(\.id))
                    live.formUnion(manifest.erasure?.parity.map(\.id) ?? [])
                } catch where error.code == .notFound {
                    continue  // pinned but never stored here: nothing to keep
                }
            }
            let before = try calls.stats().used_bytes
            var removed = 0
            let keys = try calls.keys()
            for id in keys where !live.contains(id) {
                calls.remove(id)
                removed += 1
            }
            let after = try calls.stats().used_bytes
            return CollectionReport(pinned: pinned.count, kept: keys.count - removed, removed: removed, bytesFreed: before - min(before, after))
        }
    }
}
