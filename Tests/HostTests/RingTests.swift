// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import PluginABI
import Testing

@testable import Host

@Suite("SPSC ring")
struct RingTests {
    // MARK: Payloads

    /// Random bytes; record `n` carries a slice of it that starts at an offset derived from n, so a record
    /// delivered in the wrong place, twice, or torn shows up as wrong bytes.
    static let pattern: [UInt8] = {
        var random = SeededRandom(seed: 0x52_49_4E_47)
        return (0..<512).map { _ in UInt8.random(in: 0...255, using: &random) }
    }()

    static func patternStart(_ n: UInt64) -> Int { Int(n % 257) }

    /// 0...200 bytes, scrambled so consecutive records differ in size and the ring wraps at every offset.
    static func payloadLength(_ n: UInt64) -> Int {
        var mixed = n &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        return Int(mixed % 201)
    }

    static func align8(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Writes record `serial` (type = serial, bytes from the pattern). Published at once, it alternates the
    /// copying write and the in-place claim so both producer paths are exercised; unpublished, it is a claim
    /// that the consumer sees only after the next `publish()`.
    static func write(_ ring: Ring, serial: UInt64, length: Int, publish: Bool = true) -> RingStatus {
        pattern.withUnsafeBytes { pattern in
            let source = UnsafeRawBufferPointer(rebasing: pattern[patternStart(serial)..<patternStart(serial) + length])
            let type = Int32(truncatingIfNeeded: serial & 0x7FFF_FFFF)
            if publish && serial % 2 == 0 { return ring.tryWrite(type: type, source) }
            return ring.tryWrite(type: type, length: length, publish: publish) { destination in
                destination.copyMemory(from: source)
            }
        }
    }

    /// Whether `bytes` are exactly the payload of record `serial` with `length` bytes.
    static func isPayload(_ bytes: UnsafeRawBufferPointer, of serial: UInt64, length: Int) -> Bool {
        guard bytes.count == length else { return false }
        guard length > 0 else { return true }
        return pattern.withUnsafeBytes { memcmp(bytes.baseAddress!, $0.baseAddress! + patternStart(serial), length) == 0 }
    }

    // MARK: Two threads

    /// Records per ring size for the two-thread test: 4 million take 1 to 3 s in a debug build on two cores.
    #if DEBUG
    static let threadedRecordCount: UInt64 = 4_000_000
    #else
    static let threadedRecordCount: UInt64 = 20_000_000
    #endif

    @Test(
        "one producer and one consumer thread, millions of records: no loss, duplication, reordering or corruption",
        arguments: [2 << 10, 64 << 10])  // 2 KiB (largest record 248 bytes) wraps and fills constantly
    func producerAndConsumerThreads(ringCapacity: Int) throws {
        let arena = try makeArena(inbox: ringCapacity)
        let ring = arena.inbox
        let total = Self.threadedRecordCount
        let fullCount = Box(0)
        let producer = JoinableThread {
            var full = 0
            var n: UInt64 = 0
            var unpublished = 0
            while n < total {
                // Alternate phases of 5000 records: each record published, then batches of 1...32 published
                // together (a full ring publishes what is pending by itself).
                let batched = (n / 5000) % 2 == 1
                switch Self.write(ring, serial: n, length: Self.payloadLength(n), publish: !batched) {
                case .ok:
                    n += 1
                    if batched {
                        unpublished += 1
                        if unpublished > Self.payloadLength(n) % 32 {
                            ring.publish()
                            unpublished = 0
                        }
                    }
                case .full:
                    full += 1
                    unpublished = 0
                    sched_yield()
                case .invalidArgument: preconditionFailure("record \(n) refused")
                }
            }
            ring.publish()
            fullCount.value = full
        }

        var expected: UInt64 = 0
        var mismatches = 0
        var firstMismatch: String?
        var round = 0
        while expected < total {
            round += 1
            let producerDone = producer.isFinished  // read before the drain: nothing can arrive after it
            // Vary the batch so head is released after 1, 2, ... 37 records or everything available. Every
            // drain is bounded (a ring never holds more than capacity / 8 records), so a broken ring fails
            // the test rather than feeding it garbage forever.
            let limit = round % 5 == 0 ? ring.capacity / 8 : round % 37 + 1
            let handled = ring.drain(limit: limit) { type, bytes in
                let n = expected
                if type != Int32(truncatingIfNeeded: n) || !Self.isPayload(bytes, of: n, length: Self.payloadLength(n)) {
                    mismatches += 1
                    if firstMismatch == nil {
                        firstMismatch = "record \(n): type \(type), \(bytes.count) bytes (want \(Self.payloadLength(n)))"
                    }
                }
                expected = type >= 0 ? UInt64(type) + 1 : n + 1  // resynchronise on the sequence actually seen
            }
            if mismatches > 1000 { break }
            if handled == 0 {
                if producerDone { break }  // records lost at the end: stop instead of waiting forever
                sched_yield()
            }
        }
        var discarded = 0
        while !producer.isFinished {  // only after a failure: let a producer blocked on .full finish
            discarded += ring.drain(limit: ring.capacity / 8) { _, _ in }
            sched_yield()
        }
        producer.join()

        #expect(mismatches == 0, "first: \(firstMismatch ?? "-")")
        #expect(discarded == 0)
        #expect(expected == total)
        #expect(ring.drain(limit: ring.capacity / 8) { _, _ in } == 0, "a record after the last one")
        #expect(ring.usedBytes == 0)
        // Not asserted (it depends on scheduling), but shown: how often the producer met backpressure.
        print("ring of \(ringCapacity) bytes: \(total) records, producer saw .full \(fullCount.value) times")
    }

    // MARK: Wraparound

    /// Writes and drains filler records until the producer's next write lands at `index`.
    @discardableResult
    static func advance(_ ring: Ring, to index: Int) -> Bool {
        let capacity = ring.capacity
        var at = Int(ring.raw.pointee.tail) & (capacity - 1)
        while at != index {
            let distance = (index - at + capacity) & (capacity - 1)
            let chunk = min(distance, ring.maxRecordLength + 8, capacity - at)  // never needs padding
            let status = [UInt8](repeating: 0xEE, count: chunk - 8).withUnsafeBytes {
                ring.tryWrite(type: 0x7FFF_FFFF, $0)
            }
            guard status == .ok, ring.drain(limit: ring.capacity / 8, { _, _ in }) == 1 else { return false }
            at = (at + chunk) & (capacity - 1)
        }
        return ring.usedBytes == 0
    }

    @Test("every record size crosses the end of a 1 KiB ring from every 8-byte start offset")
    func wraparoundEverySizeEveryOffset() throws {
        let arena = try makeArena(inbox: 1024)
        let ring = arena.inbox
        let capacity = ring.capacity
        let buffer = UnsafeRawPointer(inos_ring_buffer(ring.raw)!)
        var failures: [String] = []
        var scenarios = 0
        var paddedWrites = 0
        var serial: UInt64 = 0

        sizes: for length in 0...ring.maxRecordLength {
            let recordSize = Self.align8(length + 8)
            for start in stride(from: 0, to: capacity, by: 8) {
                scenarios += 1
                guard Self.advance(ring, to: start) else {
                    failures.append("size \(length): cannot position the ring at \(start)")
                    break sizes
                }
                var inFlight: [UInt64] = []
                func drainAndCheck() {
                    var index = 0
                    ring.drain(limit: inFlight.count + 1) { type, bytes in
                        defer { index += 1 }
                        guard index < inFlight.count else {
                            failures.append("size \(length) start \(start): extra record of type \(type)")
                            return
                        }
                        let n = inFlight[index]
                        if type != Int32(n) || !Self.isPayload(bytes, of: n, length: length) {
                            failures.append("size \(length) start \(start): record \(n) read as type \(type), \(bytes.count) bytes")
                        }
                    }
                    if index != inFlight.count {
                        failures.append("size \(length) start \(start): drained \(index) of \(inFlight.count)")
                    }
                    inFlight.removeAll()
                }

                // Write until one record meets or crosses the end, then two more (so records sit on both sides).
                var crossed = false
                var afterCrossing = 0
                while afterCrossing < 3 {
                    if ring.usedBytes > capacity / 2 { drainAndCheck() }  // keep room: every write below must fit
                    let tail = Int(ring.raw.pointee.tail)
                    let index = tail & (capacity - 1)
                    let toEnd = capacity - index
                    let usedBefore = ring.usedBytes
                    let status = Self.write(ring, serial: serial, length: length)
                    guard status == .ok else {
                        failures.append("size \(length) start \(start): write returned \(status)")
                        break
                    }
                    let advance = recordSize <= toEnd ? recordSize : toEnd + recordSize
                    if Int(ring.raw.pointee.tail) != tail + advance || ring.usedBytes != usedBefore + advance {
                        failures.append("size \(length) at \(index): tail moved \(Int(ring.raw.pointee.tail) - tail), want \(advance)")
                    }
                    if recordSize > toEnd {
                        // A padding record {to_end, INOS_RING_TYPE_PADDING} fills the end; the record starts at 0.
                        let padLength = buffer.loadUnaligned(fromByteOffset: index, as: Int32.self)
                        let padType = buffer.loadUnaligned(fromByteOffset: index + 4, as: Int32.self)
                        let header = buffer.loadUnaligned(fromByteOffset: 0, as: Int32.self)
                        if padLength != Int32(toEnd) || padType != INOS_RING_TYPE_PADDING || header != Int32(length + 8) {
                            failures.append("size \(length) at \(index): padding {\(padLength), \(padType)}, header \(header)")
                        }
                        paddedWrites += 1
                    } else {
                        let header = buffer.loadUnaligned(fromByteOffset: index, as: Int32.self)
                        if header != Int32(length + 8) {
                            failures.append("size \(length) at \(index): header length \(header)")
                        }
                    }
                    if recordSize >= toEnd { crossed = true }
                    if crossed { afterCrossing += 1 }
                    inFlight.append(serial)
                    serial += 1
                }
                drainAndCheck()
                if !crossed { failures.append("size \(length) start \(start): never reached the end") }
                if ring.usedBytes != 0 { failures.append("size \(length) start \(start): \(ring.usedBytes) bytes left") }
                if failures.count > 20 { break sizes }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5))")
        #expect(scenarios == (ring.maxRecordLength + 1) * (capacity / 8))
        #expect(paddedWrites > 0)
    }

    @Test("a record that needs padding counts the padding when deciding whether it fits")
    func paddingCountsAgainstFreeSpace() throws {
        let arena = try makeArena(inbox: 1024)
        let ring = arena.inbox
        // head at 120, tail at 960: 840 bytes used, 184 free, 64 before the end.
        #expect(Self.advance(ring, to: 120))
        for n in 0..<7 { #expect(Self.write(ring, serial: UInt64(n), length: 112) == .ok) }  // 7 × 120 bytes
        #expect(ring.usedBytes == 840)
        let tail = ring.raw.pointee.tail

        // 128 bytes would fit in 184, but not with the 64 bytes of padding in front of it.
        #expect(Self.write(ring, serial: 7, length: 120) == .full)
        var called = false
        #expect(ring.tryWrite(type: 1, length: 120) { _ in called = true } == .full)
        #expect(!called, "the claim body must not run when there is no room")
        #expect(ring.raw.pointee.tail == tail, "a refused write must not move tail")

        // A 64-byte record ends exactly at the end of the buffer: no padding, so it fits.
        #expect(Self.write(ring, serial: 7, length: 56) == .ok)
        #expect(ring.usedBytes == 904)

        // Releasing one record (120 bytes) makes room for padding (0 bytes: tail is at the end now) + 128.
        var first: [Int32] = []
        #expect(ring.drain(limit: 1) { type, _ in first.append(type) } == 1)
        #expect(first == [0])
        #expect(Self.write(ring, serial: 8, length: 120) == .ok)
        var types: [Int32] = []
        ring.drain(limit: ring.capacity / 8) { type, _ in types.append(type) }
        #expect(types == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(ring.usedBytes == 0)
    }

    // MARK: Batched publishing

    @Test("records written without publishing stay invisible until publish(), then arrive in order")
    func batchedPublish() throws {
        let arena = try makeArena(inbox: 4096)
        let ring = arena.inbox
        for n: UInt64 in 0..<5 { #expect(Self.write(ring, serial: n, length: 10, publish: false) == .ok) }
        #expect(ring.usedBytes == 0, "usedBytes counts published records only")
        #expect(ring.drain(limit: 100) { _, _ in } == 0, "the consumer must not see unpublished records")
        ring.publish()
        #expect(ring.usedBytes == 5 * 24)
        ring.publish()  // publishing twice changes nothing
        #expect(ring.usedBytes == 5 * 24)

        // A published write also publishes the claims before it.
        #expect(Self.write(ring, serial: 5, length: 3, publish: false) == .ok)
        #expect(Self.write(ring, serial: 6, length: 3) == .ok)  // the copying write
        var types: [Int32] = []
        ring.drain(limit: 100) { type, bytes in
            #expect(Self.isPayload(bytes, of: UInt64(type), length: type < 5 ? 10 : 3))
            types.append(type)
        }
        #expect(types == [0, 1, 2, 3, 4, 5, 6])
        #expect(ring.usedBytes == 0)
    }

    @Test("a claim that finds the ring full publishes the pending batch, so a batch never waits on itself")
    func fullClaimPublishesPending() throws {
        let arena = try makeArena(inbox: 1024)
        let ring = arena.inbox
        var written: UInt64 = 0
        while Self.write(ring, serial: written, length: 56, publish: false) == .ok {
            written += 1
            if written < 16 { #expect(ring.usedBytes == 0) }
        }
        #expect(written == 16)
        #expect(ring.usedBytes == 1024, "the refused claim published the 16 pending records")
        var types: [Int32] = []
        ring.drain(limit: 100) { type, _ in types.append(type) }
        #expect(types == (0..<16).map { $0 })
        #expect(Self.write(ring, serial: 16, length: 56, publish: false) == .ok)
        ring.publish()
        types = []
        ring.drain(limit: 100) { type, _ in types.append(type) }
        #expect(types == [16])
    }

    // MARK: Backpressure and arguments

    @Test("a full ring says .full (backpressure, nothing written) and accepts again after a drain")
    func fullRingAndRecovery() throws {
        let arena = try makeArena(inbox: 1024)
        let ring = arena.inbox
        var written: UInt64 = 0
        while Self.write(ring, serial: written, length: 56) == .ok { written += 1 }  // 64-byte records
        #expect(written == 1024 / 64)
        #expect(ring.fill == 1.0)
        #expect(ring.usedBytes == ring.capacity)
        // Even the smallest record is refused, repeatedly, and the refusal changes nothing.
        for _ in 0..<3 { #expect([UInt8]().withUnsafeBytes { ring.tryWrite(type: 0, $0) } == .full) }
        #expect(ring.usedBytes == ring.capacity)

        // A drain of 3 frees exactly 3 slots.
        #expect(ring.drain(limit: 3) { _, _ in } == 3)
        for n in written..<written + 3 { #expect(Self.write(ring, serial: n, length: 56) == .ok) }
        #expect(Self.write(ring, serial: written + 3, length: 56) == .full)

        var seen: [Int32] = []
        ring.drain(limit: ring.capacity / 8) { type, bytes in
            #expect(Self.isPayload(bytes, of: UInt64(type), length: 56))
            seen.append(type)
        }
        #expect(seen == (3..<Int32(written) + 3).map { $0 })
    }

    @Test("an oversized record or a negative type is .invalidArgument and writes nothing")
    func invalidArguments() throws {
        let arena = try makeArena(inbox: 4096)
        let ring = arena.inbox
        let max = ring.maxRecordLength
        #expect(max == 4096 / 8 - 8)
        let big = [UInt8](repeating: 1, count: max + 1)
        #expect(big.withUnsafeBytes { ring.tryWrite(type: 1, $0) } == .invalidArgument)
        #expect(big.withUnsafeBytes { ring.tryWrite(type: 1, UnsafeRawBufferPointer(rebasing: $0[0..<max])) } == .ok)
        var called = false
        #expect(ring.tryWrite(type: 1, length: max + 1) { _ in called = true } == .invalidArgument)
        #expect(ring.tryWrite(type: -1, length: 0) { _ in called = true } == .invalidArgument)
        #expect(!called)
        for type in [Int32(-1), INOS_RING_TYPE_PADDING, -2, .min] {
            #expect([UInt8]().withUnsafeBytes { ring.tryWrite(type: type, $0) } == .invalidArgument)
        }
        #expect([UInt8]().withUnsafeBytes { ring.tryWrite(type: 0, $0) } == .ok)
        #expect([UInt8]().withUnsafeBytes { ring.tryWrite(type: .max, $0) } == .ok)
        var types: [Int32] = []
        ring.drain(limit: ring.capacity / 8) { type, _ in types.append(type) }
        #expect(types == [1, 0, .max])
    }

    // MARK: Accounting

    @Test("usedBytes and fill follow every write, count padding, and drop when a drain releases")
    func usedBytesAndFill() throws {
        let arena = try makeArena(inbox: 4096)
        let ring = arena.inbox
        #expect(ring.usedBytes == 0 && ring.fill == 0)
        var expectedUsed = 0
        var sizes: [Int] = []
        for length in [0, 1, 7, 8, 9, 100, 200, 504, 3] {
            #expect(Self.write(ring, serial: UInt64(sizes.count), length: length) == .ok)
            sizes.append(Self.align8(length + 8))
            expectedUsed += Self.align8(length + 8)
            #expect(ring.usedBytes == expectedUsed)
            #expect(ring.fill == Double(expectedUsed) / 4096)
        }
        // The space of drained records is released in one store after the batch, not record by record.
        let handled = ring.drain(limit: 4) { _, _ in #expect(ring.usedBytes == expectedUsed) }
        #expect(handled == 4)
        expectedUsed -= sizes[0..<4].reduce(0, +)
        #expect(ring.usedBytes == expectedUsed)
        #expect(ring.drain(limit: 0) { _, _ in Issue.record("limit 0 handed out a record") } == 0)
        ring.drain(limit: ring.capacity / 8) { _, _ in }
        #expect(ring.usedBytes == 0 && ring.fill == 0)
        #expect(ring.drain(limit: ring.capacity / 8) { _, _ in Issue.record("empty ring handed out a record") } == 0)

        // Padding is space in use until the record behind it is drained.
        #expect(Self.advance(ring, to: 4096 - 16))
        #expect(Self.write(ring, serial: 0, length: 100) == .ok)  // 16 bytes of padding + 112
        #expect(ring.usedBytes == 16 + 112)
        ring.drain(limit: ring.capacity / 8) { _, _ in }
        #expect(ring.usedBytes == 0)
    }

    // MARK: Layout

    @Test("ring header and record format match inos_arena.h")
    func layout() throws {
        #expect(MemoryLayout<inos_ring_config>.size == 32)
        #expect(MemoryLayout<inos_ring>.offset(of: \.tail) == 128)
        #expect(MemoryLayout<inos_ring>.offset(of: \.head) == 256)
        #expect(MemoryLayout<inos_ring>.offset(of: \.producer_cached_head) == 384)
        #expect(MemoryLayout<inos_ring>.offset(of: \.producer_position) == 392)
        #expect(MemoryLayout<inos_ring>.offset(of: \.consumer_cached_tail) == 512)
        #expect(MemoryLayout<inos_ring>.size == 640)
        #expect(inos_ring_region_size(1024) == 640 + 1024)

        let arena = try makeArena(inbox: 8192, outbox: 1024)
        for (ring, capacity) in [(arena.inbox, 8192), (arena.outbox, 1024)] {
            let config = ring.raw.pointee.config
            #expect(config.magic == INOS_RING_MAGIC)
            #expect(config.capacity == UInt64(capacity))
            #expect(config.mask == UInt64(capacity - 1))
            #expect(config.max_record == UInt64(capacity / 8) - UInt64(INOS_RING_RECORD_HEADER))
            #expect(ring.capacity == capacity && ring.maxRecordLength == capacity / 8 - 8)
            #expect(ring.raw.pointee.head == 0 && ring.raw.pointee.tail == 0)
            #expect(Int(bitPattern: ring.raw) % 128 == 0)
        }

        // A record is {int32 length + 8, int32 type} then the payload, padded to 8 bytes.
        let ring = arena.inbox
        #expect([UInt8]([0xAB]).withUnsafeBytes { ring.tryWrite(type: 42, $0) } == .ok)
        let bytes = UnsafeRawPointer(inos_ring_buffer(ring.raw)!)
        #expect(bytes.load(fromByteOffset: 0, as: Int32.self) == 9)
        #expect(bytes.load(fromByteOffset: 4, as: Int32.self) == 42)
        #expect(bytes.load(fromByteOffset: 8, as: UInt8.self) == 0xAB)
        #expect(ring.raw.pointee.tail == 16)

        // Another view of the same ring (as a second process would have) reads the same record.
        let view = Ring(borrowing: ring.raw)
        var records: [(Int32, [UInt8])] = []
        view.drain(limit: view.capacity / 8) { type, data in records.append((type, data.count <= 8 ? Array(data) : [])) }
        #expect(records.count == 1 && records.first?.0 == 42 && records.first?.1 == [0xAB])
        #expect(ring.usedBytes == 0)
    }

    @Test("inos_ring_init refuses capacities that are not powers of two of at least 1024")
    func ringInit() {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 640 + 4096, alignment: 128)
        defer { storage.deallocate() }
        let ring = storage.bindMemory(to: inos_ring.self, capacity: 1)
        for bad: UInt64 in [0, 512, 1000, 1025, 3072] {
            #expect(inos_ring_init(ring, bad) == INOS_ERR_INVALID_ARGUMENT, "capacity \(bad)")
        }
        #expect(inos_ring_init(ring, 4096) == INOS_OK)
        #expect(Ring(borrowing: ring).capacity == 4096)
    }

    @Test("borrowing memory that is not a ring traps")
    func borrowingNonRingTraps() async {
        await #expect(processExitsWith: .failure) {
            let storage = UnsafeMutableRawPointer.allocate(byteCount: 640, alignment: 128)
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: 640)
            _ = Ring(borrowing: storage.bindMemory(to: inos_ring.self, capacity: 1))
        }
    }
}
