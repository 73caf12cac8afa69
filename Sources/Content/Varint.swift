// SPDX-License-Identifier: Apache-2.0

/// Unsigned LEB128 varints as multiformats use them (at most 9 bytes, minimal encoding).
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Reads a varint at `index`, advancing it. `nil` if truncated, over 9 bytes, or not minimal.
    static func read(_ bytes: [UInt8], at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for count in 0..<9 {
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && count > 0 { return nil }  // not minimal
                return value
            }
            shift += 7
        }
        return nil
    }
}
