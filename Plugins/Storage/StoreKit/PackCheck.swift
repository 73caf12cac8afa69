// SPDX-License-Identifier: Apache-2.0
//
// An offline check of a pack store's folder (`inos store fsck`): every pack read in full, every record's CRC
// checked, every index entry matched against a whole record, and — with repair — the index log rewritten from
// what the packs hold. It holds the store folder's lock exclusively (StoreFolderLock) and refuses to run while
// a node or another process has the store open.
import InosSystem
import Primitives

#if canImport(Glibc)
import Glibc
#endif

package struct PackCheck {
    package struct Report: Sendable {
        package var packs = 0
        package var records = 0
        package var packBytes: UInt64 = 0
        /// Bytes of packs that are not part of a whole record (torn writes, damage).
        package var damagedBytes: UInt64 = 0
        package var logEntries = 0
        package var damagedLogEntries = 0
        /// Chunks the log lists whose record is missing or not whole.
        package var brokenEntries: [String] = []
        /// Whole records of chunks the log does not list (a lost or damaged log, or a crash's unindexed tail).
        package var unindexedRecords = 0
        /// Chunks the index holds (after repair: the rebuilt one).
        package var chunks = 0
        package var repaired = false

        /// True when the log and the packs agree and nothing is damaged.
        package var clean: Bool { damagedBytes == 0 && damagedLogEntries == 0 && brokenEntries.isEmpty && unindexedRecords == 0 }
    }

    /// Checks the store in `root`; with `repair`, rewrites `index.log` (atomically) to list every chunk with a
    /// whole record: the log's entries whose record checks, plus every whole record it does not know (unless an
    /// intact log says the chunk was removed). Packs are not changed; the store trims them at its next start.
    ///
    /// Throws ``StoreFolderLock/inUse`` at once, without reading anything, while the store is open elsewhere.
    package static func run(root: String, repair: Bool) throws(InosError) -> Report {
        let lock = try StoreFolderLock(root: root, exclusive: true)
        let outcome: Result<Report, SystemError>
        do throws(SystemError) { outcome = .success(try check(root: root, repair: repair)) } catch { outcome = .failure(error) }
        _ = consume lock  // released once the check (and the rewrite) is done, not at the lock's last use
        switch outcome {
        case .success(let report): return report
        case .failure(let error):
            throw InosError(error.code, "cannot \(repair ? "check and repair" : "check") the store in \(root)", cause: error)
        }
    }

    private static func check(root: String, repair: Bool) throws(SystemError) -> Report {
        var report = Report()
        let logPath = root + "/index.log"
        var lastKind: [ChunkKey: PackFormat.EntryKind] = [:]
        var index: [ChunkKey: PackFormat.Location] = [:]
        var replay = PackScan.IndexReplay()
        if sysExists(logPath) {
            let log = try SystemFile.open(logPath, O_RDONLY)
            defer { log.close() }
            replay = try PackScan.replayIndex(log)
        }
        report.logEntries = replay.entries.count
        report.damagedLogEntries = replay.damagedEntries
        for entry in replay.entries {
            lastKind[entry.key] = entry.kind
            index[entry.key] = entry.kind == .stored ? entry.location : nil
        }

        var whole: [UInt32: [UInt64: (ChunkKey, PackFormat.Location)]] = [:]
        let names = sysExists(root + "/packs") ? try sysListDirectory(root + "/packs") : []
        for number in names.compactMap(PackScan.packNumber).sorted() {
            let file = try SystemFile.open("\(root)/packs/\(PackScan.packName(number))", O_RDONLY)
            defer { file.close() }
            let size = try file.size()
            var found: [UInt64: (ChunkKey, PackFormat.Location)] = [:]
            let scan = try PackScan.records(in: file, pack: number, size: size, from: 0) { key, location in
                found[location.offset] = (key, location)
            }
            whole[number] = found
            report.packs += 1
            report.records += scan.records
            report.packBytes += size
            report.damagedBytes += scan.damagedBytes
        }

        for (key, location) in index {
            guard let (stored, record) = whole[location.pack]?[location.offset], stored == key, record == location else {
                report.brokenEntries.append(key.hex)
                index[key] = nil
                continue
            }
        }
        report.brokenEntries.sort()
        let trustRemovals = replay.damagedBeforeLastEntry == 0 && !replay.entries.isEmpty
        for number in whole.keys.sorted() {
            for offset in whole[number, default: [:]].keys.sorted() {
                guard let (key, location) = whole[number]?[offset], index[key] == nil else { continue }
                if trustRemovals, let kind = lastKind[key], kind != .stored { continue }
                index[key] = location
                report.unindexedRecords += 1
            }
        }
        report.chunks = index.count

        if repair && !report.clean {
            var bytes = [UInt8](repeating: 0, count: index.count * PackFormat.entrySize)
            let entries = index.sorted { ($0.value.pack, $0.value.offset) < ($1.value.pack, $1.value.offset) }
            bytes.withUnsafeMutableBytes { buffer in
                for (i, (key, location)) in entries.enumerated() {
                    PackFormat.encode(
                        PackFormat.Entry(kind: .stored, key: key, location: location),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[(i * PackFormat.entrySize)...]))
                }
            }
            try atomicWrite(path: logPath, bytes: bytes)
            report.repaired = true
        }
        return report
    }
}
