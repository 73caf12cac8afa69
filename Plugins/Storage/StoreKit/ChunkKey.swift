// SPDX-License-Identifier: Apache-2.0

/// A chunk's key (binary multihash, 1...64 bytes) held inline, so keeping and comparing keys allocates
/// nothing. Bytes past `count` are always zero, which makes equality and hashing plain word compares.
package struct ChunkKey: Hashable, Sendable {
    package static let maximumLength = 64

    package private(set) var count: Int
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// Nil unless `bytes` holds 1...64 bytes.
    package init?(_ bytes: UnsafeRawBufferPointer) {
        guard (1...Self.maximumLength).contains(bytes.count) else { return nil }
        count = bytes.count
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: bytes) }
    }

    package init?(_ bytes: [UInt8]) {
        guard let key = bytes.withUnsafeBytes({ ChunkKey($0) }) else { return nil }
        self = key
    }

    /// Parses lowercase or uppercase hex, as `hex` prints it.
    package init?(hex text: String) {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = Self.nibble(digits[i]), let low = Self.nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// - warning: the buffer is valid only inside `body`.
    package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    package var bytes: [UInt8] { withBytes { Array($0) } }

    /// Lowercase hex: the file name the file store uses and the name in messages.
    package var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        return withBytes { bytes in
            String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
        }
    }

    package static func == (a: ChunkKey, b: ChunkKey) -> Bool {
        a.count == b.count
            && withUnsafeBytes(of: a.words) { x in withUnsafeBytes(of: b.words) { y in x.elementsEqual(y) } }
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        withUnsafeBytes(of: words) { hasher.combine(bytes: $0) }
    }
}
