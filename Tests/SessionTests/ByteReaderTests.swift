// SPDX-License-Identifier: Apache-2.0
import Primitives
import Testing
import Wire

@Suite("Values from peers: ByteReader and saturating arithmetic")
struct ByteReaderTests {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    @Test("integers of every width read back at 0, 1, max − 1 and max; one byte short is nil and reads nothing")
    func integers() {
        func check<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) {
            for value in [T(0), 1, T.max - 1, T.max] {
                var reader = ByteReader(Self.le(value))
                #expect(reader.read(T.self) == value)
                #expect(reader.atEnd)
                var short = ByteReader(Array(Self.le(value).dropLast()))
                #expect(short.read(T.self) == nil)
                #expect(short.consumed == 0)
            }
        }
        check(UInt8.self)
        check(UInt16.self)
        check(UInt32.self)
        check(UInt64.self)
        var empty = ByteReader([])
        #expect(empty.read(UInt8.self) == nil && empty.atEnd)
    }

    @Test("Lamport times up to 2^62 are read; 2^62 + 1, max − 1 and max are refused without consuming")
    func lamport() {
        let limit = WireLimits.maximumLamport
        #expect(limit == 1 << 62)
        for value in [UInt64(0), 1, limit - 1, limit] {
            var reader = ByteReader(Self.le(value))
            #expect(reader.lamport() == value)
        }
        for value in [limit + 1, UInt64.max - 1, UInt64.max] {
            var reader = ByteReader(Self.le(value))
            #expect(reader.lamport() == nil)
            #expect(reader.consumed == 0)
        }
    }

    @Test("a claimed count is checked against its maximum and the bytes present, before anything is allocated")
    func counts() {
        // Three 4-byte elements follow a u32 count.
        let body = [UInt8](repeating: 0, count: 12)
        for (claimed, expected) in [(UInt32(0), 0 as Int?), (1, 1), (3, 3), (4, nil), (UInt32.max - 1, nil), (UInt32.max, nil)] {
            var reader = ByteReader(Self.le(claimed) + body)
            #expect(reader.count(UInt32.self, max: 1 << 20, elementSize: 4) == expected)
            if expected == nil { #expect(reader.consumed == 0) }
        }
        var capped = ByteReader(Self.le(UInt16(3)) + body)
        #expect(capped.count(UInt16.self, max: 2, elementSize: 4) == nil)
        // 2^45 claimed, or a count × size that overflows Int: refused, not multiplied.
        let reader = ByteReader(body)
        #expect(reader.check(count: UInt64(1) << 45, max: .max, elementSize: 35) == nil)
        #expect(reader.check(count: UInt64.max, max: .max, elementSize: 1) == nil)
        #expect(reader.check(count: Int.max, max: .max, elementSize: 2) == nil)
        #expect(reader.check(count: -1, max: .max, elementSize: 1) == nil)
        #expect(reader.check(count: UInt64(12), max: .max, elementSize: 1) == 12)
    }

    @Test("byte strings: negative or excess lengths are nil; length prefixes of 0, 1, max − 1 and max")
    func byteStrings() {
        var reader = ByteReader([1, 2, 3])
        #expect(reader.bytes(-1) == nil)
        #expect(reader.bytes(4) == nil)
        #expect(reader.bytes(3).map(Array.init) == [1, 2, 3])
        for length in [0, 1, 254, 255] {
            var prefixed = ByteReader([UInt8(length)] + [UInt8](repeating: 9, count: length))
            #expect(prefixed.prefixed(UInt8.self)?.count == length)
            var short = ByteReader([UInt8(length)] + [UInt8](repeating: 9, count: max(0, length - 1)))
            #expect(length == 0 || short.prefixed(UInt8.self) == nil)
        }
        var huge = ByteReader(Self.le(UInt32.max) + [1, 2, 3])
        #expect(huge.prefixed(UInt32.self) == nil)
        #expect(huge.consumed == 0)
        var capped = ByteReader(Self.le(UInt32(3)) + [1, 2, 3])
        #expect(capped.prefixed(UInt32.self, max: 2) == nil)
    }

    @Test("varints: 0, 1, 2^63 − 1 read back; 2^63 (ten bytes), non-minimal and truncated ones are nil")
    func varints() {
        func encode(_ value: UInt64) -> [UInt8] {
            var value = value, out: [UInt8] = []
            while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
            return out + [UInt8(value)]
        }
        let values: [UInt64] = [0, 1, 127, 128, (1 << 63) - 2, (1 << 63) - 1]
        for value in values {
            var reader = ByteReader(encode(value))
            #expect(reader.varint() == value)
            #expect(reader.atEnd)
        }
        let bad: [[UInt8]] = [encode(1 << 63), encode(.max), [0x80, 0x00], [0x80], []]
        for bad in bad {
            var reader = ByteReader(bad)
            #expect(reader.varint() == nil)
            #expect(reader.consumed == 0)
        }
    }

    @Test("saturating arithmetic stops at the bounds instead of trapping")
    func saturation() {
        #expect(UInt64.max.saturatingAdd(1) == .max)
        #expect((UInt64.max - 1).saturatingAdd(1) == .max)
        #expect(UInt64(0).saturatingAdd(1) == 1)
        #expect(UInt32.max.saturatingAdd(0) == .max)
        #expect(Int.min.saturatingAdd(-1) == .min)
        #expect(UInt64.max.saturatingMultiply(2) == .max)
        #expect(Int.max.saturatingMultiply(-2) == .min)
        #expect(UInt64(3).saturatingMultiply(4) == 12)
    }
}
