// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import Testing

@testable import Host

@Suite("Arena layout and configuration")
struct ArenaTests {
    static func align4096(_ n: Int) -> Int { (n + 4095) & ~4095 }

    @Test("the header names magic, version, features and every region: 4096-aligned, in order, covering the arena")
    func header() throws {
        let arena = try makeArena(totalSize: 4 << 20, inbox: 8192, outbox: 2048)
        let header = arena.header
        #expect(header.magic == INOS_ARENA_MAGIC)
        #expect(header.version == INOS_ARENA_LAYOUT_VERSION)
        #expect(header.header_size == UInt32(MemoryLayout<inos_arena_header>.size))
        #expect(MemoryLayout<inos_arena_header>.size == 128)
        #expect(header.features & INOS_ARENA_FEATURE_FUTEX != 0)
        #expect(header.total_size == 4 << 20 && arena.size == 4 << 20)

        let regions = [
            ("switchboard", header.switchboard_offset, header.switchboard_size),
            ("inbox", header.inbox_offset, header.inbox_size),
            ("outbox", header.outbox_offset, header.outbox_size),
            ("heap", header.heap_offset, header.heap_size),
        ]
        var end = UInt64(MemoryLayout<inos_arena_header>.size)
        for (name, offset, size) in regions {
            #expect(offset % UInt64(INOS_ARENA_REGION_ALIGNMENT) == 0, "\(name) offset \(offset)")
            #expect(size % UInt64(INOS_ARENA_REGION_ALIGNMENT) == 0, "\(name) size \(size)")
            #expect(offset >= end, "\(name) overlaps what precedes it")
            #expect(size > 0, "\(name) is empty")
            end = offset + size
        }
        #expect(header.switchboard_offset == 4096, "the header takes one page")
        #expect(header.inbox_offset == header.switchboard_offset + header.switchboard_size)
        #expect(header.outbox_offset == header.inbox_offset + header.inbox_size)
        #expect(header.heap_offset == header.outbox_offset + header.outbox_size)
        #expect(header.heap_offset + header.heap_size == header.total_size)
        #expect(header.switchboard_size >= UInt64(MemoryLayout<inos_switchboard>.size))
        #expect(header.inbox_size == UInt64(Self.align4096(Int(inos_ring_region_size(8192)))))
        #expect(header.outbox_size == UInt64(Self.align4096(Int(inos_ring_region_size(2048)))))
        #expect(arena.heap.statistics.capacity == Int(header.heap_size))

        // The Swift views point at the regions the header names.
        #expect(UnsafeMutableRawPointer(arena.switchboard.raw) == arena.base + Int(header.switchboard_offset))
        #expect(UnsafeMutableRawPointer(arena.inbox.raw) == arena.base + Int(header.inbox_offset))
        #expect(UnsafeMutableRawPointer(arena.outbox.raw) == arena.base + Int(header.outbox_offset))
        #expect(arena.inbox.capacity == 8192 && arena.outbox.capacity == 2048)
    }

    @Test("each magic number reads as the text its header comment gives")
    func magicSpelling() throws {
        #expect(withUnsafeBytes(of: INOS_RING_MAGIC.littleEndian) { String(decoding: $0, as: UTF8.self) } == "RING")
        #expect(withUnsafeBytes(of: INOS_PLUGIN_MAGIC.littleEndian) { String(decoding: $0, as: UTF8.self) } == "INOS")

        let arena = try makeArena()
        let inMemory = UnsafeRawBufferPointer(start: arena.base, count: 8)
        #expect(arena.header.magic == INOS_ARENA_MAGIC)
        #expect(String(decoding: inMemory, as: UTF8.self) == "INOSAREN")
    }

    @Test("the total size rounds up to whole pages; the smallest arena has a one-page heap")
    func sizes() throws {
        let rounded = try makeArena(totalSize: (4 << 20) + 1)
        #expect(rounded.size == (4 << 20) + 4096 && rounded.header.total_size == UInt64(rounded.size))

        // header + switchboard + two 1 KiB rings = 4 pages; one more page is the smallest heap.
        let smallest = try makeArena(totalSize: 5 * 4096, inbox: 1024, outbox: 1024)
        #expect(smallest.header.heap_offset == 4 * 4096)
        #expect(smallest.heap.statistics.capacity == 4096)
        #expect(smallest.heap.largestBlock == 4096)
        #expect(smallest.heap.allocate(4096) == 4 * 4096)
    }

    @Test("the defaults are the documented ones and valid")
    func defaults() {
        let configuration = ArenaConfiguration()
        #expect(configuration.totalSize == 48 << 20)
        #expect(configuration.inboxCapacity == 512 << 10 && configuration.outboxCapacity == 512 << 10)
        #expect(configuration.highWatermark == 0.75 && configuration.lowWatermark == 0.25)
        #expect(configuration.problems().isEmpty)
    }

    @Test("a bad configuration is refused, naming the problem", arguments: [
        (ArenaConfiguration(inboxCapacity: 1000), "inbox ring capacity 1000 must be a power of two of at least 1024 bytes"),
        (ArenaConfiguration(outboxCapacity: 3 << 10), "outbox ring capacity 3072 must be a power of two of at least 1024 bytes"),
        (ArenaConfiguration(inboxCapacity: 512), "inbox ring capacity 512 must be a power of two of at least 1024 bytes"),
        (ArenaConfiguration(inboxCapacity: 0), "inbox ring capacity 0 must be a power of two of at least 1024 bytes"),
        (ArenaConfiguration(inboxCapacity: -4096), "inbox ring capacity -4096 must be a power of two of at least 1024 bytes"),
        (ArenaConfiguration(highWatermark: 0.2, lowWatermark: 0.5), "watermarks must satisfy 0 < low < high <= 1 (low 0.5, high 0.2)"),
        (ArenaConfiguration(highWatermark: 0.5, lowWatermark: 0.5), "watermarks must satisfy 0 < low < high <= 1 (low 0.5, high 0.5)"),
        (ArenaConfiguration(lowWatermark: 0), "watermarks must satisfy 0 < low < high <= 1 (low 0.0, high 0.75)"),
        (ArenaConfiguration(highWatermark: 1.01), "watermarks must satisfy 0 < low < high <= 1 (low 0.25, high 1.01)"),
        (ArenaConfiguration(lowWatermark: .nan), "watermarks must satisfy 0 < low < high <= 1 (low nan, high 0.75)"),
        (ArenaConfiguration(totalSize: 4 * 4096, inboxCapacity: 1024, outboxCapacity: 1024), "arena size 16384 is too small for its rings"),
        (ArenaConfiguration(totalSize: 1 << 20), "arena size 1048576 is too small for its rings"),
        (ArenaConfiguration(totalSize: 0), "arena size 0 is too small for its rings"),
        (ArenaConfiguration(totalSize: -1), "arena size -1 is too small for its rings"),
    ])
    func badConfiguration(configuration: ArenaConfiguration, problem: String) throws {
        // Stop here if the problem is missed: creating the arena would then trap on the bad ring.
        try #require(configuration.problems() == [problem])
        let error = #expect(throws: ArenaError.self) { try Arena(configuration: configuration) }
        guard case .invalidConfiguration(let problems)? = error else {
            Issue.record("expected invalidConfiguration, got \(String(describing: error))")
            return
        }
        #expect(problems == [problem])
        #expect(error?.description == "invalid arena configuration: \(problem)")
    }

    @Test("every problem of a configuration is reported at once")
    func severalProblems() {
        let configuration = ArenaConfiguration(
            totalSize: 1, inboxCapacity: 1000, outboxCapacity: 512, highWatermark: 0.1, lowWatermark: 0.9)
        let error = #expect(throws: ArenaError.self) { try Arena(configuration: configuration) }
        guard case .invalidConfiguration(let problems)? = error else {
            Issue.record("expected invalidConfiguration, got \(String(describing: error))")
            return
        }
        // The size is judged only once the rings and watermarks are valid.
        #expect(problems.count == 3)
        #expect(problems.contains { $0.hasPrefix("inbox ring capacity 1000") })
        #expect(problems.contains { $0.hasPrefix("outbox ring capacity 512") })
        #expect(problems.contains { $0.hasPrefix("watermarks must satisfy") })
    }

    @Test("offsets, not pointers: a second mapping of the memfd sees the same header, records and payloads")
    func secondMapping() throws {
        let arena = try makeArena(inbox: 4096)
        let block = try #require(arena.heap.allocate(1000))
        arena.withBytes(at: block, length: 1000) { bytes in
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 7) }
        }
        var frame = inos_frame_record(connection: 9, offset: UInt64(block), length: 1000)
        #expect(withUnsafeBytes(of: &frame) { arena.inbox.tryWrite(type: INOS_RECORD_FRAME, $0) } == .ok)

        try withSecondMapping(of: arena) { second in
            #expect(second != arena.base)
            let header = second.assumingMemoryBound(to: inos_arena_header.self).pointee
            #expect(header.magic == INOS_ARENA_MAGIC && header.total_size == UInt64(arena.size))
            let ring = Ring(borrowing: (second + Int(header.inbox_offset)).assumingMemoryBound(to: inos_ring.self))
            var payloadIntact = false
            let handled = ring.drain(limit: 2) { type, bytes in
                guard type == INOS_RECORD_FRAME, bytes.count == MemoryLayout<inos_frame_record>.size else { return }
                let record = bytes.loadUnaligned(as: inos_frame_record.self)
                let payload = UnsafeRawBufferPointer(start: second + Int(record.offset), count: Int(record.length))
                payloadIntact = record.connection == 9 && payload.enumerated().allSatisfy { $1 == UInt8(truncatingIfNeeded: $0 &* 7) }
            }
            #expect(handled == 1)
            #expect(payloadIntact)
        }
        #expect(arena.inbox.usedBytes == 0, "the consumer in the other mapping released the space")
    }

    @Test("withBytes refuses a range outside the arena")
    func withBytesOutOfBoundsTraps() async {
        await #expect(processExitsWith: .failure) {
            let arena = try! makeArena()
            arena.withBytes(at: arena.size - 8, length: 16) { _ in }
        }
        await #expect(processExitsWith: .failure) {
            let arena = try! makeArena()
            arena.withBytes(at: -1, length: 1) { _ in }
        }
    }

    @Test("configurations too large for the address space are refused, not trapped on")
    func hugeConfiguration() async {
        await #expect(processExitsWith: .success) {
            _ = ArenaConfiguration(totalSize: .max).problems()
        }
        await #expect(processExitsWith: .success) {
            _ = ArenaConfiguration(inboxCapacity: 1 << 62, outboxCapacity: 1 << 62).problems()
        }
        #expect(ArenaConfiguration(totalSize: .max).problems() == ["arena size \(Int.max) exceeds the maximum of 1099511627776 bytes"])
        #expect(ArenaConfiguration(inboxCapacity: 1 << 62).problems() == ["inbox ring capacity 4611686018427387904 exceeds the maximum of 1073741824 bytes"])
        #expect(throws: ArenaError.self) { try Arena(configuration: ArenaConfiguration(totalSize: .max)) }
    }

    @Test("attaching another process' arena checks its header, borrows its rings and allocates only in its lease")
    func attach() throws {
        let arena = try makeArena(totalSize: 4 << 20, inbox: 8192, outbox: 2048)
        let lease = try #require(arena.heap.allocate(64 << 10))
        let leaseRange = lease..<(lease + 64 << 10)
        let attached = try Arena(attaching: fcntl(arena.fileDescriptor, F_DUPFD_CLOEXEC, 0), writable: [leaseRange], heapLease: leaseRange)
        #expect(attached.base != arena.base && attached.size == arena.size)
        #expect(attached.configuration == arena.configuration)
        #expect(attached.inbox.capacity == 8192 && attached.outbox.capacity == 2048)
        #expect(attached.heap.statistics.capacity == 64 << 10)
        // The attached heap hands out blocks of the lease only; what is written there the creator reads.
        var blocks: [Int] = []
        while let block = attached.heap.allocate(4096) { blocks.append(block) }
        #expect(blocks.count == 16 && blocks.allSatisfy { leaseRange.contains($0) })
        attached.withBytes(at: blocks[3], length: 4) { $0.copyBytes(from: [1, 2, 3, 4]) }
        #expect(arena.withBytes(at: blocks[3], length: 4) { Array($0) } == [1, 2, 3, 4])
        // Records the creator writes, the attached side reads in place.
        #expect(arena.inbox.tryWrite(type: 7, UnsafeRawBufferPointer(start: nil, count: 0)) == .ok)
        #expect(attached.inbox.usedBytes == arena.inbox.usedBytes && attached.inbox.usedBytes > 0)
    }

    @Test("attaching refuses what is not an arena, and writable ranges that are not page-aligned parts of the heap")
    func attachRefused() throws {
        let other = try sysMemfdCreate("not-an-arena")
        try sysFtruncate(other, 1 << 20)
        let notArena = #expect(throws: ArenaError.self) { try Arena(attaching: other, writable: [], heapLease: 0..<256) }
        #expect(notArena?.description.contains("is not an INOS arena") == true, "\(notArena?.description ?? "")")

        let arena = try makeArena()
        let heapStart = Int(arena.header.heap_offset)
        for (writable, lease) in [
            ([(heapStart + 256)..<(heapStart + 8192)], (heapStart + 256)..<(heapStart + 512)),  // not page-aligned
            ([0..<4096], 0..<256),  // the header, not the heap
            ([heapStart..<(heapStart + 4096)], (heapStart + 8192)..<(heapStart + 8448)),  // lease outside the writable range
        ] {
            let error = #expect(throws: ArenaError.self) {
                try Arena(attaching: fcntl(arena.fileDescriptor, F_DUPFD_CLOEXEC, 0), writable: writable, heapLease: lease)
            }
            #expect(error != nil, "\(writable) \(lease)")
        }
    }
}
