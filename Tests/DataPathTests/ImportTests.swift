// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import HostTestSupport
import Testing

/// Objects from peers (replication's STORE, fetches): stored only when they are what their ID names.
@Suite("Importing objects from peers")
struct ImportTests {
    @Test("raw and LZ4-framed objects are accepted; forged, altered or oversized ones are refused and nothing is stored")
    func hostileObjects() throws {
        let source = try DataPathFixture(), target = try DataPathFixture()
        let path = source.folder + "/text"
        try Data((0..<(3 << 20)).map { Array("mesh node chunk replica\n".utf8)[$0 % 24] }).write(to: URL(fileURLWithPath: path))
        let report = try source.store.put(file: path)  // text: its chunks are stored as LZ4 frames
        let manifest = try #require(report.manifest)
        let chunk = try #require(manifest.chunks.first { $0.encoding == .lz4Frame })
        let frame = try #require(try source.store.storedObject(chunk.id))
        let content = try #require(try source.store.chunkContent(chunk))
        #expect(content.count == Int(chunk.length) && content.withUnsafeBytes { chunk.id.matches($0) })

        // Under another chunk's name, altered, or a frame that claims more than 64 MiB: refused, nothing stored.
        let other = manifest.chunks.first { $0.id != chunk.id }!.id
        #expect(try target.store.importObject(other, stored: frame) == false)
        // The last literal of the last block (before the 4-byte end mark): flipped, the content differs. (A byte
        // flipped elsewhere may decode to the same content — a stored form that still hashes right is accepted.)
        var altered = frame
        altered[altered.count - 5] ^= 0x01
        #expect(try target.store.importObject(chunk.id, stored: altered) == false)
        var huge = frame
        huge.replaceSubrange(6..<14, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) })  // LZ4 content size
        #expect(try target.store.importObject(chunk.id, stored: huge) == false)
        #expect(!target.store.contains(chunk.id) && !target.store.contains(other))

        // The real frame and the raw content both pass; what is stored reads back as the chunk.
        #expect(try target.store.importObject(chunk.id, stored: frame))
        #expect(try target.store.chunkContent(chunk) == content)
        let raw = ContentID(hashing: Array("raw object".utf8))
        #expect(try target.store.importObject(raw, stored: Array("raw object".utf8)))
        #expect(try target.store.storedObject(raw) == Array("raw object".utf8))
    }
}
