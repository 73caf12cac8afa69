// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport
import Testing

@Suite("Data path: put, get, verify")
struct DataPathTests {
    @Test("round trip at sizes around chunk and stripe boundaries", arguments: [0, 1, 4095, 1 << 20, (1 << 20) + 1, 10 << 20, (23 << 20) + 777])
    func roundTrip(size: Int) throws {
        let node = try DataPathFixture()
        let input = try node.file(size, seed: UInt64(size))
        let report = try node.store.put(file: input)
        #expect(report.id.codec == (size <= 1 << 20 ? .raw : .manifest))
        let output = node.folder + "/out"
        let got = try node.store.get(report.id, to: output)
        #expect(got.size == size)
        #expect(got.repaired.isEmpty)
        #expect(try node.same(input, output))
        #expect(try node.store.verify(report.id).isHealthy)
        // Idempotent: the same bytes give the same ID.
        #expect(try node.store.put(file: input).id == report.id)
    }

    @Test("a single-chunk resource has the ID IPFS gives the same bytes")
    func ipfsCompatibleID() throws {
        let node = try DataPathFixture()
        let path = node.folder + "/hello"
        try Data("hello world".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try node.store.put(file: path).id.description == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
    }

    @Test("get rebuilds up to m lost or corrupt shards of every stripe, in random patterns")
    func reconstruction() throws {
        let node = try DataPathFixture()
        let input = try node.file((25 << 20) + 4321, seed: 9)  // 26 chunks: stripes of 10, 10, 6
        let report = try node.store.put(file: input)
        let manifest = try #require(report.manifest)
        let erasure = try #require(manifest.erasure)
        var random = SeededRandom(seed: 42)
        for (stripe, start) in stride(from: 0, to: manifest.chunks.count, by: 10).enumerated() {
            // This stripe's shards: its data chunks, then its parity.
            let shards = Array(manifest.chunks[start..<min(start + 10, manifest.chunks.count)]) + erasure.parity[stripe * 2..<stripe * 2 + 2]
            for victim in shards.shuffled(using: &random).prefix(2) {
                let path = node.chunkFile(victim.id)
                if random.next() % 2 == 0 {
                    try FileManager.default.removeItem(atPath: path)
                } else {
                    var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
                    bytes[bytes.count / 2] ^= 0x80
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                }
            }
        }
        let before = try node.store.verify(report.id)
        #expect(!before.isHealthy)
        #expect(before.lost.isEmpty)
        let output = node.folder + "/rebuilt"
        let got = try node.store.get(report.id, to: output)
        #expect(!got.repaired.isEmpty)
        #expect(try node.same(input, output))
        // Rebuilt chunks were stored again; the damaged parity shards remain, until a repair encodes them again.
        #expect(try node.store.verify(report.id).damaged.filter { id in manifest.chunks.contains { $0.id == id } }.isEmpty)
        let lostParity = try node.store.verify(report.id).damaged.filter { id in erasure.parity.contains { $0.id == id } }
        let after = try node.store.verify(report.id, repair: true)
        #expect(after.lost.isEmpty)
        #expect(Set(lostParity).isSubset(of: Set(after.repaired)), "every missing parity shard encoded again")
        #expect(try node.store.verify(report.id).isHealthy, "chunks and parity whole after the repair")
    }

    @Test("losing more than m shards of a stripe fails clearly, names the chunks, and writes no output")
    func beyondParity() throws {
        let node = try DataPathFixture()
        let input = try node.file(12 << 20, seed: 5)
        let report = try node.store.put(file: input)
        let manifest = try #require(report.manifest)
        for chunk in manifest.chunks.prefix(3) { try FileManager.default.removeItem(atPath: node.chunkFile(chunk.id)) }
        let output = node.folder + "/never"
        let error = #expect(throws: DataPathError.self) { try node.store.get(report.id, to: output) }
        #expect(error?.code == .unrecoverable)
        #expect(error?.chunks.count == 3)
        #expect(error?.message.contains("beyond what parity can rebuild") == true)
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: output + ".inos-partial"))
        let verify = try node.store.verify(report.id)
        #expect(verify.lost.count == 3)
    }

    @Test("without parity a lost chunk is reported; unknown IDs and missing plugins are clear errors")
    func errors() throws {
        let node = try DataPathFixture(erasure: false)
        var options = ContentStore.Options()
        options.erasure = nil
        let report = try node.store.put(file: try node.file(3 << 20, seed: 1), options: options)
        try FileManager.default.removeItem(atPath: node.chunkFile(report.manifest!.chunks[1].id))
        let lost = #expect(throws: DataPathError.self) { try node.store.get(report.id, to: node.folder + "/x") }
        #expect(lost?.code == .unrecoverable)

        let unknown = try ContentID("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")  // empty file, never stored
        #expect(throws: DataPathError.self) { try node.store.get(unknown, to: node.folder + "/y") }
        let needsErasure = #expect(throws: DataPathError.self) { try node.store.put(file: try node.file(3 << 20, seed: 2)) }
        #expect(needsErasure?.code == .missingPlugin)
        let missingFile = #expect(throws: DataPathError.self) { try node.store.put(file: "/nonexistent/file") }
        #expect(missingFile?.code == .io)
        var bad = ContentStore.Options()
        bad.erasure = (250, 10)
        #expect(throws: DataPathError.self) { try node.store.put(file: try node.file(2 << 20, seed: 3), options: bad) }
    }

    @Test("the seed's 100+20 layout works when the arena is large enough, and says what it needs when not")
    func wideStripes() throws {
        var options = ContentStore.Options()
        options.erasure = (100, 20)
        options.chunkSize = 64 << 10
        let node = try DataPathFixture(arenaMiB: 16)
        let input = try node.file(7 << 20, seed: 8)  // 112 chunks of 64 KiB: stripes of 100 and 12
        let report = try node.store.put(file: input, options: options)
        #expect(report.manifest?.erasure?.parity.count == 40)
        for chunk in report.manifest!.chunks.prefix(20) { try FileManager.default.removeItem(atPath: node.chunkFile(chunk.id)) }
        #expect(try node.store.get(report.id, to: node.folder + "/wide").repaired.count == 20)
        #expect(try node.same(input, node.folder + "/wide"))

        options.chunkSize = 1 << 20
        let small = try DataPathFixture(arenaMiB: 16)
        let error = #expect(throws: DataPathError.self) { try small.store.put(file: try small.file(3 << 20, seed: 1), options: options) }
        #expect(error?.message.contains("raise [arena] size_mib") == true)
    }
}
