// SPDX-License-Identifier: Apache-2.0
//
// Reading a pack store back from its files alone: the index log replayed, and the records of a pack found by
// their own magic, key and CRC — so the index can be rebuilt when it is lost or damaged (at start-up and by
// `inos store fsck --repair`). Every value read is untrusted: lengths are range-checked against the file,
// nothing traps on bad bytes.
import InosSystem

package enum PackScan {
    /// What a walk over one pack found.
    package struct PackReport: Equatable, Sendable {
        /// The end of the last whole record found (`start` if none).
        package var end: UInt64 = 0
        /// Whole records found.
        package var records = 0
        /// Bytes from `start` to the end of the file that are not part of a whole record (torn or damaged).
        package var damagedBytes: UInt64 = 0
    }

    /// Walks the records of pack `pack` (the open `file`, `size` bytes long) from `start`, calling `found` for
    /// each whole record: magic, reserved field, a key of 1...64 bytes, a payload inside the file, and the
    /// CRC32C of key and payload all check. At a damaged spot it searches on for the next record magic, so a
    /// torn record does not hide the whole ones after it.
    package static func records(
        in file: SystemFile, pack: UInt32, size: UInt64, from start: UInt64,
        _ found: (ChunkKey, PackFormat.Location) -> Void
    ) throws(SystemError) -> PackReport {
        var report = PackReport(end: start)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var offset = start
        var wholeBytes: UInt64 = 0
        while offset < size {
            if let (key, location) = try record(in: file, pack: pack, size: size, at: offset, buffer: buffer) {
                found(key, location)
                report.records += 1
                offset += location.recordSize
                wholeBytes += location.recordSize
                report.end = offset
            } else {
                guard let next = try nextMagic(in: file, size: size, after: offset, buffer: buffer) else { break }
                offset = next
            }
        }
        report.damagedBytes = size > start ? size - start - min(size - start, wholeBytes) : 0
        return report
    }

    /// The whole record at `offset`, or nil when there is none there.
    package static func record(
        in file: SystemFile, pack: UInt32, size: UInt64, at offset: UInt64, buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> (ChunkKey, PackFormat.Location)? {
        let headerSize = UInt64(PackFormat.recordHeaderSize)
        guard size >= offset, size - offset > headerSize else { return nil }
        let want = Int(min(size - offset, headerSize + UInt64(ChunkKey.maximumLength)))
        let head = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
        guard try file.read(into: head, at: offset) == want else { return nil }
        let bytes = UnsafeRawBufferPointer(head)
        guard UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == PackFormat.recordMagic,
            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) == 0
        else { return nil }
        let keyLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        let payloadLength = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard (1...ChunkKey.maximumLength).contains(keyLength), PackFormat.recordHeaderSize + keyLength <= want else { return nil }
        let location = PackFormat.Location(pack: pack, offset: offset, payloadLength: payloadLength, keyLength: UInt8(keyLength))
        guard location.recordSize <= size - offset,
            let key = ChunkKey(UnsafeRawBufferPointer(rebasing: bytes[PackFormat.recordHeaderSize..<(PackFormat.recordHeaderSize + keyLength)]))
        else { return nil }
        var crc = key.withBytes { StoreFiles.crc32c($0) }
        var position = location.payloadOffset
        var left = UInt64(payloadLength)
        while left > 0 {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(left, UInt64(buffer.count)))])
            guard try file.read(into: piece, at: position) == piece.count else { return nil }
            crc = StoreFiles.crc32c(UnsafeRawBufferPointer(piece), seed: crc)
            position += UInt64(piece.count)
            left -= UInt64(piece.count)
        }
        return crc == checksum ? (key, location) : nil
    }

    /// The offset of the next record magic after `offset`, if any.
    package static func nextMagic(in file: SystemFile, size: UInt64, after offset: UInt64, buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> UInt64? {
        let magic: [UInt8] = [0x49, 0x4E, 0x50, 0x4B]  // "INPK"
        var start = offset + 1
        while start + 4 <= size {
            let count = Int(min(UInt64(buffer.count), size - start))
            let window = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
            let got = try file.read(into: window, at: start)
            guard got >= 4 else { return nil }
            var i = 0
            while i + 4 <= got {
                if window[i] == magic[0], window[i + 1] == magic[1], window[i + 2] == magic[2], window[i + 3] == magic[3] {
                    return start + UInt64(i)
                }
                i += 1
            }
            start += UInt64(got - 3)  // the last three bytes may begin a magic that the next window completes
        }
        return nil
    }

    /// What replaying an index log found.
    package struct IndexReplay {
        /// The entries that check (magic, kind, key length, CRC), in log order.
        package var entries: [PackFormat.Entry] = []
        /// Entries that did not check, or a torn entry at the end.
        package var damagedEntries = 0
        /// Of those, the ones with a good entry after them: damage inside the log, not a torn append at its end.
        package var damagedBeforeLastEntry = 0
        /// The log's length in bytes.
        package var size: UInt64 = 0
    }

    /// Reads every entry of an index log.
    package static func replayIndex(_ file: SystemFile) throws(SystemError) -> IndexReplay {
        var replay = IndexReplay()
        replay.size = try file.size()
        let entrySize = UInt64(PackFormat.entrySize)
        if replay.size % entrySize != 0 { replay.damagedEntries += 1 }  // a torn append
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: PackFormat.entrySize * 8192, alignment: 8)
        defer { block.deallocate() }
        var offset: UInt64 = 0
        var pendingDamage = 0
        while offset + entrySize <= replay.size {
            let want = Int(min(UInt64(block.count), (replay.size - offset) / entrySize * entrySize))
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: block[0..<want]), at: offset)
            let whole = got / PackFormat.entrySize
            guard whole > 0 else { break }
            for i in 0..<whole {
                let bytes = UnsafeRawBufferPointer(rebasing: block[(i * PackFormat.entrySize)..<((i + 1) * PackFormat.entrySize)])
                if let entry = PackFormat.decode(bytes) {
                    replay.entries.append(entry)
                    replay.damagedBeforeLastEntry += pendingDamage
                    pendingDamage = 0
                } else {
                    replay.damagedEntries += 1
                    pendingDamage += 1
                }
            }
            offset += UInt64(whole * PackFormat.entrySize)
        }
        return replay
    }

    /// The number in a pack's file name (`00000042.pack`), nil for anything else.
    package static func packNumber(_ name: String) -> UInt32? {
        let digits = name.dropLast(5)
        guard name.hasSuffix(".pack"), digits.count >= 8, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let number = UInt32(digits), number > 0
        else { return nil }
        return number
    }

    /// A pack's file name: its number in eight digits, then `.pack`.
    package static func packName(_ number: UInt32) -> String {
        let digits = String(number)
        return "\(String(repeating: "0", count: max(0, 8 - digits.count)))\(digits).pack"
    }
}
