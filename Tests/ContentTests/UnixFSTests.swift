// SPDX-License-Identifier: Apache-2.0
import Content
import Crypto
import Foundation
import Testing

/// The IPFS layout of a resource against vectors computed independently (Tests/Fixtures/unixfs/make_vectors.py:
/// a Python implementation from the specifications, of go-unixfs' recursive balanced layout), and kubo's own
/// single-block CIDs.
@Suite("UnixFS layout and CARv1")
struct UnixFSTests {
    struct Vectors: Decodable {
        struct Vector: Decodable {
            var name: String
            var size: Int?
            var chunk: Int?
            var max_links: Int?
            var seed: Int?
            var sha256: String?
            var root: String
            var blocks: Int?
            var car_bytes: Int?
            var car_sha256: String?
            var text: String?
        }
        var vectors: [Vector]
    }

    static let vectors: [Vectors.Vector] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/unixfs/vectors.json")
        let data = (try? Data(contentsOf: path)) ?? Data()
        return (try? JSONDecoder().decode(Vectors.self, from: data).vectors) ?? []
    }()

    static func pattern(_ size: Int, seed: Int) -> [UInt8] {
        (0..<size).map { i in UInt8(truncatingIfNeeded: ((i * 31 + seed) * 7 + (i >> 10))) }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// The archive as the exporter writes it: header, then the blocks depth first (leaves from `data`).
    static func archive(_ layout: UnixFS.Layout, leaves: [ContentID: [UInt8]]) -> [UInt8] {
        let nodes = Dictionary(layout.nodes.map { ($0.id, $0.bytes) }, uniquingKeysWith: { a, _ in a })
        var out = CAR.header(roots: [layout.root])
        for id in layout.exportOrder() {
            let data = nodes[id] ?? leaves[id] ?? []
            let section = CAR.section(id, length: data.count)
            out += section.prefix + section.cid + data
        }
        return out
    }

    @Test("the vectors are there")
    func vectorsLoad() {
        #expect(Self.vectors.count >= 10)
    }

    @Test("root CIDs and CAR bytes equal the independent vectors; reading the CAR back gives the file", arguments: vectors.filter { $0.size != nil }.map(\.name))
    func layout(_ name: String) throws {
        let vector = try #require(Self.vectors.first { $0.name == name })
        let data = Self.pattern(vector.size!, seed: vector.seed!)
        #expect(Self.hex(SHA256.hash(data: data)) == vector.sha256)
        let chunk = vector.chunk!
        let pieces = data.isEmpty ? [[]] : stride(from: 0, to: data.count, by: chunk).map { Array(data[$0..<min($0 + chunk, data.count)]) }
        var leafBytes: [ContentID: [UInt8]] = [:]
        let leaves = pieces.map { piece -> UnixFS.Leaf in
            let id = ContentID(hashing: piece)
            leafBytes[id] = piece
            return UnixFS.Leaf(id: id, size: UInt64(piece.count))
        }
        let layout = UnixFS.layout(leaves, maxLinks: vector.max_links!)
        #expect(layout.root.description == vector.root)
        #expect(layout.size == UInt64(data.count))
        let car = Self.archive(layout, leaves: leafBytes)
        #expect(layout.exportOrder().count == vector.blocks)
        #expect(car.count == vector.car_bytes)
        #expect(Self.hex(SHA256.hash(data: car)) == vector.car_sha256)

        // Back: every block checked against its CID, the file put together from the root.
        var offset = 0
        var reader = try CAR.Reader { count in
            let end = min(offset + count, car.count)
            defer { offset = end }
            return Array(car[offset..<end])
        }
        #expect(reader.roots == [layout.root])
        var blocks: [ContentID: [UInt8]] = [:]
        while let block = try reader.next() { blocks[block.id] = block.data }
        var file: [UInt8] = []
        let written = try UnixFS.reassemble(layout.root) { blocks[$0] } emit: { file += $0 }
        #expect(written == UInt64(data.count))
        #expect(file == data)
    }

    @Test("single-block files have kubo's own CIDs (its gateway fixtures)", arguments: ["kubo-hello", "kubo-hello-ipfs"])
    func kuboLeaves(_ name: String) throws {
        let vector = try #require(Self.vectors.first { $0.name == name })
        let layout = UnixFS.layout([UnixFS.Leaf(id: ContentID(hashing: Array(vector.text!.utf8)), size: UInt64(vector.text!.utf8.count))])
        #expect(layout.root.description == vector.root)
        #expect(layout.nodes.isEmpty)
    }

    @Test("a hostile archive is refused: a block that is not its CID, truncation, oversized sections, a bad header")
    func hostileArchives() throws {
        let data = Self.pattern(3000, seed: 9)
        let pieces = stride(from: 0, to: data.count, by: 1000).map { Array(data[$0..<min($0 + 1000, data.count)]) }
        var leafBytes: [ContentID: [UInt8]] = [:]
        let layout = UnixFS.layout(pieces.map { piece in
            let id = ContentID(hashing: piece)
            leafBytes[id] = piece
            return UnixFS.Leaf(id: id, size: UInt64(piece.count))
        })
        let good = Self.archive(layout, leaves: leafBytes)
        func readAll(_ bytes: [UInt8], maximumBlock: Int = CAR.Reader.defaultMaximumBlock) throws -> Int {
            var offset = 0
            var reader = try CAR.Reader(maximumBlock: maximumBlock) { count in
                let end = min(offset + count, bytes.count)
                defer { offset = end }
                return Array(bytes[offset..<end])
            }
            var count = 0
            while try reader.next() != nil { count += 1 }
            return count
        }
        #expect(try readAll(good) == 4)
        var flipped = good
        flipped[flipped.count - 10] ^= 0x40  // inside the last leaf
        #expect(throws: (any Error).self) { try readAll(flipped) }
        #expect(throws: (any Error).self) { try readAll(Array(good.dropLast(5))) }
        #expect(throws: (any Error).self) { try readAll(good, maximumBlock: 100) }
        #expect(throws: (any Error).self) { try readAll([0x05, 0xA1, 0x61, 0x78, 0x01, 0x00]) }
        #expect(throws: (any Error).self) { try readAll([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        // A node whose sizes lie, or that links to itself past the depth bound.
        let liar = UnixFS.encodeFileNodeForTesting([(layout.nodes[0].links[0], 999, 999)])
        let liarID = ContentID(hashing: liar, codec: .dagPB)
        #expect(throws: (any Error).self) {
            try UnixFS.reassemble(liarID) { $0 == liarID ? liar : leafBytes[$0] } emit: { _ in }
        }
    }
}
