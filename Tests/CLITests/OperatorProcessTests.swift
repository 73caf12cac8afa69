// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import Foundation
import HostTestSupport
import Primitives
import Testing

/// The operator plane against real `inos node` processes: the control API on the data directory's socket and on
/// TCP behind the token, every command that asks a running node, health that follows the mesh, and a hot swap
/// through `inos plugins swap` while a fetch runs.
@Suite("Operator plane (processes)")
struct OperatorProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    static func folder(_ name: String) throws -> String {
        let root = PluginFixtures.directory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// A node on `dataDir` whose API socket is up (printed before the node is reachable).
    static func node(_ dataDir: String, _ arguments: [String] = [], manifest: String? = nil) throws -> NodeProcess {
        let node = try NodeProcess(manifest: manifest, arguments: ["--data-dir", dataDir, "--metrics-listen", "127.0.0.1:0"] + arguments)
        #expect(node.output.waitFor("api on unix:"), "\(node.output.text)")
        return node
    }

    static func json<T: Decodable>(_ type: T.Type, _ arguments: [String]) throws -> T {
        let run = try CLITests.run(arguments + ["--json"])
        #expect(run.status == 0, "\(arguments): \(run.output)")
        // Status lines of the CLI go to stderr, which the runner merges: the JSON is the part from the first brace.
        let text = run.output
        let start = try #require(text.firstIndex { $0 == "{" || $0 == "[" }, "\(text)")
        return try API.decoder.decode(T.self, from: Data(text[start...].utf8))
    }

    /// Polls `body` until it is true or `seconds` pass.
    static func eventually(_ seconds: Double = 30, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try body() { return true }
            usleep(200_000)
        } while Date() < deadline
        return false
    }

    @Test("status, members, peers, stats, health and log through the API; health warns once the only other member died; shutdown stops the node")
    func operatorCommands() throws {
        let root = try Self.folder("ops")
        let a = try Self.node(root + "/a", ["--listen", "tcp://127.0.0.1:0", "--keepalive", "0.5"])
        defer { _ = a.stop() }
        let b = try Self.node(root + "/b", ["--bootstrap", try a.address(), "--listen", "tcp://127.0.0.1:0", "--keepalive", "0.5"])
        defer { _ = b.stop() }
        let aID = try CLITests.run(["id", "--data-dir", root + "/a"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let bID = try CLITests.run(["id", "--data-dir", root + "/b"]).output.trimmingCharacters(in: .whitespacesAndNewlines)

        #expect(try Self.eventually { try Self.json(StatusReport.self, ["status", "--data-dir", root + "/a"]).members?.alive == 1 })
        let status = try Self.json(StatusReport.self, ["status", "--data-dir", root + "/a"])
        #expect(status.id == aID)
        #expect(status.connections >= 1)
        #expect(status.store != nil && status.store!.totalBytes > 0)
        #expect(status.listening.count == 1)
        let text = try CLITests.run(["status", "--data-dir", root + "/a"])
        #expect(text.output.contains("members   1 alive, 0 suspect, 0 dead"), "\(text.output)")

        let members = try Self.json([MemberReport].self, ["members", "--data-dir", root + "/a"])
        #expect(members.count == 2)
        #expect(members.first?.isSelf == true)
        #expect(members.contains { !$0.isSelf && $0.state == "alive" && $0.address.hasPrefix("tcp://127.0.0.1:") })
        #expect(try Self.eventually { try Self.json([MemberReport].self, ["members", "--data-dir", root + "/a"]).contains { !$0.isSelf && $0.rttMicroseconds != nil } })

        let peers = try Self.json([PeerReport].self, ["peers", "--data-dir", root + "/a"])
        #expect(peers.contains { $0.node == bID && $0.inbound && ($0.traffic?.bytesIn ?? 0) > 0 }, "\(peers)")

        let stats = try Self.json(StatsReport.self, ["stats", "--data-dir", root + "/a"])
        #expect(stats.total.bytesIn > 0 && stats.total.bytesOut > 0 && stats.total.framesIn > 0)
        #expect(stats.byType.contains { $0.type == "MEMBERSHIP" && $0.traffic.framesIn > 0 }, "\(stats.byType)")
        #expect(stats.byType.contains { $0.type == "PING" || $0.type == "PONG" })
        #expect(stats.byPeer.contains { $0.node == bID })
        // Frames in by type add up to the total.
        #expect(stats.byType.reduce(0) { $0 + $1.traffic.framesIn } == stats.total.framesIn)

        let healthy = try CLITests.run(["health", "--data-dir", root + "/a"])
        #expect(healthy.status == 0, "\(healthy.output)")
        #expect(healthy.output.contains("members") && healthy.output.contains("overall: OK"), "\(healthy.output)")

        // The log level changes at run time, and the tail follows the node's log.
        #expect(try CLITests.run(["log", "level", "--data-dir", root + "/a"]).output.trimmingCharacters(in: .whitespacesAndNewlines) == "info")
        let tail = Process()
        tail.executableURL = URL(fileURLWithPath: CLITests.inos)
        tail.arguments = ["log", "tail", "--json", "--lines", "0", "--data-dir", root + "/a"]
        let pipe = Pipe()
        tail.standardOutput = pipe
        tail.standardError = pipe
        let followed = OutputCollector(pipe)
        try tail.run()
        defer { if tail.isRunning { tail.terminate() } }
        usleep(300_000)
        let set = try CLITests.run(["log", "level", "debug", "--data-dir", root + "/a"])
        #expect(set.status == 0 && set.output.contains("debug"), "\(set.output)")
        #expect(followed.waitFor("log level set to debug through the API"), "\(followed.text)")
        #expect(followed.text.contains("\"level\":\"notice\""), "\(followed.text)")
        let bad = try CLITests.run(["log", "level", "loud", "--data-dir", root + "/a"])
        #expect(bad.status != 0 && bad.output.contains("unknown log level loud"), "\(bad.output)")
        tail.terminate()

        // B dies: SWIM declares it dead, and A's health warns that A is alone.
        #expect(b.stop(SIGKILL) != 0)
        #expect(try Self.eventually(60) { try CLITests.run(["health", "--data-dir", root + "/a"]).status == 1 })
        let alone = try CLITests.run(["health", "--data-dir", root + "/a"])
        #expect(alone.output.contains("no other members"), "\(alone.output)")
        #expect(try Self.eventually(60) { try Self.json([MemberReport].self, ["members", "--data-dir", root + "/a"]).contains { $0.state == "dead" && $0.stateAgeSeconds != nil } })

        let shutdown = try CLITests.run(["shutdown", "--data-dir", root + "/a"])
        #expect(shutdown.status == 0, "\(shutdown.output)")
        #expect(a.output.waitFor("node stopped"), "\(a.output.text)")
        #expect(a.stop() == 0)
        // Without a node the commands say so.
        let none = try CLITests.run(["status", "--data-dir", root + "/a"])
        #expect(none.status != 0 && none.output.contains("no node runs on"), "\(none.output)")
        #expect(try CLITests.run(["health", "--data-dir", root + "/a"]).status == 3)
    }

    @Test("the API refuses a TCP request without the right token and a socket others may open; a second node on the same data directory is refused")
    func authorization() async throws {
        let root = try Self.folder("auth")
        let a = try Self.node(root + "/a", ["--api-listen", "127.0.0.1:0"])
        defer { _ = a.stop() }
        #expect(a.output.waitFor("api on http://"), "\(a.output.text)")
        let line = try #require(a.output.text.split(separator: "\n").first { $0.hasPrefix("api on http://") })
        let address = String(line.dropFirst("api on http://".count).prefix { $0 != " " })
        let port = try #require(Int(address.split(separator: ":").last ?? ""))
        let tokenPath = root + "/a/api.token"
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var info = stat()
        #expect(stat(tokenPath, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(lstat(root + "/a/api.sock", &info) == 0 && info.st_mode & 0o777 == 0o600)

        for wrong in ["", (token.first == "0" ? "1" : "0") + token.dropFirst(), token + "x"] {  // the second differs from the token in its first character
            await #expect(throws: InosError.self) { _ = try await APIClient(.tcp(host: "127.0.0.1", port: port, token: wrong)).send(.GET, "/v1/status") }
            let response = try await APIClient(.tcp(host: "127.0.0.1", port: port, token: wrong)).fetch(.GET, "/v1/status")
            #expect(response.status == 401)
            #expect(String(decoding: response.body, as: UTF8.self).contains("\"code\":\"refused\""))
        }
        let good = try await APIClient(.tcp(host: "127.0.0.1", port: port, token: token)).call(.GET, "/v1/status", as: StatusReport.self)
        #expect(good.pid == a.process.processIdentifier)
        let viaTCP = try CLITests.run(["status", "--api", address, "--data-dir", root + "/a"])
        #expect(viaTCP.status == 0 && viaTCP.output.contains("version"), "\(viaTCP.output)")
        // An unknown route is a JSON error with a code too.
        let missing = try await APIClient(.tcp(host: "127.0.0.1", port: port, token: token)).fetch(.GET, "/v1/nothing")
        #expect(missing.status == 404 && String(decoding: missing.body, as: UTF8.self).contains("\"code\":\"not_found\""))

        // Every route of the published description (docs/api.openapi.yaml) is served: each GET answers, each POST
        // or PUT with an empty body is a 400 (its body is checked), never a 404.
        let spec = try String(contentsOf: SystemdTests.root.appendingPathComponent("docs/api.openapi.yaml"), encoding: .utf8)
        var path: String?
        var checked = 0
        for line in spec.split(separator: "\n") {
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()); continue }
            guard let current = path, !current.contains("{"), current != "/v1/shutdown", current != "/v1/log/tail" else { continue }
            let client = APIClient(.tcp(host: "127.0.0.1", port: port, token: token))
            switch line {
            case "    get:":
                let answer = try await client.fetch(.GET, current)
                #expect(answer.status == 200 || (current == "/v1/health" && answer.status == 503), "GET \(current): \(answer.status)")
                checked += 1
            case "    post:", "    put:":
                let answer = try await client.fetch(line == "    put:" ? .PUT : .POST, current, body: [])
                #expect(answer.status == 400, "\(line) \(current): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
                checked += 1
            default: continue
            }
        }
        #expect(checked >= 20, "\(checked) operations checked")

        // A socket others may open is never talked to.
        #expect(chmod(root + "/a/api.sock", 0o666) == 0)
        let open = try CLITests.run(["status", "--data-dir", root + "/a"])
        #expect(open.status != 0 && open.output.contains("mode 666") && open.output.contains("insecure"), "\(open.output)")
        #expect(chmod(root + "/a/api.sock", 0o600) == 0)
        #expect(try CLITests.run(["status", "--data-dir", root + "/a"]).status == 0)

        // One node per data directory: the second is refused while the first answers on the socket.
        let second = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--metrics-listen", "none"])
        #expect(second.output.waitFor("a node already runs on this data directory"), "\(second.output.text)")
        #expect(second.stop() != 0)
        #expect(try CLITests.run(["status", "--data-dir", root + "/a"]).status == 0)
    }

    @Test("put, get, verify, pin and unpin go through the running node; gc is refused while it runs")
    func dataThroughNode() throws {
        let root = try Self.folder("data")
        let input = root + "/input.bin"
        var random = SeededRandom(seed: 16)
        try Data((0..<(3 << 20) + 17).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: URL(fileURLWithPath: input))
        let a = try Self.node(root + "/a")
        defer { _ = a.stop() }
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a", "--progress", "json"])
        #expect(put.status == 0 && put.output.contains("(by the running node)"), "\(put.output)")
        #expect(put.output.contains("\"op\":\"put\"") && put.output.contains("\"done\":true"), "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let status = try Self.json(StatusReport.self, ["status", "--data-dir", root + "/a"])
        #expect(status.store?.pinnedResources == 1)

        let get = try CLITests.run(["get", id, "-o", root + "/out.bin", "--data-dir", root + "/a"])
        #expect(get.status == 0 && get.output.contains("(by the running node)"), "\(get.output)")
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/out.bin"))
        let verify = try CLITests.run(["verify", id, "--data-dir", root + "/a"])
        #expect(verify.status == 0 && verify.output.contains("healthy"), "\(verify.output)")
        #expect(try CLITests.run(["unpin", id, "--data-dir", root + "/a"]).output.contains("unpinned"))
        #expect(try CLITests.run(["unpin", id, "--data-dir", root + "/a"]).status != 0)
        #expect(try CLITests.run(["pin", id, "--data-dir", root + "/a"]).output.contains("pinned \(id)"))
        let gc = try CLITests.run(["gc", "--data-dir", root + "/a"])
        #expect(gc.status != 0 && gc.output.contains("holds its store"), "\(gc.output)")
        let bad = try CLITests.run(["get", "not-an-id", "-o", root + "/x", "--data-dir", root + "/a"])
        #expect(bad.status != 0)

        // job run: the node's job runner, the result and its record kept in the node's store.
        let job = try CLITests.run(["job", "run", "checksum", "--input", id, "--data-dir", root + "/a"])
        #expect(job.status == 0 && job.output.contains("(by the running node)"), "\(job.output)")
        let local = try CLITests.run(["job", "run", "checksum", "--input", id, "--data-dir", root + "/a", "-o", root + "/sum.txt"])
        #expect(local.status == 0, "\(local.output)")
        #expect(try Self.json(StatusReport.self, ["status", "--data-dir", root + "/a"]).store?.pinnedResources ?? 0 >= 3)
    }

    @Test("put --mesh, get --mesh and job submit from a member's data directory go through that running member")
    func meshThroughNode() throws {
        let root = try Self.folder("meshops")
        let input = root + "/input.bin"
        var random = SeededRandom(seed: 23)
        try Data((0..<(2 << 20)).map { _ in UInt8(ascii: "a") + UInt8(truncatingIfNeeded: random.next() % 26) }).write(to: URL(fileURLWithPath: input))
        let common = ["--listen", "tcp://127.0.0.1:0", "--repair-interval", "1", "--provide-interval", "1"]
        let a = try Self.node(root + "/a", common)
        defer { _ = a.stop() }
        let seed = try a.address()
        let b = try Self.node(root + "/b", common + ["--bootstrap", seed])
        defer { _ = b.stop() }
        let c = try Self.node(root + "/c", common + ["--bootstrap", seed])
        defer { _ = c.stop() }
        #expect(try Self.eventually { try Self.json(StatusReport.self, ["status", "--data-dir", root + "/b"]).members?.alive == 2 })

        let put = try CLITests.run(["put", input, "--mesh", seed, "--data-dir", root + "/b"])
        #expect(put.status == 0 && put.output.contains("acknowledged after"), "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let get = try CLITests.run(["get", id, "--mesh", seed, "-o", root + "/out.bin", "--data-dir", root + "/b"])
        #expect(get.status == 0 && get.output.contains("wrote "), "\(get.output)")
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/out.bin"))
        let job = try CLITests.run(["job", "submit", "checksum", "--input", id, "--mesh", seed, "--data-dir", root + "/b", "-o", root + "/job.out"])
        #expect(job.status == 0 && job.output.contains("(by the running node)"), "\(job.output)")
        #expect(((try? Data(contentsOf: URL(fileURLWithPath: root + "/job.out")))?.count ?? 0) > 0)
    }

    @Test("inos plugins swap replaces a transport strategy while a fetch runs: the session stays, the fetch completes and verifies")
    func swapDuringFetch() throws {
        let root = try Self.folder("swapfetch")
        let input = root + "/input.bin"
        var random = SeededRandom(seed: 61)
        try Data((0..<(40 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a", "--parity", "none"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let fault = try PluginFixtures.builtPlugin("InosFaultTransport")
        let manifest = try CLITests.manifest("""
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosTCPTransport"))"
            slot = "transport.base"
            [[plugins]]
            path = "\(fault)"
            slot = "transport"
            wraps = "transport.base"
            [plugins.config]
            delay_ms = 300
            seed = 1
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosPackStore"))"
            [plugins.config]
            path = "\(root)/a/store"
            """)
        let a = try Self.node(root + "/a", ["--listen", "tcp://127.0.0.1:0"], manifest: manifest)
        defer { _ = a.stop() }
        let address = try a.address()

        let fetch = Process()
        fetch.executableURL = URL(fileURLWithPath: CLITests.inos)
        fetch.arguments = ["fetch", id, "--from", address, "--data-dir", root + "/b", "-o", root + "/b.out", "--progress", "json"]
        let pipe = Pipe()
        fetch.standardOutput = pipe
        fetch.standardError = pipe
        let fetched = OutputCollector(pipe)
        try fetch.run()
        // Mid-transfer (some bytes in, not all), swap the strategy through the API.
        #expect(fetched.waitFor("\"bytes_done\":", seconds: 60), "\(fetched.text)")
        let swap = try CLITests.run(["plugins", "swap", "transport", fault, "--config", "delay_ms=1", "--config", "seed=2", "--data-dir", root + "/a"])
        #expect(swap.status == 0 && swap.output.contains("(generation 2)"), "\(swap.output)")
        let midway = fetched.text
        fetch.waitUntilExit()
        #expect(fetch.terminationStatus == 0, "\(fetched.text)")
        #expect(!midway.contains("\"done\":true"), "the fetch ended before the swap: \(midway)")
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/b.out"))
        // The same session carried the whole fetch: no connection closed, no second handshake.
        #expect(a.count("secure session with node") == 1, "\(a.output.text)")
        #expect(!a.output.text.contains("closing connection"), "\(a.output.text)")
        let plugins = try Self.json([PluginReport].self, ["plugins", "list", "--data-dir", root + "/a"])
        #expect(plugins.contains { $0.slot == "transport" && $0.generation == 2 })
    }
}
