// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

/// The node under systemd: the unit file passes `systemd-analyze verify`, and the node speaks the notify
/// protocol to the socket in `$NOTIFY_SOCKET`.
@Suite("systemd")
struct SystemdTests {
    static let analyze = "/usr/bin/systemd-analyze"
    /// The repository's root, from this file's path (Tests/CLITests/SystemdTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(
        "packaging/inos.service passes systemd-analyze verify (ExecStart pointed at the built inos)",
        .enabled(if: FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze is not installed (/usr/bin/systemd-analyze): the unit is not verified"))
    func verifyUnit() throws {
        let unit = try String(contentsOf: Self.root.appendingPathComponent("packaging/inos.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/inos node"))
        #expect(unit.contains("Type=notify"))
        let folder = PluginFixtures.directory.appendingPathComponent("unit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let copy = folder.appendingPathComponent("inos.service")
        try unit.replacingOccurrences(of: "ExecStart=/usr/local/bin/inos", with: "ExecStart=\(CLITests.inos)").write(to: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.analyze)
        process.arguments = ["verify", copy.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(!output.contains(copy.lastPathComponent), "systemd-analyze found problems in the unit:\n\(output)")
    }

    /// A Unix datagram socket bound at a fresh path, as systemd's notify socket.
    final class NotifySocket {
        let path: String
        let fd: Int32

        /// `abstract`: a name in Linux's abstract namespace, `$NOTIFY_SOCKET` then starts with `@`.
        init(abstract: Bool = false) throws {
            // sun_path holds 108 bytes: a short name in /tmp, not the long fixtures folder.
            path = abstract ? "@inos-notify-\(UUID().uuidString.prefix(8))" : "/tmp/inos-notify-\(UUID().uuidString.prefix(8)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            try #require(fd >= 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(path.utf8)
            if abstract { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: bytes)
                if !abstract { raw[bytes.count] = 0 }
            }
            let length = abstract ? socklen_t(MemoryLayout<sa_family_t>.size + bytes.count) : socklen_t(MemoryLayout<sockaddr_un>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            try #require(bound == 0, "bind \(path): errno \(errno)")
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit {
            close(fd)
            if path.hasPrefix("/") { unlink(path) }
        }

        /// The next datagram's fields, or nil after 30 s without one.
        func next() -> [String: String]? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            var fields: [String: String] = [:]
            for line in String(decoding: buffer.prefix(count), as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            return fields
        }

        /// Datagrams until one has `key`, or nil after a timeout.
        func waitFor(_ key: String, seen: inout [[String: String]]) -> [String: String]? {
            while let fields = next() {
                seen.append(fields)
                if fields[key] != nil { return fields }
            }
            return nil
        }
    }

    @Test("inos node sends READY=1 once it listens, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM")
    func notifyLifecycle() throws {
        let socket = try NotifySocket()
        let data = PluginFixtures.directory.appendingPathComponent("notify-\(UUID().uuidString)").path
        let node = try NodeProcessTests.NodeProcess(
            manifest: try NodeProcessTests.tcpManifest(), arguments: ["--listen", "tcp://127.0.0.1:0", "--data-dir", data],
            environment: ["NOTIFY_SOCKET": socket.path])
        var seen: [[String: String]] = []
        let ready = try #require(socket.waitFor("READY", seen: &seen), "no READY=1: \(seen)\n\(node.output.text)")
        #expect(ready["READY"] == "1")
        let address = try node.address()
        #expect(ready["STATUS"]?.contains("listening on \(address)") == true, "\(ready)")
        #expect(ready["MAINPID"] == "\(node.process.processIdentifier)")

        kill(node.process.processIdentifier, SIGHUP)
        let reloading = try #require(socket.waitFor("RELOADING", seen: &seen), "no RELOADING=1: \(seen)")
        let usec = try #require(reloading["MONOTONIC_USEC"].flatMap(UInt64.init), "\(reloading)")
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        #expect(usec <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000)
        let again = try #require(socket.waitFor("READY", seen: &seen), "no READY=1 after the reload: \(seen)")
        #expect(again["STATUS"]?.contains("manifest reloaded") == true, "\(again)")

        kill(node.process.processIdentifier, SIGTERM)
        let stopping = socket.waitFor("STOPPING", seen: &seen)
        #expect(stopping?["STOPPING"] == "1", "no STOPPING=1: \(seen)\n\(node.output.text)")
        #expect(node.stop() == 0)
        #expect(node.output.text.contains("node stopped"))
    }

    @Test("an abstract NOTIFY_SOCKET (@name) works too; --run-for ends with STOPPING=1")
    func abstractSocket() throws {
        let socket = try NotifySocket(abstract: true)
        let data = PluginFixtures.directory.appendingPathComponent("notify-\(UUID().uuidString)").path
        let node = try NodeProcessTests.NodeProcess(
            manifest: nil, arguments: ["--data-dir", data, "--run-for", "1"], environment: ["NOTIFY_SOCKET": socket.path])
        var seen: [[String: String]] = []
        #expect(socket.waitFor("READY", seen: &seen)?["READY"] == "1", "\(seen)\n\(node.output.text)")
        #expect(socket.waitFor("STOPPING", seen: &seen)?["STOPPING"] == "1", "\(seen)\n\(node.output.text)")
        node.process.waitUntilExit()
        #expect(node.process.terminationStatus == 0, "\(node.output.text)")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and the node runs as before; a bad one is a warning, not a failure")
    func badNotifySocket() throws {
        let data = PluginFixtures.directory.appendingPathComponent("notify-\(UUID().uuidString)").path
        let node = try NodeProcessTests.NodeProcess(
            manifest: nil, arguments: ["--data-dir", data, "--run-for", "1"], environment: ["NOTIFY_SOCKET": "relative/path"])
        #expect(node.output.waitFor("node stopped"), "\(node.output.text)")
        #expect(node.output.text.contains("systemd notification failed: NOTIFY_SOCKET \"relative/path\""), "\(node.output.text)")
        node.process.waitUntilExit()
        #expect(node.process.terminationStatus == 0)
    }
}
