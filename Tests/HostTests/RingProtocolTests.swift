// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import Synchronization
import Testing

@testable import Host

@Suite("SPSC ring protocol")
struct RingProtocolTests {
    static func arena(ring: Int = 64 << 10) throws -> Arena {
        try Arena(configuration: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: ring, outboxCapacity: 4096))
    }

    /// The payload of record `n`: its length and bytes are derived from n, so the consumer can check both.
    static func payloadLength(_ n: UInt64) -> Int { Int(n % 201) }

    @Test("two threads, millions of records: no loss, duplication, reordering or corruption")
    func twoThreads() throws {
        let arena = try Self.arena()
        let ring = arena.inbox
        let total: UInt64 = 2_000_000
        let producer = Thread {
            var scratch = [UInt8](repeating: 0, count: 8 + 200)
            var n: UInt64 = 0
            while n < total {
                let length = 8 + Self.payloadLength(n)
                scratch.withUnsafeMutableBytes { raw in
                    raw.storeBytes(of: n, as: UInt64.self)
                    for i in 8..<length { raw[i] = UInt8(truncatingIfNeeded: n &+ UInt64(i)) }
                }
                let status = scratch.withUnsafeBytes { ring.tryWrite(type: Int32(n % 1000), UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
                if status == .ok { n += 1 } else { sched_yield() }
            }
        }
        producer.start()
        var expected: UInt64 = 0
        var problems = 0
        while expected < total {
            let handled = ring.drain { type, bytes in
                let n = bytes.loadUnaligned(as: UInt64.self)
                if n != expected || type != Int32(n % 1000) || bytes.count != 8 + Self.payloadLength(n) { problems += 1 }
                for i in 8..<bytes.count where bytes[i] != UInt8(truncatingIfNeeded: n &+ UInt64(i)) { problems += 1 }
                expected = n + 1
            }
            if handled == 0 { sched_yield() }
        }
        #expect(problems == 0)
        #expect(expected == total)
        #expect(ring.usedBytes == 0)
    }

    @Test("every record size wraps correctly at every alignment of a small ring")
    func wraparound() throws {
        let arena = try Self.arena(ring: 1024)
        let ring = arena.inbox
        let maxLength = ring.maxRecordLength
        #expect(maxLength == 1024 / 8 - 8)
        // For each record size, write and read enough records to pass the end of the ring many times,
        // starting from every 8-byte offset the previous size left behind.
        var sequence: UInt8 = 0
        for length in 0...maxLength {
            for _ in 0..<(2048 / max(8, length + 8) + 3) {
                let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0) &+ sequence }
                #expect(bytes.withUnsafeBytes { ring.tryWrite(type: Int32(length), $0) } == .ok)
                var seen = 0
                ring.drain { type, read in
                    seen += 1
                    #expect(type == Int32(length))
                    #expect(Array(read) == bytes)
                }
                #expect(seen == 1)
                sequence &+= 1
            }
        }
        #expect(ring.usedBytes == 0)
    }

    @Test("a full ring says full (backpressure), then accepts again after a drain")
    func fullAndInvalid() throws {
        let arena = try Self.arena(ring: 1024)
        let ring = arena.inbox
        var written = 0
        while [UInt8](repeating: 1, count: 56).withUnsafeBytes({ ring.tryWrite(type: 1, $0) }) == .ok { written += 1 }
        #expect(written == 1024 / 64)
        #expect(ring.fill == 1.0)
        #expect([UInt8](repeating: 1, count: 56).withUnsafeBytes { ring.tryWrite(type: 1, $0) } == .full)
        #expect(ring.drain(limit: 3) { _, _ in } == 3)
        #expect([UInt8](repeating: 1, count: 56).withUnsafeBytes { ring.tryWrite(type: 1, $0) } == .ok)
        #expect([UInt8](repeating: 0, count: ring.maxRecordLength + 1).withUnsafeBytes { ring.tryWrite(type: 1, $0) } == .invalidArgument)
        #expect([UInt8]().withUnsafeBytes { ring.tryWrite(type: -3, $0) } == .invalidArgument)
    }

    @Test("in-place claims write the payload where the consumer reads it")
    func claimInPlace() throws {
        let arena = try Self.arena()
        let ring = arena.inbox
        #expect(ring.tryWrite(type: 9, length: 24) { buffer in
            for i in 0..<24 { buffer[i] = UInt8(i * 3) }
        } == .ok)
        ring.drain { type, bytes in
            #expect(type == 9)
            #expect(Array(bytes) == (0..<24).map { UInt8($0 * 3) })
        }
    }

    @Test("the arena header describes every region, 4096-aligned and in order")
    func arenaHeader() throws {
        let arena = try Arena(configuration: ArenaConfiguration())
        let header = arena.header
        #expect(header.magic == INOS_ARENA_MAGIC)
        #expect(header.version == INOS_ARENA_LAYOUT_VERSION)
        #expect(header.total_size == 48 << 20)
        let regions = [
            (header.switchboard_offset, header.switchboard_size), (header.inbox_offset, header.inbox_size),
            (header.outbox_offset, header.outbox_size), (header.heap_offset, header.heap_size),
        ]
        for (index, (offset, size)) in regions.enumerated() {
            #expect(offset % 4096 == 0)
            if index > 0 { #expect(offset == regions[index - 1].0 + regions[index - 1].1) }
            #expect(size > 0)
        }
        #expect(header.heap_offset + header.heap_size == header.total_size)
        #expect(arena.inbox.raw.pointee.config.magic == INOS_RING_MAGIC)
        #expect(arena.inbox.capacity == 512 << 10)
    }

    @Test("bad arena configurations are refused with the reason", arguments: [
        (ArenaConfiguration(inboxCapacity: 1000), "power of two"),
        (ArenaConfiguration(highWatermark: 0.2, lowWatermark: 0.5), "watermarks"),
        (ArenaConfiguration(totalSize: 1 << 20, inboxCapacity: 1 << 20), "too small"),
    ])
    func badConfiguration(configuration: ArenaConfiguration, reason: String) {
        let error = #expect(throws: ArenaError.self) { try Arena(configuration: configuration) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }
}
