// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import Foundation
import HostTestSupport
import Testing

/// The web dashboard in a real headless browser: Tests/Dashboard/dashboard_test.py drives Debian's `chromium`
/// through `chromium-driver` with Selenium against a mesh of five `inos node` processes.
@Suite("Dashboard (processes, headless Chromium)")
struct DashboardProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    enum Dashboard { static let cookieName = "inos_api_token" }
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"
    static var script: String { SystemdTests.root.appendingPathComponent("Tests/Dashboard/dashboard_test.py").path }

    /// Chromium, its driver and Selenium for `python3` (scripts/install-deps.sh installs all three; the test is
    /// skipped only where they could not be installed).
    static var hasBrowser: Bool {
        guard FileManager.default.isExecutableFile(atPath: chromium), FileManager.default.isExecutableFile(atPath: chromedriver) else { return false }
        return (try? run("/usr/bin/env", ["python3", "-c", "import selenium"]).status) == 0
    }

    @Test("every page renders the node's data; a put shows its replica map; a SIGKILLed node turns dead on Mesh; screenshots saved",
          .enabled(if: hasBrowser, "needs /usr/bin/chromium, /usr/bin/chromedriver and Selenium for python3 (scripts/install-deps.sh installs them)"),
          .timeLimit(.minutes(6)))
    func pagesInBrowser() async throws {
        let root = try OperatorProcessTests.folder("dash")
        // Where the screenshots go: INOS_DASHBOARD_SCREENSHOTS names the folder (docs/dashboard/ for the docs).
        let shots = ProcessInfo.processInfo.environment["INOS_DASHBOARD_SCREENSHOTS"] ?? root + "/screenshots"
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1", "--repair-interval", "1", "--metrics-listen", "none"]
        let seed = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n0", "--api-listen", "127.0.0.1:0"] + common)
        defer { _ = seed.stop() }
        let address = try seed.address()
        var others: [NodeProcess] = []
        defer { for node in others where node.process.isRunning { _ = node.stop() } }
        for i in 1..<5 {
            others.append(try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/n\(i)", "--bootstrap", address] + common))
        }
        for node in [seed] + others {
            #expect(node.output.waitFor("members 4 alive, 0 suspect, 0 dead, status from 4,", seconds: 60), "\(node.output.text)")
        }
        #expect(seed.output.waitFor("api on http://"), "\(seed.output.text)")
        let line = try #require(seed.output.text.split(separator: "\n").first { $0.hasPrefix("api on http://") })
        let api = String(line.dropFirst("api on http://".count).prefix { $0 != " " })
        let port = try #require(Int(api.split(separator: ":").last ?? ""))
        let token = try String(contentsOfFile: root + "/n0/api.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = APIClient(.tcp(host: "127.0.0.1", port: port, token: token))
        let status = try await client.call(.GET, "/v1/status", as: StatusReport.self)
        let nodeID = try #require(status.id)

        // The cookie reads, never controls; a wrong token in the address is refused, not traded for a cookie.
        let anonymous = APIClient(.tcp(host: "127.0.0.1", port: port, token: "-"))
        let cookie = [("Cookie", "\(Dashboard.cookieName)=\(token)")]
        #expect(try await anonymous.fetch(.GET, "/v1/dashboard/mesh", headers: cookie).status == 200)
        #expect(try await anonymous.fetch(.GET, "/dashboard/mesh").status == 401)
        #expect(try await anonymous.fetch(.POST, "/v1/shutdown", headers: cookie).status == 401)
        #expect(try await anonymous.fetch(.GET, "/dashboard/?token=\(String(token.reversed()))").status == 401)
        let login = try await anonymous.fetch(.GET, "/dashboard/mesh?token=\(token)")
        #expect(login.status == 303 && login.headers["location"] == "/dashboard/mesh", "\(login.headers)")
        #expect(login.headers["set-cookie"] == "\(Dashboard.cookieName)=\(token); HttpOnly; SameSite=Strict; Path=/")

        // A resource put into the mesh from a client.
        let input = root + "/input.bin"
        try Data((0..<2_500_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--mesh", address, "--budget", "50", "--data-dir", root + "/client"])
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        // The seed holds it once the put is acknowledged (five members: every one is a holder).
        #expect(OperatorProcessTests.eventually(30) { FileManager.default.fileExists(atPath: root + "/n0/pins/\(id)") }, "\(seed.output.text.suffix(3000))")

        // The seed's own resource and a job over it submitted through the seed (it owns the data, so the holders
        // run its parts): the Jobs page shows the parts per node.
        let owned = root + "/owned.txt"
        try Data((0..<1_500_000).map { UInt8(ascii: "a") + UInt8(truncatingIfNeeded: ($0 &* 7_919) % 26) }).write(to: URL(fileURLWithPath: owned))
        let ownPut = try CLITests.run(["put", owned, "--mesh", address, "--data-dir", root + "/n0"])
        #expect(ownPut.status == 0, "\(ownPut.output)")
        let ownID = try #require(ownPut.output.split(separator: "\n").last.map(String.init))
        let job = try CLITests.run(["job", "submit", "word-count", "--reduce", "sum", "--input", ownID, "--mesh", address, "--data-dir", root + "/n0", "-o", root + "/job.out"])
        #expect(job.status == 0 && job.output.contains("(by the running node)"), "\(job.output)")

        // A local put on the seed with Reed-Solomon parity (2+1 per stripe): its map shows the parity shards apart.
        let local = try CLITests.run(["put", owned, "--parity", "2+1", "--chunk-kib", "256", "--data-dir", root + "/n0"])
        #expect(local.status == 0, "\(local.output)")

        // The node to kill, by its member ID in the seed's view.
        let victim = others[3]
        let victimAddress = try victim.address()
        let members = try await client.call(.GET, "/v1/members", as: [MemberReport].self)
        let victimMember = try #require(members.first { $0.address == victimAddress }?.id, "\(members)")

        let browser = try Self.run(
            "/usr/bin/env",
            [
                "python3", Self.script, "--url", "http://127.0.0.1:\(port)", "--token", token, "--out", shots, "--node-id", nodeID, "--members", "5",
                "--resource", id, "--kill-pid", "\(victim.process.processIdentifier)", "--kill-member", victimMember, "--dead-within", "45", "--expect-job", "--expect-parity",
                "--chromium", Self.chromium, "--chromedriver", Self.chromedriver,
            ], timeout: 300)
        #expect(browser.status == 0, "\(browser.output)")
        let last = try #require(browser.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(browser.output)")
        let findings = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let overview = try #require(findings["overview"] as? [String: Any])
        #expect(overview["node_id"] as? String == nodeID && overview["members"] as? Int == 5, "\(overview)")
        let resources = try #require(findings["resources"] as? [String: Any])
        #expect(resources["resource"] as? String == id && (resources["held"] as? Int ?? 0) > 0 && (resources["holders"] as? Int ?? 0) >= 2, "\(resources)")
        #expect((resources["parity_cells"] as? Int ?? 0) >= 3, "\(resources)")
        let jobs = try #require(findings["jobs"] as? [String: Any])
        #expect((jobs["job_rows"] as? Int ?? 0) >= 1 && (jobs["job_parts"] as? Int ?? 0) >= 1 && (jobs["plugin_slots"] as? Int ?? 0) >= 1, "\(jobs)")
        let killed = try #require(findings["killed"] as? [String: Any])
        #expect((killed["dead_after_seconds"] as? Double ?? 99) <= 45, "\(killed)")
        #expect(victim.stop() != 0)  // it was killed by the script
        for name in ["overview", "mesh", "resources", "jobs", "mesh-dead"] {
            let png = try Data(contentsOf: URL(fileURLWithPath: shots + "/\(name).png"))
            #expect(png.count > 10_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "\(name).png: \(png.count) bytes")
        }
    }

    /// Runs `program` with its output (stdout and stderr) collected; killed after `timeout` seconds.
    static func run(_ program: String, _ arguments: [String], timeout: Double = 60) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = OutputCollector(pipe)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        _ = output.waitFor("\u{0}", seconds: 0.5)
        return (process.terminationStatus, output.text)
    }
}
