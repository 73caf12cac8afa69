// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport
import Testing

/// The STORE path's end (issue 15): an object received in an arena block is verified and stored from there.
@Suite("Importing objects in place")
struct InPlaceImportTests {
    @Test("an LZ4 chunk in an arena block is verified window by window, stored, and its block is freed")
    func lz4FromArenaBlock() throws {
        let source = try DataPathFixture(), target = try DataPathFixture()
        let path = source.folder + "/text"
        try Data((0..<(2 << 20)).map { Array("in place, not copied\n".utf8)[$0 % 21] }).write(to: URL(fileURLWithPath: path))
        let manifest = try #require(try source.store.put(file: path).manifest)
        let chunk = try #require(manifest.chunks.first { $0.encoding == .lz4Frame })
        let frame = try #require(try source.store.storedObject(chunk.id))
        let heap = target.host.arena.heap
        let live = heap.statistics.liveBlocks
        let imported = try Self.inBlock(frame, arena: target.host.arena) { (raw) throws(DataPathError) in
            #expect(try target.store.importObject(chunk.id, stored: raw, length: chunk.length))
            var altered = Array(raw)
            altered[altered.count - 5] ^= 1  // the last literal before the end mark: the content differs
            return try target.store.importObject(chunk.id, stored: altered)
        }
        #expect(imported == false, "an altered frame is refused")
        #expect(heap.statistics.liveBlocks == live, "the frame's block is freed (and the verify took no scratch block)")
        #expect(try target.store.chunkContent(chunk)?.withUnsafeBytes { chunk.id.matches($0) } == true)
    }

    /// Calls `body` with `bytes` copied into an arena block (as a received frame is).
    static func inBlock<R>(_ bytes: [UInt8], arena: Arena, _ body: (UnsafeRawBufferPointer) throws(DataPathError) -> R) throws -> R {
        guard var block = ArenaBlock(allocating: bytes.count, in: arena) else { throw DataPathError(.invalidArgument, "arena full") }
        block.withMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: bytes.count)) }
        return try block.withBytes { (raw) throws(DataPathError) in try body(raw) }
    }
}
