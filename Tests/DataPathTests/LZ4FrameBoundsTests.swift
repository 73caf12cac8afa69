// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Testing

@testable import DataPath

/// An LZ4 frame from a peer declares its content size; the store sizes its output buffer from that claim only
/// after checking it against what the frame's own bytes could decode to (docs/wire.md, "Values from peers").
@Suite("LZ4 frame claims at their bounds")
struct LZ4FrameBoundsTests {
    /// A frame header with the content-size flag and `size`, then `body`.
    static func frame(claiming size: UInt64, body: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
        [0x04, 0x22, 0x4D, 0x18, 0x68, 0x70] + withUnsafeBytes(of: size.littleEndian) { Array($0) } + [0x00] + body
    }

    @Test("declared sizes 0, 1 and Int.max are read; above Int.max (max − 1, max) is no size, never a trap")
    func contentSize() {
        for size in [UInt64(0), 1, UInt64(Int.max) - 1, UInt64(Int.max)] { #expect(LZ4Frame.contentSize(Self.frame(claiming: size)) == Int(size)) }
        for size: UInt64 in [UInt64(Int.max) + 1, .max - 1, .max] { #expect(LZ4Frame.contentSize(Self.frame(claiming: size)) == nil) }
        #expect(LZ4Frame.contentSize(Array(Self.frame(claiming: 1).prefix(14))) == nil)
    }

    @Test("a frame can decode to at most 256 × its length: 0, 1, Int.max / 256 and Int.max bytes, no overflow")
    func expansionBound() {
        #expect(LZ4Frame.maximumContent(frameLength: 0) == 0)
        #expect(LZ4Frame.maximumContent(frameLength: 1) == 256)
        #expect(LZ4Frame.maximumContent(frameLength: Int.max / 256) == Int.max / 256 * 256)
        #expect(LZ4Frame.maximumContent(frameLength: Int.max / 256 + 1) == .max)
        #expect(LZ4Frame.maximumContent(frameLength: Int.max) == .max)
    }

    @Test("a 19-byte frame claiming 64 MiB (the import limit) is refused by its claim, before a buffer is made for it")
    func smallFrameLargeClaim() throws {
        let fixture = try DataPathFixture()
        let claim = Self.frame(claiming: 64 << 20)
        #expect(64 << 20 > LZ4Frame.maximumContent(frameLength: claim.count))
        let id = ContentID(hashing: [UInt8](repeating: 0, count: 64 << 20))
        #expect(fixture.store.content(ofStored: claim, id: id, limit: 64 << 20) == nil)
        #expect(try fixture.store.importObject(id, stored: claim) == false)
        #expect(!fixture.store.contains(id))
    }
}
