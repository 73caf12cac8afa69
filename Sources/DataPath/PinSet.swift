// SPDX-License-Identifier: Apache-2.0
import Content
import Host

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
        do throws(SystemError) { try sysMakeDirectories(folder) } catch { throw .io("cannot create \(folder)", error) }
    }

    /// Pins `id` durably: the pin file is written to a temporary name, synced, renamed into place and the
    /// folder synced (atomicWrite), so after a crash the pin is there or not, never a torn file.
    public func pin(_ id: ContentID) throws(DataPathError) {
        do throws(SystemError) {
            try atomicWrite(path: "\(folder)/\(id)", bytes: [])
        } catch {
            throw .io("cannot pin \(id)", error)
        }
    }

    /// True if `id` is pinned (one file lookup, not a listing).
    public func isPinned(_ id: ContentID) -> Bool { sysExists("\(folder)/\(id)") }

    /// Returns false if the ID was not pinned. The folder is synced after the removal; if that sync fails the
    /// pin may come back after a crash, which keeps data longer and never loses any.
    @discardableResult
    public func unpin(_ id: ContentID) -> Bool {
        do throws(SystemError) { try sysUnlink("\(folder)/\(id)") } catch { return false }
        try? sysSyncDirectory(folder)
        return true
    }

    /// The pinned IDs. A folder that cannot be read is an error, not an empty set: garbage collection
    /// must never mistake it for "nothing pinned".
    public func pinnedIDs() throws(DataPathError) -> [ContentID] {
        let names: [String]
        do throws(SystemError) { names = try sysListDirectory(folder) } catch { throw .io("cannot list \(folder)", error) }
        return names.compactMap { try? ContentID($0) }.sorted()
    }

    public var pinned: [ContentID] { (try? pinnedIDs()) ?? [] }

    /// Runs `body` holding the pin lock: shared for puts, exclusive for garbage collection.
    public func withLock<R>(exclusive: Bool, _ body: () throws(DataPathError) -> R) throws(DataPathError) -> R {
        let lock = try lockFile(exclusive: exclusive)
        defer { lock.close() }  // closing releases the lock
        return try body()
    }

    /// ``withLock(exclusive:_:)`` around async work (the lock is a file lock: it is held across suspensions).
    public func withLock<R>(exclusive: Bool, _ body: () async throws(DataPathError) -> R) async throws(DataPathError) -> R {
        let lock = try lockFile(exclusive: exclusive)
        defer { lock.close() }
        return try await body()
    }

    /// The pin folder's lock file, opened and locked (closing it releases the lock).
    private func lockFile(exclusive: Bool) throws(DataPathError) -> SystemFile {
        let lock: SystemFile
        do throws(SystemError) {
            lock = try SystemFile.open("\(folder)/.lock", O_RDWR | O_CREAT)
        } catch {
            throw .io("cannot open \(folder)/.lock", error)
        }
        do throws(SystemError) { try lock.lock(exclusive: exclusive) } catch {
            lock.close()
            throw .io("cannot lock \(folder)/.lock", error)
        }
        return lock
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
            let pinned = try pins.pinnedIDs()
            let live = try needed(by: pinned)
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

    /// Every object the `pinned` resources need: their manifests, chunks and parity. Call under the pins' lock.
    func needed(by pinned: [ContentID]) throws(DataPathError) -> Set<ContentID> {
        var live: Set<ContentID> = []
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
        return live
    }

    /// Removes those of `ids` that no pinned resource needs (as ``collectGarbage(pins:)`` decides, under the
    /// pins' exclusive lock, so a STORE or put that pins one of them meanwhile keeps it). Returns the removed.
    public func removeUnneeded(_ ids: [ContentID], pins: PinSet) throws(DataPathError) -> [ContentID] {
        guard !ids.isEmpty else { return [] }
        return try pins.withLock(exclusive: true) { () throws(DataPathError) -> [ContentID] in
            let live = try needed(by: try pins.pinnedIDs())
            let doomed = ids.filter { !live.contains($0) }
            for id in doomed { calls.remove(id) }
            return doomed
        }
    }

    /// The stored objects no pinned resource needs (what ``collectGarbage(pins:)`` would remove).
    public func unneededObjects(pins: PinSet) throws(DataPathError) -> [ContentID] {
        try pins.withLock(exclusive: true) { () throws(DataPathError) -> [ContentID] in
            let live = try needed(by: try pins.pinnedIDs())
            return try calls.keys().filter { !live.contains($0) }
        }
    }
}
