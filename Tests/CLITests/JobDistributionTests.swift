// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// Distributed jobs across real node processes: data-local parts, results reduced, a node killed mid-job.
extension MeshProcessTests {
@Suite("Distributed jobs across node processes", .serialized)
struct JobDistributionTests {
    /// A node manifest with the test runner (Tests/Fixtures/fault_jobs.c) as its job runner.
    static func manifest(store: String) throws -> String {
        try CLITests.manifest("""
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosLZ4"))"
            kind = "compression"
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosTCPTransport"))"
            kind = "transport"
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosAdaptiveAllocator"))"
            kind = "allocator"
            [[plugins]]
            path = "\(try PluginFixtures.faultJobRunner())"
            kind = "job_runner"
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosPackStore"))"
            kind = "store"
            [plugins.config]
            path = "\(store)"
            """)
    }

    @Test("a job runs each chunk where it is, on every holder the size tier asks for; a node killed mid-job has its part run elsewhere")
    func killedMidJob() throws {
        let root = PluginFixtures.directory.appendingPathComponent("jobs-\(UUID().uuidString)").path
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1", "--repair-interval", "60"]
        var nodes: [NodeProcessTests.NodeProcess] = []
        defer { for node in nodes { _ = node.stop(SIGKILL) } }
        nodes.append(try NodeProcessTests.NodeProcess(manifest: try Self.manifest(store: root + "/n0/store"), arguments: ["--data-dir", root + "/n0"] + common))
        let seed = try nodes[0].address()
        for i in 1..<4 {
            nodes.append(try NodeProcessTests.NodeProcess(
                manifest: try Self.manifest(store: root + "/n\(i)/store"), arguments: ["--data-dir", root + "/n\(i)", "--bootstrap", seed] + common))
        }
        for node in nodes { #expect(node.output.waitFor("members 3 alive, 0 suspect, 0 dead, status from 3,", seconds: 60), "\(node.output.text)") }
        // 12 MB: 12 chunks, 4 copies each (every node: a sparse mesh), a job of the 10–100 MB tier (5 nodes).
        let input = root + "/input.bin"
        try ReplicationProcessTests.randomFile(input, bytes: 12_000_000, seed: 31)
        let put = try CLITests.run(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", root + "/client"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))

        // Each chunk's job takes 500 ms and answers the chunk's length; the sum is the file's size.
        let submit = Process()
        submit.executableURL = URL(fileURLWithPath: CLITests.inos)
        submit.arguments = ["job", "submit", "slow-length", "--parameters", "500", "--reduce", "sum", "--input", id, "--mesh", seed, "--data-dir", root + "/client"]
        let out = Pipe(), err = Pipe()
        submit.standardOutput = out
        submit.standardError = err
        try submit.run()
        // Killed once its part is running there (its log says so; each chunk then takes 500 ms), not after a
        // fixed sleep: on a loaded machine the submit may not have reached the node yet, and the kill would
        // only shrink the census instead of failing a part.
        #expect(nodes[2].output.waitFor("job slow-length over", seconds: 60), "\(nodes[2].output.text)")
        #expect(nodes[2].stop(SIGKILL) != 0, "the node is killed while its part runs")
        let result = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let report = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        submit.waitUntilExit()
        #expect(submit.terminationStatus == 0, "\(report)")
        #expect(result == "12000000\n", "every chunk counted once: \(result)\n\(report)")
        #expect(report.contains("failed (") && report.contains("its chunks ran elsewhere"), "\(report)")
        let summary = report.split(separator: "\n").first { $0.contains("retried elsewhere") } ?? ""
        let retried = summary.components(separatedBy: "; ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        #expect(retried >= 1, "\(report)")
        #expect(report.contains("(the size tier asks for 5)") && report.contains("job record b"), "\(report)")
    }

    @Test("a function that fails on a chunk fails the job with the runner's message, not a retry loop")
    func jobError() throws {
        let root = PluginFixtures.directory.appendingPathComponent("joberr-\(UUID().uuidString)").path
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1"]
        let a = try NodeProcessTests.NodeProcess(manifest: try Self.manifest(store: root + "/a/store"), arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop(SIGKILL) }
        let seed = try a.address()
        let b = try NodeProcessTests.NodeProcess(manifest: try Self.manifest(store: root + "/b/store"), arguments: ["--data-dir", root + "/b", "--bootstrap", seed] + common)
        defer { _ = b.stop(SIGKILL) }
        for node in [a, b] { #expect(node.output.waitFor("members 1 alive, 0 suspect, 0 dead, status from 1,", seconds: 60), "\(node.output.text)") }
        let input = root + "/input.bin"
        try ReplicationProcessTests.randomFile(input, bytes: 3_000_000, seed: 32)
        let put = try CLITests.run(["put", input, "--mesh", seed, "--data-dir", root + "/client"])
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let missing = try CLITests.run(["job", "submit", "no-such-function", "--input", id, "--mesh", seed, "--data-dir", root + "/client"])
        #expect(missing.status != 0 && missing.output.contains("no such function"), "\(missing.output)")
        // A crashing job: isolated on the node, it fails with the signal; the node stays up.
        let crash = try CLITests.run(["job", "submit", "crash", "--input", id, "--mesh", seed, "--data-dir", root + "/client"])
        #expect(crash.status != 0 && crash.output.contains("SIGSEGV"), "\(crash.output)")
        let again = try CLITests.run(["job", "submit", "slow-length", "--parameters", "0", "--reduce", "sum", "--input", id, "--mesh", seed, "--data-dir", root + "/client"])
        #expect(again.status == 0 && again.output.hasPrefix("3000000\n"), "\(again.output)")
    }
}
}
