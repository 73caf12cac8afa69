// SPDX-License-Identifier: Apache-2.0

/// A bounds-checked reader of little-endian values from bytes a peer sent — the one way decoders of peer bytes
/// read integers, lengths and counts (docs/wire.md, "Values from peers").
///
/// Every read returns nil when fewer bytes remain than it needs, and leaves the reader where it was; nothing
/// here traps, whatever the bytes. Counts are checked against the bytes actually present before a caller
/// allocates for them (``count(_:max:elementSize:)``), so a claim of 2^45 elements costs nothing.
///
/// ```swift
/// var reader = ByteReader(payload)
/// guard let time = reader.read(UInt64.self), let count = reader.count(UInt16.self, max: 4096, elementSize: 22) else { return nil }
/// ```
///
/// Every method is `@inlinable`: decoders in other modules get it specialized for the integer types they read
/// (an unspecialized generic read cost a metadata lookup per call and dominated gossip decoding at 30 members).
package struct ByteReader {
    package let bytes: ArraySlice<UInt8>
    @usableFromInline var cursor: Int

    @inlinable
    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        cursor = bytes.startIndex
    }

    @inlinable
    package init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    /// The index in `bytes` of the next byte to read.
    @inlinable package var index: Int { cursor }
    /// Bytes not read yet.
    @inlinable package var remaining: Int { bytes.endIndex - cursor }
    @inlinable package var atEnd: Bool { cursor == bytes.endIndex }
    /// Bytes read so far.
    @inlinable package var consumed: Int { cursor - bytes.startIndex }

    /// A little-endian unsigned integer of `T`'s width, or nil if too few bytes remain.
    @inlinable
    package mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        let offset = cursor - bytes.startIndex
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        cursor += size
        return T(littleEndian: value)
    }

    /// The next `count` bytes, or nil if fewer remain (or `count` is negative).
    @inlinable
    package mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining >= count else { return nil }
        defer { cursor += count }
        return bytes[cursor..<(cursor + count)]
    }

    /// A length-prefixed byte string: a `T` length, then that many bytes (at most `max`).
    @inlinable
    package mutating func prefixed<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, max: Int = .max) -> ArraySlice<UInt8>? {
        let start = cursor
        guard let length = read(T.self), let count = Int(exactly: length), count <= max, let body = bytes(count) else {
            cursor = start
            return nil
        }
        return body
    }

    /// Everything not read yet.
    @inlinable
    package mutating func rest() -> ArraySlice<UInt8> {
        defer { cursor = bytes.endIndex }
        return bytes[cursor...]
    }

    /// An element count of type `T` for elements of at least `elementSize` bytes each: nil if it is above `max`
    /// or if the bytes left cannot hold that many elements — check before allocating for them.
    @inlinable
    package mutating func count<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, max: Int, elementSize: Int) -> Int? {
        let start = cursor
        guard let claimed = read(T.self), let count = check(count: claimed, max: max, elementSize: elementSize) else {
            cursor = start
            return nil
        }
        return count
    }

    /// Checks a count read some other way (a varint, or derived from other fields): nil if it is above `max`
    /// or more than `remaining` bytes can hold at `elementSize` bytes each; else the count as an Int.
    @inlinable
    package func check(count claimed: some BinaryInteger, max: Int, elementSize: Int) -> Int? {
        guard let count = Int(exactly: claimed), count >= 0, count <= max else { return nil }
        let (needed, overflow) = count.multipliedReportingOverflow(by: Swift.max(elementSize, 0))
        guard !overflow, needed <= remaining else { return nil }
        return count
    }

    /// An unsigned LEB128 varint as multiformats use them (at most 9 bytes, minimal), or nil.
    @inlinable
    package mutating func varint() -> UInt64? {
        let start = cursor
        var value: UInt64 = 0
        for position in 0..<9 {
            guard let byte = read(UInt8.self) else { break }
            value |= UInt64(byte & 0x7F) << (7 * UInt64(position))
            if byte & 0x80 == 0 {
                if byte == 0 && position > 0 { break }  // not minimal
                return value
            }
        }
        cursor = start
        return nil
    }
}

/// Arithmetic on values from peers that must not trap: saturates at the type's bounds instead.
extension FixedWidthInteger {
    /// `self + other`, or `.max` (`.min`) where that overflows.
    package func saturatingAdd(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }

    /// `self × other`, or the bound in the direction of the overflow.
    package func saturatingMultiply(_ other: Self) -> Self {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return product }
        return (self < 0) != (other < 0) ? .min : .max
    }
}
