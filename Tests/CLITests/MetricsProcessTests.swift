// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import Foundation
import HostTestSupport
import Testing

/// `/metrics` as Prometheus sees it: a real Prometheus (Debian's `prometheus`, which scripts/test.sh installs)
/// scrapes a node process, and `promtool check metrics` lints what the node exposes. Health that follows the
/// store filling up.
@Suite("Metrics and health (processes)")
struct MetricsProcessTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"
    static var hasPrometheus: Bool { FileManager.default.isExecutableFile(atPath: prometheus) && FileManager.default.isExecutableFile(atPath: promtool) }

    /// The port the node printed for its metrics listener.
    static func metricsPort(_ node: NodeProcess) throws -> Int {
        #expect(node.output.waitFor("metrics on http://127.0.0.1:"), "\(node.output.text)")
        let line = try #require(node.output.text.split(separator: "\n").first { $0.hasPrefix("metrics on http://127.0.0.1:") })
        return try #require(Int(line.dropFirst("metrics on http://127.0.0.1:".count).prefix { $0.isNumber }))
    }

    static func get(_ port: Int, _ path: String) async throws -> (Int, String) {
        // The metrics listener needs no token; the client's header is ignored there.
        let response = try await APIClient(.tcp(host: "127.0.0.1", port: port, token: "-")).fetch(.GET, path)
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    /// A port nothing listens on now (the kernel's pick, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("a real Prometheus scrapes a node's /metrics; promtool finds nothing to lint; every family is there from the start")
    func prometheusScrapes() async throws {
        guard Self.hasPrometheus else {
            Issue.record("Debian's prometheus is not installed (scripts/test.sh installs it): apt-get install prometheus")
            return
        }
        let root = try OperatorProcessTests.folder("prom")
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a", "--listen", "tcp://127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--keepalive", "0.5"])
        defer { _ = a.stop() }
        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--bootstrap", try a.address(), "--metrics-listen", "none", "--keepalive", "0.5"])
        defer { _ = b.stop() }
        let port = try Self.metricsPort(a)
        #expect(b.output.waitFor("secure session with node"), "\(b.output.text)")

        let (status, text) = try await Self.get(port, "/metrics")
        #expect(status == 200)
        for family in [
            "inos_build_info", "inos_uptime_seconds", "inos_wire_bytes_total", "inos_wire_frames_total", "inos_peer_bytes_total", "inos_requests_total",
            "inos_request_duration_seconds", "inos_rtt_seconds", "inos_members", "inos_connections", "inos_store_used_bytes", "inos_store_free_bytes",
            "inos_store_pinned_resources", "inos_chunks_served_total", "inos_pieces_stored_total", "inos_pieces_rebuilt_total",
            "inos_replication_under_replicated_resources", "inos_demand_requests_per_second", "inos_ledger_credits_earned_total",
            "inos_arena_heap_used_bytes", "inos_arena_inbox_used_bytes", "inos_backpressure_pauses_total", "inos_jobs_total", "inos_job_duration_seconds",
            "inos_plugin_swaps_total", "inos_plugin_generation", "inos_cache_hits_total", "inos_cache_misses_total", "inos_cache_evictions_total", "inos_cache_announced_resources", "inos_read_bytes_total",
            "inos_routing_contacts", "inos_members_view_partial", "inos_members_evicted_total",
            "inos_cache_hit_ratio", "inos_cache_average_latency_seconds", "inos_cache_bytes",
        ] {
            #expect(text.contains("# TYPE \(family) "), "family \(family) missing")
        }
        // promtool's lint: names, units, _total on counters, help text.
        let file = root + "/metrics.txt"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let lint = try run(Self.promtool, ["check", "metrics"], stdin: file)
        #expect(lint.status == 0 && lint.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(lint.output)")

        // Prometheus itself scrapes every second and answers queries about the node.
        let webPort = try Self.freePort()
        let config = root + "/prometheus.yml"
        try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: inos
                static_configs:
                  - targets: ["127.0.0.1:\(port)"]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.prometheus)
        server.arguments = ["--config.file=\(config)", "--storage.tsdb.path=\(root)/tsdb", "--web.listen-address=127.0.0.1:\(webPort)"]
        let pipe = Pipe()
        server.standardOutput = pipe
        server.standardError = pipe
        let log = OutputCollector(pipe)
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        func query(_ expression: String) async -> String {
            let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            return (try? await Self.get(webPort, "/api/v1/query?query=\(encoded)").1) ?? ""
        }
        var up = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            up = await query("up{job=\"inos\"}")
            if up.contains("\"value\":[") && up.contains("\"1\"]") { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(up.contains("\"1\"]"), "up: \(up)\nprometheus: \(log.text.suffix(3000))")
        let build = await query("inos_build_info")
        #expect(build.contains("\"version\":"), "\(build)")
        // B is one alive member; frames flowed both ways.
        var alive = ""
        let memberDeadline = Date().addingTimeInterval(30)
        while Date() < memberDeadline {
            alive = await query("inos_members{state=\"alive\"}")
            if alive.contains("\"1\"]") { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(alive.contains("\"1\"]"), "\(alive)")
        let frames = await query("sum(inos_wire_frames_total{direction=\"in\"}) > 0")
        #expect(frames.contains("\"value\":["), "\(frames)")
        let rtt = await query("inos_rtt_seconds_count")
        #expect(rtt.contains("\"value\":["), "\(rtt)")
    }

    @Test("health flips to WARN or ERR when the store fills up; liveness and readiness answer")
    func storeFills() async throws {
        let root = try OperatorProcessTests.folder("full")
        let manifest = try CLITests.manifest("""
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosLZ4"))"
            [[plugins]]
            path = "\(try PluginFixtures.builtPlugin("InosPackStore"))"
            [plugins.config]
            path = "\(root)/a/store"
            capacity_mib = 8
            """)
        let a = try NodeProcess(manifest: manifest, arguments: ["--data-dir", root + "/a", "--metrics-listen", "127.0.0.1:0"])
        defer { _ = a.stop() }
        let port = try Self.metricsPort(a)
        #expect(try CLITests.run(["health", "--data-dir", root + "/a"]).status == 0)
        #expect(try await Self.get(port, "/readyz").0 == 200)
        #expect(try await Self.get(port, "/healthz").0 == 200)
        // 7.5 MiB of incompressible bytes into an 8 MiB store: past the 90% warning.
        var random = SeededRandom(seed: 7)
        let input = root + "/fill.bin"
        try Data((0..<(15 << 19)).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(to: URL(fileURLWithPath: input))
        let put = try CLITests.run(["put", input, "--parity", "none", "--data-dir", root + "/a"])
        #expect(put.status == 0, "\(put.output)")
        let health = try CLITests.run(["health", "--data-dir", root + "/a"])
        #expect(health.status != 0, "\(health.output)")
        #expect(health.output.contains("store_space") && (health.output.contains("WARN") || health.output.contains("ERR")), "\(health.output)")
        let json = try CLITests.run(["health", "--json", "--data-dir", root + "/a"])
        let start = try #require(json.output.firstIndex(of: "{"), "\(json.output)")
        let report = try API.decoder.decode(HealthReport.self, from: Data(json.output[start...].utf8))
        #expect(report.checks.first { $0.name == "store_space" }?.status != .ok)
        #expect(json.status == report.status.exitCode)
    }
}

/// Runs a program with a file on standard input; its status and merged output.
func run(_ program: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    if let stdin { process.standardInput = FileHandle(forReadingAtPath: stdin) }
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
