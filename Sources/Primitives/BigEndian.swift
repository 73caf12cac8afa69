// SPDX-License-Identifier: Apache-2.0

/// Big-endian derivations: keys and IDs made from bytes, where byte order must be numeric order (a node ID's
/// prefix as a member ID, a digest as a point in the key space). Wire formats are little-endian and go through
/// ``ByteReader`` and ``ByteWriter`` instead.
extension UInt64 {
    /// The first 8 bytes of `bytes`, the first the most significant. Traps if there are fewer than 8.
    @inlinable
    package init(bigEndianPrefix bytes: some Collection<UInt8>) {
        // Contiguous bytes (arrays, slices: every caller's) are one load.
        if let loaded = bytes.withContiguousStorageIfAvailable({ buffer -> UInt64? in
            buffer.count >= 8 ? UInt64(bigEndian: UnsafeRawBufferPointer(buffer).loadUnaligned(as: UInt64.self)) : nil
        }), let loaded {
            self = loaded
            return
        }
        var value: UInt64 = 0
        var taken = 0
        for byte in bytes.prefix(8) {
            value = value << 8 | UInt64(byte)
            taken += 1
        }
        precondition(taken == 8, "a big-endian UInt64 needs 8 bytes, got \(taken)")
        self = value
    }

    /// `count` consecutive big-endian words from the start of `bytes`: word i is bytes 8·i ..< 8·i + 8. Traps if
    /// there are fewer than 8 · `count` bytes.
    @inlinable
    package static func bigEndianWords(_ bytes: some Collection<UInt8>, count: Int) -> [UInt64] {
        (0..<count).map { UInt64(bigEndianPrefix: bytes.dropFirst(8 * $0)) }
    }
}
