// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// Real `inos node` processes talking over loopback TCP.
@Suite("Node processes")
struct NodeProcessTests {
    final class NodeProcess {
        let process = Process()
        let output: OutputCollector

        init(manifest: String?, arguments: [String], environment: [String: String] = [:]) throws {
            process.executableURL = URL(fileURLWithPath: CLITests.inos)
            process.arguments = ["node"] + (manifest.map { ["--manifest", $0] } ?? []) + arguments
            // One node per data directory (its identity, store and API socket): a node the test gives none gets a
            // fresh one, never the user's ~/.inos.
            var environment = environment
            if !arguments.contains("--data-dir") && environment["INOS_DATA_DIR"] == nil {
                environment["INOS_DATA_DIR"] = PluginFixtures.directory.appendingPathComponent("node-\(UUID().uuidString.prefix(8))").path
            }
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            output = OutputCollector(pipe)
            try process.run()
        }

        /// The address printed as "listening on ADDRESS".
        func address() throws -> String {
            #expect(output.waitFor("listening on tcp://"), "\(output.text)")
            let line = try #require(output.text.split(separator: "\n").first { $0.hasPrefix("listening on ") })
            return String(line.dropFirst("listening on ".count))
        }

        /// Whether the node crashed (a trap, a fatal error): the Swift runtime's backtracer reports it.
        var crashed: Bool { let text = output.text; return text.contains("Program crashed") || text.contains("Fatal error") }

        /// Sends `signal` and waits for the node to exit; returns its status. A node that crashed is a test
        /// failure whatever the test did, with its backtrace: the backtracer is given time to finish before the
        /// signal, since killing a process mid-backtrace leaves the backtracer (and this wait) stuck.
        func stop(_ signal: Int32 = SIGTERM) -> Int32 {
            let pid = process.processIdentifier
            if crashed {
                let deadline = Date().addingTimeInterval(30)
                while process.isRunning && Date() < deadline { usleep(100_000) }
                Issue.record("node \(pid) crashed:\n\(output.text.suffix(12_000))")
            }
            kill(pid, signal)
            // Bounded: Foundation reaps its children on SIGCHLD; should that be missed, reap the zombie here.
            let deadline = Date().addingTimeInterval(60)
            var zombieSince: Date?
            while process.isRunning && Date() < deadline {
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                let zombie = stat.split(separator: ")").last?.split(separator: " ").first == "Z"
                if zombie, let since = zombieSince, Date().timeIntervalSince(since) > 5 {
                    var status: Int32 = 0
                    if waitpid(pid, &status, WNOHANG) == pid { return status == 0 ? 0 : max(1, status) }
                } else if zombie && zombieSince == nil {
                    zombieSince = Date()
                }
                usleep(20_000)
            }
            if process.isRunning {
                Issue.record("node \(pid) did not exit within 60 s of signal \(signal)")
                return -1
            }
            return process.terminationStatus
        }

        func count(_ needle: String) -> Int { output.text.components(separatedBy: needle).count - 1 }
    }

    static func tcpManifest() throws -> String {
        try CLITests.manifest("""
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosTCPTransport"))"
            slot = "transport"
            [plugins.config]
            connect_timeout_s = 2
            """)
    }

    @Test("a node dials its bootstrap peer, redials with backoff after the peer is killed, and both stop cleanly on SIGTERM")
    func bootstrapAndReconnect() throws {
        let manifest = try Self.tcpManifest()
        let a = try NodeProcess(manifest: manifest, arguments: ["--listen", "tcp://127.0.0.1:0"])
        let address = try a.address()
        let b = try NodeProcess(manifest: manifest, arguments: ["--bootstrap", address])
        #expect(b.output.waitFor("connected to bootstrap peer \(address)"), "\(b.output.text)")
        #expect(a.output.waitFor("from tcp://127.0.0.1:"), "\(a.output.text)")

        #expect(a.stop(SIGKILL) != 0)  // the peer dies without a goodbye
        #expect(b.output.waitFor("redialing bootstrap peer \(address)"), "\(b.output.text)")
        #expect(b.output.waitFor("cannot reach bootstrap peer \(address)"), "\(b.output.text)")

        // The peer comes back on the same port: the node finds it again on its own.
        let port = address.split(separator: ":").last!
        let again = try NodeProcess(manifest: manifest, arguments: ["--listen", "tcp://127.0.0.1:\(port)"])
        #expect(try again.address() == address)
        let deadline = Date().addingTimeInterval(40)
        while b.count("connected to bootstrap peer") < 2 && Date() < deadline { usleep(50_000) }
        #expect(b.count("connected to bootstrap peer") == 2, "\(b.output.text)")
        #expect(again.output.waitFor("from tcp://127.0.0.1:"), "\(again.output.text)")

        #expect(b.stop() == 0)
        #expect(b.output.waitFor("node stopped"))
        #expect(again.output.waitFor("closed"), "\(again.output.text)")
        #expect(again.stop() == 0)
    }

    @Test("three processes exchange a resource over secure sessions: A serves, B fetches and serves, C fetches from B; a wrong node is refused")
    func exchangeChunks() throws {
        let root = PluginFixtures.directory.appendingPathComponent("mesh-\(UUID().uuidString)").path
        let input = root + "/input.bin"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var random = SeededRandom(seed: 4242)
        try Data((0..<(12 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--data-dir", root + "/a"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))

        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0"])
        defer { _ = a.stop() }
        let fromA = try CLITests.run(["fetch", id, "--from", try a.address(), "--data-dir", root + "/b", "-o", root + "/b.out"])
        #expect(fromA.status == 0, "\(fromA.output)")
        #expect(fromA.output.contains("secure session with node"))
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/b.out"))

        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--listen", "tcp://127.0.0.1:0"])
        defer { _ = b.stop() }
        let bID = try CLITests.run(["id", "--data-dir", root + "/b"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let fromB = try CLITests.run(["fetch", id, "--from", try b.address(), "--expect", bID, "--data-dir", root + "/c", "-o", root + "/c.out"])
        #expect(fromB.status == 0, "\(fromB.output)")
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: root + "/c.out"))

        // Dialing A while expecting B's identity: the session proves otherwise and nothing is fetched.
        let impostor = try CLITests.run(["fetch", id, "--from", try a.address(), "--expect", bID, "--data-dir", root + "/d"])
        #expect(impostor.status != 0)
        #expect(impostor.output.contains("not the expected"), "\(impostor.output)")
        #expect(b.output.waitFor("secure session with node"), "\(b.output.text)")
    }

    @Test("SIGHUP swaps the transport strategy of a running node: its sessions stay up and keep working")
    func strategySwapKeepsSessions() throws {
        let root = PluginFixtures.directory.appendingPathComponent("swap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        func manifest(_ strategy: String) -> String {
            """
            [[plugins]]
            path = "\((try? PluginFixtures.builtPlugin("InosTCPTransport")) ?? "")"
            slot = "transport.base"
            [[plugins]]
            path = "\((try? PluginFixtures.builtPlugin("InosFaultTransport")) ?? "")"
            slot = "transport"
            wraps = "transport.base"
            [plugins.config]
            \(strategy)
            [[plugins]]
            path = "\((try? PluginFixtures.builtPlugin("InosPackStore")) ?? "")"
            [plugins.config]
            path = "\(root)/a-store"
            """
        }
        let path = root + "/a.toml"
        try manifest("seed = 1").write(toFile: path, atomically: true, encoding: .utf8)
        let a = try NodeProcess(manifest: path, arguments: ["--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0"])
        defer { _ = a.stop() }
        // B pings A every half second and reports the round trip in its status line.
        let b = try NodeProcess(
            manifest: nil, arguments: ["--data-dir", root + "/b", "--bootstrap", try a.address(), "--keepalive", "0.5", "--status-interval", "0.5"])
        defer { _ = b.stop() }
        #expect(a.output.waitFor("secure session with node"), "\(a.output.text)")
        #expect(b.output.waitFor("secure session with node"), "\(b.output.text)")

        try manifest("delay_ms = 2\nseed = 2").write(toFile: path, atomically: true, encoding: .utf8)
        kill(a.process.processIdentifier, SIGHUP)
        #expect(a.output.waitFor("manifest reloaded: swapped [\"transport\"]"), "\(a.output.text)")
        usleep(300_000)
        #expect(!a.output.text.contains(" closed ("), "\(a.output.text)")
        #expect(!b.output.text.contains(" closed ("), "\(b.output.text)")
        #expect(a.count("secure session with node") == 1)  // the same session, not a new one
        // ...and it carries traffic through the new strategy: B's keepalive pings keep being answered.
        let before = b.count(" µs]")
        let deadline = Date().addingTimeInterval(10)
        while b.count(" µs]") < before + 3 && Date() < deadline { usleep(50_000) }
        #expect(b.count(" µs]") >= before + 3, "\(b.output.text)")
        #expect(!b.output.text.contains("no answer to keepalive"))
    }

    @Test("membership and DHT: four nodes find each other through one bootstrap peer, inos find locates a resource's holder, a killed node is declared dead")
    func membership() throws {
        let root = PluginFixtures.directory.appendingPathComponent("swim-\(UUID().uuidString)").path
        // D holds a resource; every node announces what it pins to the DHT each second.
        let input = root + "/d-input.bin"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 131) }).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--data-dir", root + "/d"])
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1"]
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop() }
        let seed = try a.address()
        var others: [NodeProcess] = []
        for name in ["b", "c", "d"] {
            others.append(try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/" + name, "--bootstrap", seed] + common))
        }
        defer { for node in others { _ = node.stop() } }
        // Each learns of all the others, though it only dialed A: membership spreads addresses and sessions follow.
        for node in [a] + others {
            #expect(node.output.waitFor("members 3 alive, 0 suspect, 0 dead", seconds: 30), "\(node.output.text)")
        }
        // Each publishes its status on the node-status gossip topic; each hears the other three.
        for node in [a] + others {
            #expect(node.output.waitFor("dead, status from 3,", seconds: 30), "\(node.output.text)")
        }
        // The DHT finds D as the holder, asked through A.
        let dAddress = try others[2].address()
        var found = ""
        let deadline = Date().addingTimeInterval(20)
        repeat {
            found = try CLITests.run(["find", id, "--from", seed, "--data-dir", root + "/e"]).output
            if found.contains(dAddress) { break }
            usleep(300_000)
        } while Date() < deadline
        #expect(found.contains(dAddress), "\(found)")
        #expect(found.contains("lookup: ") && found.contains("member(s) asked"), "\(found)")  // an iterative lookup ran
        let unknown = try CLITests.run(["find", "bafkreihwwd62dc7a7o4g4iki5jtwb5jmgw7mszhsh7rtgotihfez4tf6ke", "--from", seed, "--data-dir", root + "/e"])
        #expect(unknown.status != 0 && unknown.output.contains("no provider records"))
        #expect(others[2].stop(SIGKILL) != 0)
        for node in [a, others[0], others[1]] {
            #expect(node.output.waitFor("members 2 alive, 0 suspect, 1 dead", seconds: 60), "\(node.output.text)")
        }
        // At least one declared it dead on its own suspicion timeout; the others may have heard it by gossip.
        #expect([a, others[0], others[1]].contains { $0.output.text.contains("declared dead") })
        // After first contact no single node is required: without the bootstrap peer, B and C go on together.
        #expect(a.stop(SIGKILL) != 0)
        for node in [others[0], others[1]] {
            #expect(node.output.waitFor("members 1 alive, 0 suspect, 2 dead", seconds: 60), "\(node.output.text)")
        }
    }

    @Test("relayed signaling: A cannot dial C, asks it through the mesh, and C dials A back")
    func relayedSignaling() throws {
        let root = PluginFixtures.directory.appendingPathComponent("signal-\(UUID().uuidString)").path
        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5"])
        defer { _ = b.stop() }
        let seed = try b.address()
        // C is "behind a NAT": the address it advertises cannot be dialed; it can still dial out.
        let c = try NodeProcess(manifest: nil, arguments: [
            "--data-dir", root + "/c", "--listen", "tcp://127.0.0.1:0", "--advertise", "tcp://127.0.0.1:1", "--bootstrap", seed,
            "--status-interval", "0.5",
        ])
        defer { _ = c.stop() }
        #expect(b.output.waitFor("members 1 alive"), "\(b.output.text)")
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0", "--bootstrap", seed, "--status-interval", "0.5"])
        defer { _ = a.stop() }
        let aAddress = try a.address()
        #expect(a.output.waitFor("asking it through the mesh to dial \(aAddress)", seconds: 30), "\(a.output.text)")
        #expect(c.output.waitFor("relayed connection offer: dialing \(aAddress)", seconds: 30), "\(c.output.text)")
        // A now has a session with C that C opened, and both see all members alive.
        #expect(a.output.waitFor("members 2 alive, 0 suspect, 0 dead", seconds: 30), "\(a.output.text)")
        #expect(c.output.waitFor("members 2 alive, 0 suspect, 0 dead", seconds: 30), "\(c.output.text)")
        // The session C opened to A (C dialed out, which works where dialing C does not).
        let aID = try CLITests.run(["id", "--data-dir", root + "/a"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(c.output.waitFor("to \(aAddress) open"), "\(c.output.text)")
        #expect(c.output.waitFor("secure session with node \(aID)"), "\(c.output.text)")
    }

    @Test("anti-entropy: a node that joins later gets the provider records it missed by comparing Merkle roots, not by a republish")
    func antiEntropy() throws {
        let root = PluginFixtures.directory.appendingPathComponent("merkle-\(UUID().uuidString)").path
        let input = root + "/input.bin"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: input))
        #expect(try CLITests.run(["put", input, "--data-dir", root + "/d"]).status == 0)
        // D starts alone and announces its resource while it knows nobody: the record stays with D, and the next
        // announcement is an hour away.
        let d = try NodeProcess(manifest: nil, arguments: [
            "--data-dir", root + "/d", "--listen", "tcp://127.0.0.1:0", "--provide-interval", "3600", "--status-interval", "0.5",
        ])
        defer { _ = d.stop() }
        let dAddress = try d.address()
        #expect(d.output.waitFor("1 provider record(s)"), "\(d.output.text)")
        let a = try NodeProcess(manifest: nil, arguments: [
            "--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0", "--bootstrap", dAddress, "--provide-interval", "3600",
            "--status-interval", "0.5",
        ])
        defer { _ = a.stop() }
        #expect(a.output.waitFor("provider record(s) updated", seconds: 30), "\(a.output.text)")
        #expect(a.output.waitFor("status from 1, 1 provider record(s)", seconds: 10), "\(a.output.text)")
    }

    @Test("inos id creates the identity once (mode 0600), prints the same ID after, and refuses a key others can read")
    func identity() throws {
        let directory = PluginFixtures.directory.appendingPathComponent("id-\(UUID().uuidString)").path
        let first = try CLITests.run(["id", "--data-dir", directory])
        #expect(first.status == 0)
        let id = first.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("n") && id.count == 53, "\(first.output)")
        #expect(try CLITests.run(["id", "--data-dir", directory]).output.trimmingCharacters(in: .whitespacesAndNewlines) == id)
        chmod(directory + "/identity.key", 0o644)
        let refused = try CLITests.run(["id", "--data-dir", directory])
        #expect(refused.status != 0)
        #expect(refused.output.contains("readable by others"))
    }

    @Test("store fsck refuses (status 75, naming the node) while a node has the store open, and checks it once the node has stopped")
    func fsckRefusedUnderRunningNode() throws {
        let root = PluginFixtures.directory.appendingPathComponent("fsck-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: root + "/input.bin"))
        let put = try CLITests.run(["put", root + "/input.bin", "--data-dir", root + "/data"])
        #expect(put.status == 0, "\(put.output)")
        let store = root + "/data/store"
        let log = try Data(contentsOf: URL(fileURLWithPath: store + "/index.log"))

        let node = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/data", "--listen", "tcp://127.0.0.1:0"])
        _ = try node.address()  // listening: the store was opened before the transport
        for arguments in [["store", "fsck", store], ["store", "fsck", "--repair", store]] {
            let refused = try CLITests.run(arguments)
            #expect(refused.status == 75, "\(refused.output)")
            #expect(refused.output.contains("is in use: it is open, by pid \(node.process.processIdentifier) ("), "\(refused.output)")
            #expect(refused.output.contains("inos node --data-dir"), "\(refused.output)")
            #expect(!refused.output.contains("packs:"), "\(refused.output)")  // nothing was checked
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: store + "/index.log")) == log)
        #expect(node.stop() == 0)

        let checked = try CLITests.run(["store", "fsck", store])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("clean: "), "\(checked.output)")
    }

    @Test("listen or bootstrap without a transport plugin, or on a bad address, is a clear error")
    func misconfigured() throws {
        let lz4Only = try CLITests.manifest("[[plugins]]\npath = \"\(try PluginFixtures.builtPlugin("InosLZ4"))\"\n")
        let noTransport = try CLITests.run(["node", "--manifest", lz4Only, "--listen", "tcp://127.0.0.1:0", "--run-for", "1"])
        #expect(noTransport.status != 0)
        #expect(noTransport.output.contains("need a transport plugin in slot \"transport\""), "\(noTransport.output)")
        let badAddress = try CLITests.run(["node", "--manifest", try Self.tcpManifest(), "--listen", "tcp://nowhere", "--run-for", "1"])
        #expect(badAddress.status != 0)
        #expect(badAddress.output.contains("needs a port"), "\(badAddress.output)")
    }
}
