// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosStoreKit
import InosSystem
import PluginABI
import Testing
@testable import InosPackStore

/// A model of what a file system keeps across a crash, fed by the syscall layer's trace (ALICE / CrashMonkey
/// style): file contents become durable at `fsync`/`fdatasync` of the file, names (create, rename, unlink) at
/// `fsync` of their folder. Folders themselves are taken as durable once made (the store makes them again).
struct CrashModel {
    private final class Inode {
        var data: [UInt8] = []
        var durable: [UInt8] = []
        /// Writes since the last sync, in order (for the torn-write state).
        var unsynced: [(offset: Int, bytes: [UInt8])] = []
    }

    private var inodes: [Inode] = []
    private var names: [String: Int] = [:]
    private var durableNames: [String: Int] = [:]
    private var files: [Int32: Int] = [:]
    private var folders: [Int32: String] = [:]

    /// What a crash leaves of names and of contents.
    enum Names: CaseIterable { case synced, all }
    enum Contents: CaseIterable { case synced, all, tornLastWrite }

    mutating func apply(_ event: SystemEvent) {
        switch event {
        case .opened(let fd, let path, _, let truncated, let directory):
            if directory {
                folders[fd] = path
                return
            }
            if let inode = names[path] {
                if truncated { write(inode, size: 0) }
                files[fd] = inode
            } else {
                inodes.append(Inode())
                names[path] = inodes.count - 1
                files[fd] = inodes.count - 1
            }
        case .wrote(let fd, let offset, let bytes):
            guard let inode = files[fd] else { return }
            let node = inodes[inode]
            let end = Int(offset) + bytes.count
            if node.data.count < end { node.data += [UInt8](repeating: 0, count: end - node.data.count) }
            node.data.replaceSubrange(Int(offset)..<end, with: bytes)
            node.unsynced.append((Int(offset), bytes))
        case .synced(let fd):
            if let folder = folders[fd] {
                for (path, inode) in names where sysParentDirectory(of: path) == folder { durableNames[path] = inode }
                for path in durableNames.keys where sysParentDirectory(of: path) == folder && names[path] == nil {
                    durableNames[path] = nil
                }
            } else if let inode = files[fd] {
                inodes[inode].durable = inodes[inode].data
                inodes[inode].unsynced = []
            }
        case .truncated(let fd, let size):
            if let inode = files[fd] { write(inode, size: Int(size)) }
        case .renamed(let from, let to):
            names[to] = names[from]
            names[from] = nil
        case .linked(let from, let to):
            names[to] = names[from]
        case .unlinked(let path):
            names[path] = nil
        case .closed(let fd):
            files[fd] = nil
            folders[fd] = nil
        case .madeDirectory, .mark:
            break
        }
    }

    private func write(_ inode: Int, size: Int) {
        let node = inodes[inode]
        node.data = Array(node.data.prefix(size)) + [UInt8](repeating: 0, count: max(0, size - node.data.count))
        node.unsynced = []  // a truncation replaces what came before; its durability needs a sync like data
    }

    /// The files a crash now would leave, by path.
    func crashState(_ names: Names, _ contents: Contents) -> [String: [UInt8]] {
        var state: [String: [UInt8]] = [:]
        for (path, inode) in names == .synced ? durableNames : self.names {
            let node = inodes[inode]
            switch contents {
            case .synced: state[path] = node.durable
            case .all: state[path] = node.data
            case .tornLastWrite:
                var bytes = node.durable
                for (i, write) in node.unsynced.enumerated() {
                    let part = i == node.unsynced.count - 1 ? Array(write.bytes.prefix(write.bytes.count / 2)) : write.bytes
                    let end = write.offset + part.count
                    if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
                    bytes.replaceSubrange(write.offset..<end, with: part)
                }
                state[path] = bytes
            }
        }
        return state
    }
}

@Suite("Pack store: crash consistency")
struct CrashConsistencyTests {
    /// Records every file call of a run of puts, then for every prefix of the trace and every way a crash can
    /// leave names and contents, builds that state on disk and opens the store on it: start-up never fails,
    /// every acknowledged chunk is there and whole, any other chunk it shows is whole, and a second start-up
    /// finds the same.
    func check(chunks: Int, size: Int, packLimit: UInt64, states: [(CrashModel.Names, CrashModel.Contents)]) throws {
        #expect(SystemFaults.isAvailable)
        let scratch = ScratchFolder("crash")
        let root = scratch.path + "/store"
        let payloads = (0..<chunks).map { chunkBytes(size + $0 * 37, seed: UInt8($0)) }
        let events = try SystemFaults.withFaults(recording: true) { faults in
            let store = try PackStore(root: root, capacity: 1 << 40, packLimit: packLimit, lanes: 2)
            var i = 0
            while i < chunks {
                if i % 3 == 2 {  // group commit: two staged chunks, then one commit
                    let batch = Array(i..<min(i + 2, chunks))
                    for n in batch { try store.stage(key(n), payloads[n]) }
                    try store.commit()
                    for n in batch { faults.mark("acked \(n)") }
                    i += batch.count
                } else {
                    try store.put(key(i), payloads[i])
                    faults.mark("acked \(i)")
                    i += 1
                }
            }
            return faults.events
        }
        let acknowledgements = events.filter { if case .mark = $0 { true } else { false } }.count
        #expect(acknowledgements == chunks)

        var model = CrashModel()
        var acked: Set<Int> = []
        var statesChecked = 0
        for point in 0...events.count {
            if point > 0 {
                let event = events[point - 1]
                if case .mark(let label) = event, let n = Int(label.dropFirst("acked ".count)) { acked.insert(n) }
                model.apply(event)
                if case .mark = event { continue }  // nothing on disk changed
            }
            for (names, contents) in states {
                let state = scratch.path + "/state"
                try? FileManager.default.removeItem(atPath: state)
                for (path, bytes) in model.crashState(names, contents) {
                    let target = state + path.dropFirst(root.count)
                    try FileManager.default.createDirectory(atPath: sysParentDirectory(of: target), withIntermediateDirectories: true)
                    try Data(bytes).write(to: URL(fileURLWithPath: target))
                }
                try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
                let label = "crash after event \(point) of \(events.count), names \(names), contents \(contents)"
                for run in 0..<2 {
                    let store: PackStore
                    do throws(StoreError) {
                        store = try PackStore(root: state, capacity: 1 << 40, packLimit: packLimit, lanes: 2)
                    } catch {
                        Issue.record("start-up failed (run \(run)), \(label): \(error.message)")
                        return
                    }
                    for n in acked {
                        #expect((try? store.read(key(n)).get()) == payloads[n], "acknowledged chunk \(n) lost or damaged, \(label)")
                    }
                    for visible in store.keys {
                        let n = (0..<chunks).first { key($0) == visible }
                        #expect(n != nil, "unknown key visible, \(label)")
                        if let n { #expect((try? store.read(visible).get()) == payloads[n], "chunk \(n) half visible, \(label)") }
                    }
                    #expect(store.statistics().quarantined == 0, "\(label)")
                }
                statesChecked += 1
            }
        }
        #expect(statesChecked > events.count)
    }

    @Test("small chunks in one pack: every crash point, names and contents synced, all, or the last write torn")
    func smallChunks() throws {
        var states: [(CrashModel.Names, CrashModel.Contents)] = []
        for names in CrashModel.Names.allCases { for contents in CrashModel.Contents.allCases { states.append((names, contents)) } }
        try check(chunks: 14, size: 1500, packLimit: 1 << 20, states: states)
    }

    @Test("large chunks across several packs (a new pack's name must be durable before its entries count)")
    func packRollover() throws {
        try check(chunks: 7, size: 400_000, packLimit: 1 << 20, states: [(.synced, .synced), (.synced, .tornLastWrite), (.all, .all)])
    }
}
