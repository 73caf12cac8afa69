// SPDX-License-Identifier: Apache-2.0
import InosSystem
import PluginABI

extension Arena {
    /// Maps an arena another process created — the node's, inside an isolated job runner — from its memfd.
    ///
    /// The mapping is read-only except for `writable`: page-aligned ranges of the payload heap (the
    /// runner's channel and its lease), so a runner that writes where it should not faults in its own
    /// process instead of corrupting the node's arena. Inputs stay readable in place. The header, the
    /// switchboard and the rings are checked and borrowed, never initialised: the node owns them. ``heap``
    /// hands out blocks only inside `heapLease`, which must be one of the writable ranges.
    ///
    /// Takes ownership of `fd`: it is closed when the arena is deinitialised, or at once on failure.
    /// - Throws: ``ArenaError`` when `fd` is not an INOS arena of this layout version, or a range is wrong.
    package convenience init(attaching fd: Int32, writable: [Range<Int>], heapLease: Range<Int>) throws(ArenaError) {
        let size: Int
        let base: UnsafeMutableRawPointer
        do throws(SystemError) {
            size = try sysFileSize(fd)
            base = try sysMapSharedReadOnly(fd: fd, size: max(size, 1))
        } catch {
            sysClose(fd)
            throw ArenaError.system(error)
        }
        func fail(_ problem: String) -> ArenaError {
            sysUnmap(base, size: max(size, 1))
            sysClose(fd)
            return ArenaError.invalidConfiguration([problem])
        }
        guard size >= 4096 else { throw fail("descriptor \(fd) holds \(size) bytes: too small for an arena") }
        let header = base.assumingMemoryBound(to: inos_arena_header.self).pointee
        guard header.magic == INOS_ARENA_MAGIC else { throw fail("descriptor \(fd) is not an INOS arena (bad magic)") }
        guard header.version == INOS_ARENA_LAYOUT_VERSION, header.header_size >= MemoryLayout<inos_arena_header>.size else {
            throw fail("arena layout version \(header.version) differs from this build's \(INOS_ARENA_LAYOUT_VERSION)")
        }
        guard header.total_size == UInt64(size) else {
            throw fail("arena header says \(header.total_size) bytes but the memfd holds \(size)")
        }
        let regions = [
            ("switchboard", header.switchboard_offset, header.switchboard_size),
            ("inbox", header.inbox_offset, header.inbox_size), ("outbox", header.outbox_offset, header.outbox_size),
            ("heap", header.heap_offset, header.heap_size),
        ]
        for (name, offset, length) in regions where offset > UInt64(size) || length > UInt64(size) - offset {
            throw fail("the arena's \(name) region lies outside its \(size) bytes")
        }
        guard Int(header.switchboard_size) >= MemoryLayout<inos_switchboard>.size,
            Int(header.inbox_size) >= MemoryLayout<inos_ring>.size, Int(header.outbox_size) >= MemoryLayout<inos_ring>.size
        else { throw fail("the arena's switchboard or ring regions are too small") }
        let layout = ArenaLayout(header: header)
        let heapRange = layout.heapOffset..<(layout.heapOffset + layout.heapSize)
        let page = sysPageSize
        for range in writable {
            guard range.lowerBound % page == 0, heapRange.contains(range.lowerBound), range.upperBound <= heapRange.upperBound
            else { throw fail("writable range \(range) is not a page-aligned part of the payload heap \(heapRange)") }
            do throws(SystemError) {
                let length = (range.count + page - 1) / page * page
                try sysProtectReadWrite(base + range.lowerBound, length: min(length, heapRange.upperBound - range.lowerBound))
            } catch {
                sysUnmap(base, size: size)
                sysClose(fd)
                throw ArenaError.system(error)
            }
        }
        guard writable.contains(where: { $0.lowerBound <= heapLease.lowerBound && heapLease.upperBound <= $0.upperBound }),
            heapLease.count >= PayloadHeap.minimumBlock, heapLease.count % PayloadHeap.minimumBlock == 0,
            (heapLease.lowerBound - layout.heapOffset) % PayloadHeap.minimumBlock == 0
        else { throw fail("heap lease \(heapLease) is not a writable, \(PayloadHeap.minimumBlock)-byte aligned range") }

        let inboxRaw = (base + layout.inboxOffset).assumingMemoryBound(to: inos_ring.self)
        let outboxRaw = (base + layout.outboxOffset).assumingMemoryBound(to: inos_ring.self)
        for (ring, regionSize) in [(inboxRaw, layout.inboxSize), (outboxRaw, layout.outboxSize)] {
            let config = ring.pointee.config
            guard config.magic == INOS_RING_MAGIC, config.capacity >= 1024, config.capacity & (config.capacity - 1) == 0,
                inos_ring_region_size(config.capacity) <= UInt64(regionSize)
            else { throw fail("the arena's rings are not initialised INOS rings") }
        }
        let switchboard = Switchboard(borrowing: (base + layout.switchboardOffset).assumingMemoryBound(to: inos_switchboard.self))
        let marks = switchboard.watermarksPermille
        let configuration = ArenaConfiguration(
            totalSize: size, inboxCapacity: Int(inboxRaw.pointee.config.capacity),
            outboxCapacity: Int(outboxRaw.pointee.config.capacity), highWatermark: Double(marks.high) / 1000,
            lowWatermark: Double(marks.low) / 1000)
        self.init(
            mapped: base, size: size, fileDescriptor: fd, configuration: configuration, layout: layout,
            heap: PayloadHeap(offset: heapLease.lowerBound, size: heapLease.count),
            inbox: Ring(borrowing: inboxRaw), outbox: Ring(borrowing: outboxRaw), switchboard: switchboard)
    }
}

extension ArenaLayout {
    /// The layout an arena's header describes (for a process that maps an existing arena).
    init(header: inos_arena_header) {
        switchboardOffset = Int(header.switchboard_offset)
        switchboardSize = Int(header.switchboard_size)
        inboxOffset = Int(header.inbox_offset)
        inboxSize = Int(header.inbox_size)
        outboxOffset = Int(header.outbox_offset)
        outboxSize = Int(header.outbox_size)
        heapOffset = Int(header.heap_offset)
        heapSize = Int(header.heap_size)
        totalSize = Int(header.total_size)
    }
}
