// SPDX-License-Identifier: Apache-2.0

/// Builds the bytes of a wire format: little-endian integers (docs/wire.md), length-prefixed byte strings, and
/// big-endian words where a format wants byte order to be numeric order (keys and digest inputs). The writing
/// side of ``ByteReader``: what one writes, the other reads back.
///
/// ```swift
/// var writer = ByteWriter(capacity: 12)
/// writer.u64(lamport)
/// writer.prefixed(name, as: UInt16.self)
/// send(writer.bytes)
/// ```
package struct ByteWriter {
    // Internal(set) for @inlinable methods (every one is, so encoders elsewhere get them specialized).
    @usableFromInline package internal(set) var bytes: [UInt8] = []

    @inlinable package init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// Continues `bytes` (a header already written, say).
    @inlinable package init(appendingTo bytes: [UInt8]) { self.bytes = bytes }

    @inlinable package var count: Int { bytes.count }

    @inlinable package mutating func u8(_ value: UInt8) { bytes.append(value) }
    @inlinable package mutating func u16(_ value: UInt16) { integer(value) }
    @inlinable package mutating func u32(_ value: UInt32) { integer(value) }
    @inlinable package mutating func u64(_ value: UInt64) { integer(value) }

    /// `value` little-endian, in `T`'s width.
    @inlinable package mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// `value` big-endian (most significant byte first), in `T`'s width.
    @inlinable package mutating func bigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable package mutating func bytes(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// A length-prefixed byte string: `data.count` as a little-endian `T`, then the bytes — what
    /// ``ByteReader/prefixed(_:max:)`` reads. Traps if the length does not fit in `T` (a caller's bug: bound
    /// what you send before you encode it).
    @inlinable package mutating func prefixed<T: FixedWidthInteger & UnsignedInteger>(_ data: some Collection<UInt8>, as _: T.Type) {
        integer(T(data.count))
        bytes.append(contentsOf: data)
    }
}
