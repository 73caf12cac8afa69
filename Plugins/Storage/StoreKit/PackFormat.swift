// SPDX-License-Identifier: Apache-2.0

/// The two on-disk formats of the pack store (`inos.store.pack`), both little-endian and self-checking. They
/// live here, next to the other shared store code, so `inos store fsck` can check and rebuild a store offline.
///
/// A **record** in a pack file (`packs/NNNNNNNN.pack`) is a 16-byte header, the key, then the payload:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `INPK` |
/// | 4 | 2 | key length (1...64) |
/// | 6 | 2 | reserved, 0 |
/// | 8 | 4 | payload length |
/// | 12 | 4 | CRC32C of key and payload |
///
/// An **entry** of the index log (`index.log`) is 96 bytes; the log is replayed in order at start:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `INIX` |
/// | 4 | 1 | kind: 1 stored, 2 removed, 3 quarantined |
/// | 5 | 1 | key length |
/// | 6 | 2 | reserved, 0 |
/// | 8 | 4 | pack number |
/// | 12 | 4 | payload length |
/// | 16 | 8 | record offset in the pack |
/// | 24 | 64 | key, zero-padded |
/// | 88 | 4 | reserved, 0 |
/// | 92 | 4 | CRC32C of bytes 0..<92 |
package enum PackFormat {
    package static let recordMagic: UInt32 = 0x4B50_4E49  // "INPK"
    package static let recordHeaderSize = 16
    package static let entryMagic: UInt32 = 0x5849_4E49  // "INIX"
    package static let entrySize = 96

    /// Where a stored chunk's record is.
    package struct Location: Equatable, Sendable {
        package var pack: UInt32
        package var offset: UInt64
        package var payloadLength: UInt32
        package var keyLength: UInt8

        package init(pack: UInt32, offset: UInt64, payloadLength: UInt32, keyLength: UInt8) {
            self.pack = pack
            self.offset = offset
            self.payloadLength = payloadLength
            self.keyLength = keyLength
        }

        package var recordSize: UInt64 { UInt64(recordHeaderSize) + UInt64(keyLength) + UInt64(payloadLength) }
        package var payloadOffset: UInt64 { offset + UInt64(recordHeaderSize) + UInt64(keyLength) }
    }

    package enum EntryKind: UInt8, Sendable {
        case stored = 1
        case removed = 2
        case quarantined = 3
    }

    package struct Entry: Equatable {
        package var kind: EntryKind
        package var key: ChunkKey
        package var location: Location

        package init(kind: EntryKind, key: ChunkKey, location: Location) {
            self.kind = kind
            self.key = key
            self.location = location
        }
    }

    /// The CRC a record header carries: over the key, then the payload.
    package static func recordChecksum(_ key: ChunkKey, _ payload: UnsafeRawBufferPointer) -> UInt32 {
        StoreFiles.crc32c(payload, seed: key.withBytes { StoreFiles.crc32c($0) })
    }

    /// Writes a record header followed by the key into `out` (at least 16 + 64 bytes); returns the bytes used.
    package static func encodeRecordHeader(_ key: ChunkKey, payloadLength: UInt32, checksum: UInt32, into out: UnsafeMutableRawBufferPointer) -> Int {
        out.storeBytes(of: recordMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: UInt16(key.count).littleEndian, toByteOffset: 4, as: UInt16.self)
        out.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        out.storeBytes(of: payloadLength.littleEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: checksum.littleEndian, toByteOffset: 12, as: UInt32.self)
        key.withBytes { UnsafeMutableRawBufferPointer(rebasing: out[recordHeaderSize...]).copyMemory(from: $0) }
        return recordHeaderSize + key.count
    }

    /// Checks a record header and key read back from a pack against what the index says; nil when they
    /// agree, else why not. Returns the checksum the header carries through `checksum`.
    package static func checkRecordHeader(_ bytes: UnsafeRawBufferPointer, key: ChunkKey, location: Location, checksum: inout UInt32) -> String? {
        guard bytes.count >= recordHeaderSize + key.count else { return "record cut short" }
        guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == recordMagic else {
            return "bad record magic"
        }
        guard Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))) == key.count,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == location.payloadLength
        else { return "record header does not match the index" }
        let storedKey = UnsafeRawBufferPointer(rebasing: bytes[recordHeaderSize..<(recordHeaderSize + key.count)])
        guard key.withBytes({ $0.elementsEqual(storedKey) }) else { return "record holds another key" }
        checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        return nil
    }

    package static func encode(_ entry: Entry, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= entrySize)
        let slice = UnsafeMutableRawBufferPointer(rebasing: out[0..<entrySize])
        slice.initializeMemory(as: UInt8.self, repeating: 0)
        slice.storeBytes(of: entryMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        slice.storeBytes(of: entry.kind.rawValue, toByteOffset: 4, as: UInt8.self)
        slice.storeBytes(of: UInt8(entry.key.count), toByteOffset: 5, as: UInt8.self)
        slice.storeBytes(of: entry.location.pack.littleEndian, toByteOffset: 8, as: UInt32.self)
        slice.storeBytes(of: entry.location.payloadLength.littleEndian, toByteOffset: 12, as: UInt32.self)
        slice.storeBytes(of: entry.location.offset.littleEndian, toByteOffset: 16, as: UInt64.self)
        entry.key.withBytes { UnsafeMutableRawBufferPointer(rebasing: slice[24...]).copyMemory(from: $0) }
        let crc = StoreFiles.crc32c(UnsafeRawBufferPointer(rebasing: slice[0..<92]))
        slice.storeBytes(of: crc.littleEndian, toByteOffset: 92, as: UInt32.self)
    }

    /// Decodes one 96-byte entry; nil when its magic, kind, key length or CRC is wrong.
    package static func decode(_ bytes: UnsafeRawBufferPointer) -> Entry? {
        guard bytes.count >= entrySize,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == entryMagic,
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 92, as: UInt32.self))
                == StoreFiles.crc32c(UnsafeRawBufferPointer(rebasing: bytes[0..<92])),
            let kind = EntryKind(rawValue: bytes[4])
        else { return nil }
        let keyLength = Int(bytes[5])
        guard let key = ChunkKey(UnsafeRawBufferPointer(rebasing: bytes[24..<(24 + min(keyLength, 64))])),
            key.count == keyLength
        else { return nil }
        let location = Location(
            pack: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            offset: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            payloadLength: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
            keyLength: UInt8(keyLength))
        return Entry(kind: kind, key: key, location: location)
    }
}
