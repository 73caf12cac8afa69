// SPDX-License-Identifier: Apache-2.0
import Primitives
import Testing

@Suite("ByteWriter and big-endian helpers")
struct ByteWriterTests {
    @Test("integers are written little-endian in their width, and ByteReader reads them back")
    func integers() {
        var writer = ByteWriter()
        writer.u8(0xAB)
        writer.u16(0x0102)
        writer.u32(0x0304_0506)
        writer.u64(0x0708_090A_0B0C_0D0E)
        writer.integer(Int32(-2))
        #expect(writer.bytes == [0xAB, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08, 0x07, 0xFE, 0xFF, 0xFF, 0xFF])
        var reader = ByteReader(writer.bytes)
        #expect(reader.read(UInt8.self) == 0xAB)
        #expect(reader.read(UInt16.self) == 0x0102)
        #expect(reader.read(UInt32.self) == 0x0304_0506)
        #expect(reader.read(UInt64.self) == 0x0708_090A_0B0C_0D0E)
        #expect(reader.read(UInt32.self) == 0xFFFF_FFFE)
        #expect(reader.atEnd)
    }

    @Test("big-endian words put the most significant byte first")
    func bigEndian() {
        var writer = ByteWriter(appendingTo: [0xEE])
        writer.bigEndian(UInt64(0x0102_0304_0506_0708))
        writer.bigEndian(UInt16(0xA1B2))
        #expect(writer.bytes == [0xEE, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xA1, 0xB2])
        #expect(writer.count == 11)
    }

    @Test("length-prefixed bytes: the count in the prefix's width, then the bytes; ByteReader.prefixed reads them")
    func prefixed() {
        var writer = ByteWriter()
        writer.prefixed([1, 2, 3], as: UInt8.self)
        writer.prefixed([], as: UInt16.self)
        writer.prefixed(Array("ab".utf8), as: UInt32.self)
        writer.bytes([9, 9])
        #expect(writer.bytes == [3, 1, 2, 3, 0, 0, 2, 0, 0, 0, 0x61, 0x62, 9, 9])
        var reader = ByteReader(writer.bytes)
        #expect(reader.prefixed(UInt8.self).map(Array.init) == [1, 2, 3])
        #expect(reader.prefixed(UInt16.self)?.isEmpty == true)
        #expect(reader.prefixed(UInt32.self).map(Array.init) == Array("ab".utf8))
        #expect(reader.rest() == [9, 9])
    }

    @Test("UInt64(bigEndianPrefix:) reads the first 8 bytes of any collection; words step 8 bytes at a time")
    func prefixes() {
        let counting = (0..<32).map { UInt8($0) }
        #expect(UInt64(bigEndianPrefix: counting) == 0x0001_0203_0405_0607)
        #expect(UInt64(bigEndianPrefix: counting[8...]) == 0x0809_0A0B_0C0D_0E0F)
        #expect(UInt64(bigEndianPrefix: [0xFF, 0, 0, 0, 0, 0, 0, 1]) == 0xFF00_0000_0000_0001)
        #expect(UInt64.bigEndianWords(counting, count: 4) == [0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F, 0x1011_1213_1415_1617, 0x1819_1A1B_1C1D_1E1F])
        #expect(UInt64.bigEndianWords(counting.prefix(24), count: 3).count == 3)
        var writer = ByteWriter()
        for word in UInt64.bigEndianWords(counting, count: 4) { writer.bigEndian(word) }
        #expect(writer.bytes == counting)
    }

    @Test("fewer than 8 bytes for a big-endian word traps")
    func shortPrefixTraps() async {
        await #expect(processExitsWith: .failure) { _ = UInt64(bigEndianPrefix: [1, 2, 3]) }
    }
}
