// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import Content
import Crypto
import Foundation
import HostTestSupport
import Testing

/// The content gateway of real node processes: a resource read whole, by range and as a CAR from the node that
/// holds it, and from another member that fetches the chunks it lacks from the holder, each checked by its ID.
@Suite("Content gateway (processes)")
struct GatewayProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    static func gatewayPort(_ node: NodeProcess) throws -> Int {
        #expect(node.output.waitFor("gateway on http://127.0.0.1:"), "\(node.output.text)")
        let line = try #require(node.output.text.split(separator: "\n").first { $0.hasPrefix("gateway on http://127.0.0.1:") })
        return try #require(Int(line.dropFirst("gateway on http://127.0.0.1:".count).prefix { $0.isNumber }))
    }

    @Test("GET, HEAD, Range, ETag, ?format=car and ?format=raw on the holder and through a member that fetches on demand; clear 4xx")
    func gateway() async throws {
        let vector = try ExportImportTests.vector("three-and-a-half-MiB")
        let root = try OperatorProcessTests.folder("gw")
        let input = root + "/input.bin"
        let bytes = (0..<vector.size!).map { i in UInt8(truncatingIfNeeded: ((i * 31 + vector.seed!) * 7 + (i >> 10))) }
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a"])
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let common = ["--listen", "tcp://127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--metrics-listen", "none", "--provide-interval", "1"]
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop() }
        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--bootstrap", try a.address()] + common)
        defer { _ = b.stop() }
        let (portA, portB) = (try Self.gatewayPort(a), try Self.gatewayPort(b))
        func get(_ port: Int, _ path: String, _ method: APIClient.Method = .GET, headers: [(String, String)] = []) async throws -> APIClient.Response {
            try await APIClient(.tcp(host: "127.0.0.1", port: port, token: "-")).fetch(method, path, headers: headers)
        }

        let whole = try await get(portA, "/ipfs/\(id)")
        #expect(whole.status == 200 && whole.body == bytes)
        #expect(whole.headers["etag"] == "\"\(id)\"" && whole.headers["content-length"] == "\(bytes.count)")
        #expect(whole.headers["x-ipfs-roots"] == vector.root)
        let head = try await get(portA, "/ipfs/\(id)", .HEAD)
        #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == "\(bytes.count)")
        #expect(try await get(portA, "/ipfs/\(id)", headers: [("If-None-Match", "\"\(id)\"")]).status == 304)
        // A range across the first chunk boundary: only the bytes asked for.
        let ranged = try await get(portA, "/ipfs/\(id)", headers: [("Range", "bytes=1048570-1048585")])
        #expect(ranged.status == 206 && ranged.body == Array(bytes[1_048_570...1_048_585]))
        #expect(ranged.headers["content-range"] == "bytes 1048570-1048585/\(bytes.count)")
        let tail = try await get(portA, "/ipfs/\(id)", headers: [("Range", "bytes=-10")])
        #expect(tail.status == 206 && tail.body == Array(bytes.suffix(10)))
        let beyond = try await get(portA, "/ipfs/\(id)", headers: [("Range", "bytes=\(bytes.count)-")])
        #expect(beyond.status == 416 && beyond.headers["content-range"] == "bytes */\(bytes.count)")
        // The CAR is the one IPFS would export; a chunk raw.
        let car = try await get(portA, "/ipfs/\(id)?format=car")
        #expect(car.status == 200 && car.headers["x-ipfs-roots"] == vector.root)
        #expect(ExportImportTests.hex(Data(car.body)) == vector.car_sha256)
        let firstChunk = ContentID(hashing: Array(bytes[..<(1 << 20)]))
        let raw = try await get(portA, "/ipfs/\(firstChunk)?format=raw")
        #expect(raw.status == 200 && raw.body == Array(bytes[..<(1 << 20)]))
        // Clear errors.
        let bad = try await get(portA, "/ipfs/not-a-cid")
        #expect(bad.status == 400 && String(decoding: bad.body, as: UTF8.self).contains("invalid_argument"))
        let unknown = try await get(portA, "/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        #expect(unknown.status == 404, "\(String(decoding: unknown.body, as: UTF8.self))")
        #expect(try await get(portA, "/ipfs/\(id)?format=zip").status == 400)

        // B holds nothing: it finds A through the DHT and fetches on demand, chunk by chunk, verified.
        // Until A's provider record reached the DHT, B answers 404 (no holder known).
        var fromB = APIClient.Response(status: 0, body: [])
        let deadline = Date().addingTimeInterval(30)
        repeat {
            if let answer = try? await get(portB, "/ipfs/\(id)", headers: [("Range", "bytes=2097152-2097161")]) { fromB = answer }
            if fromB.status == 206 { break }
            #expect(fromB.status == 0 || fromB.status == 404, "\(fromB.status) \(fromB.text.prefix(300))")
            try await Task.sleep(for: .milliseconds(500))
        } while Date() < deadline
        #expect(fromB.status == 206 && fromB.body == Array(bytes[2_097_152...2_097_161]), "\(fromB.status) \(fromB.text.prefix(300))")
        let wholeFromB = try await get(portB, "/ipfs/\(id)")
        #expect(wholeFromB.status == 200 && wholeFromB.body == bytes)

        // B's edge cache kept what it fetched: a second whole read is answered from B's store — hits, no miss —
        // and the counts are in its status and /metrics.
        let before = try #require(try OperatorProcessTests.json(StatusReport.self, ["status", "--data-dir", root + "/b"]).cache)
        // (The test file's chunks repeat: B fetched its manifest and each distinct chunk once.)
        #expect(before.misses >= 2 && before.entries == before.misses && before.bytes > 0 && before.capacityBytes == 256 << 20, "\(before)")
        let again = try await get(portB, "/ipfs/\(id)")
        #expect(again.status == 200 && again.body == bytes)
        let after = try #require(try OperatorProcessTests.json(StatusReport.self, ["status", "--data-dir", root + "/b"]).cache)
        #expect(after.misses == before.misses && after.hits >= before.hits + 4 && after.evictions == 0, "before \(before), after \(after)")
        #expect(after.hitRate > before.hitRate && after.averageLatencySeconds > 0)
        let text = try CLITests.run(["status", "--data-dir", root + "/b"]).output
        #expect(text.contains("cache     ") && text.contains("\(after.hits) hit(s), \(after.misses) miss(es), 0 eviction(s)"), "\(text)")
    }

    @Test("a gateway read makes the reader an edge cache of the resource in the DHT (inos find --caches); its eviction withdraws the record at once")
    func edgeCacheAnnouncedAndWithdrawn() async throws {
        let root = try OperatorProcessTests.folder("gw-cache")
        // Two single-chunk resources of 600 kB at A; B's cache holds one (1 MiB).
        var ids: [String] = []
        for seed in 1...2 {
            let input = root + "/input\(seed).bin"
            // Random bytes: LZ4 cannot shrink them under the cache's bound.
            try Data((0..<600_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: input))
            ids.append(try #require(try CLITests.run(["put", input, "--data-dir", root + "/a"]).output.split(separator: "\n").last.map(String.init)))
        }
        _ = try CLITests.run(["init", "--data-dir", root + "/b"])
        let manifestB = root + "/b/inos.toml"
        var text = try String(contentsOfFile: manifestB, encoding: .utf8)
        let cacheSection = try #require(text.range(of: "[cache]"))
        let sizeKey = try #require(text.range(of: "size_mib = 256", range: cacheSection.upperBound..<text.endIndex))
        text.replaceSubrange(sizeKey, with: "size_mib = 1")
        try text.write(toFile: manifestB, atomically: true, encoding: .utf8)
        let common = ["--listen", "tcp://127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--metrics-listen", "none", "--provide-interval", "1"]
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop() }
        let addressA = try a.address()
        let b = try NodeProcess(manifest: manifestB, arguments: ["--data-dir", root + "/b", "--bootstrap", addressA] + common)
        defer { _ = b.stop() }
        let (portB, addressB) = (try Self.gatewayPort(b), try b.address())
        func get(_ path: String) async throws -> APIClient.Response {
            try await APIClient(.tcp(host: "127.0.0.1", port: portB, token: "-")).fetch(.GET, path)
        }
        func caches(_ id: String) throws -> CLITests.Run { try CLITests.run(["find", id, "--caches", "--from", addressA]) }

        // Until A's record reached the DHT, B answers 404.
        var first = APIClient.Response(status: 0, body: [])
        let deadline = Date().addingTimeInterval(30)
        repeat {
            if let answer = try? await get("/ipfs/\(ids[0])") { first = answer }
            if first.status == 200 { break }
            try await Task.sleep(for: .milliseconds(500))
        } while Date() < deadline
        #expect(first.status == 200 && first.body.count == 600_000, "\(first.status) \(first.text.prefix(300))")
        // Announced straight away (the observer), under the cache key: A, the DHT, names B.
        let announced = try caches(ids[0])
        #expect(announced.status == 0 && announced.output.contains(addressB), "\(announced.output)")
        let holders = try CLITests.run(["find", ids[0], "--from", addressA])
        #expect(holders.status == 0 && !holders.output.contains(addressB), "a cache is never listed as a holder: \(holders.output)")

        // The second resource pushes the first out of B's 1 MiB: B withdraws it, and announces the second.
        let second = try await get("/ipfs/\(ids[1])")
        #expect(second.status == 200 && second.body.count == 600_000)
        let withdrawn = try caches(ids[0])
        #expect(withdrawn.status != 0 && withdrawn.output.contains("no edge cache announces"), "\(withdrawn.output) \(b.output.text.suffix(2000))")
        let now = try caches(ids[1])
        #expect(now.status == 0 && now.output.contains(addressB), "\(now.output)")
        let cache = try #require(try OperatorProcessTests.json(StatusReport.self, ["status", "--data-dir", root + "/b"]).cache)
        #expect(cache.announcedResources == 1 && cache.remoteBytes == 1_200_000 && cache.localBytes == 0 && cache.regionBytes == 0, "B names no region: what it fetched came from elsewhere \(cache)")
        #expect(cache.evictions == 1 && cache.misses == 2 && cache.capacityBytes == 1 << 20, "\(cache) \(b.output.text.suffix(3000))")
    }
}
