// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

extension MeshProcessTests {
/// Node processes whose SWIM views hold fewer members than the mesh has (`--max-members`): puts and gets still
/// find their holders through Kademlia lookups, and the operator sees the view is partial.
@Suite("Partial views across node processes", .serialized)
struct PartialViewProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    @Test("seven nodes with views of 4: each view stays within 4, status says partial with routing contacts past it, and a file put through one node reads back through another")
    func boundedViewsPutAndGet() throws {
        let root = PluginFixtures.directory.appendingPathComponent("partial-\(UUID().uuidString)").path
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "2", "--max-members", "4"]
        let seed = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n0"] + common)
        let address = try seed.address()
        var nodes = [seed]
        defer { for node in nodes { _ = node.stop(SIGKILL) } }
        for i in 1..<7 {
            nodes.append(try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n\(i)", "--bootstrap", address] + common))
        }
        // Each view fills to 3 members besides the node (never 6), and the routing tables learn more than that.
        for (index, node) in nodes.enumerated() {
            #expect(node.output.waitFor("members 3 alive,", seconds: 60), "node \(index): \(node.output.text.suffix(2000))")
        }
        let deadline = Date().addingTimeInterval(60)
        var reports: [String] = []
        repeat {
            reports = try (0..<7).map { try CLITests.run(["status", "--data-dir", root + "/n\($0)"]).output }
            if reports.allSatisfy({ $0.contains("routing   partial view") }) { break }
            usleep(500_000)
        } while Date() < deadline
        for (index, report) in reports.enumerated() {
            #expect(report.contains("routing   partial view (the mesh outgrew 4 members;"), "node \(index): \(report)")
            let alive = report.split(separator: "\n").first { $0.hasPrefix("members ") }.flatMap { Int($0.dropFirst(10).prefix { $0.isNumber }) }
            #expect(alive.map { $0 <= 3 } == true, "node \(index): \(report)")
        }
        for node in nodes { #expect(!node.output.text.contains("members 4 alive") && !node.output.text.contains("members 6 alive")) }

        // A put through node 2 and a get through node 5: the holders and their records are found by routing.
        let input = root + "/input.bin"
        try ReplicationProcessTests.randomFile(input, bytes: 3_000_000, seed: 19)
        let put = try CLITests.run(["put", input, "--mesh", try nodes[2].address(), "--data-dir", root + "/writer"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        let output = root + "/read.bin"
        let get = try CLITests.run(["get", id, "--mesh", try nodes[5].address(), "-o", output, "--data-dir", root + "/reader"])
        #expect(get.status == 0, "\(get.output)")
        #expect(FileManager.default.contentsEqual(atPath: input, andPath: output))
        for node in nodes { #expect(!node.crashed, "\(node.output.text.suffix(4000))") }
    }
}
}
