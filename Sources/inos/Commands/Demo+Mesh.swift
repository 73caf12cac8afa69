// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

extension Demo {
    /// A child `inos` process whose output is collected, so the demo can wait for what it says.
    final class Child: @unchecked Sendable {  // `text` is only touched under `lock`
        let process = Process()
        private let lock = NSLock()
        private var text = ""

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: Demo.executable)
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.text += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var output: String { lock.withLock { text } }

        /// Waits up to `seconds` for a line containing `needle`; returns it.
        func wait(for needle: String, seconds: Double = 30) throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let line = output.split(separator: "\n").last(where: { $0.contains(needle) }) { return String(line) }
                usleep(50_000)
            }
            throw CommandFailure("demo: a node did not report \"\(needle)\" within \(Int(seconds)) s:\n\(output)")
        }

        func stop(_ signal: Int32 = SIGTERM) {
            guard process.isRunning else { return }
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
        }
    }

    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }

    /// Runs `inos` to completion and returns its output; fails the demo if it fails.
    static func inos(_ arguments: [String]) throws -> String {
        let child = try Child(arguments)
        child.process.waitUntilExit()
        usleep(50_000)  // the last output
        guard child.process.terminationStatus == 0 else {
            throw CommandFailure("demo: inos \(arguments.joined(separator: " ")) failed:\n\(child.output)")
        }
        return child.output
    }

    /// Part three: a mesh of three node processes on loopback. One holds the file; the three find each other
    /// through one bootstrap peer (SWIM over secure sessions); a fourth data directory finds the holder through
    /// the DHT, fetches the file over a secure session and checks it; the holder is killed and the others
    /// declare it dead.
    func meshDemo(file input: String, folder: String) throws {
        print("\nmesh: three node processes on loopback")
        let put = try Self.inos(["put", input, "--data-dir", folder + "/a", "--parity", "10+2"])
        guard let id = put.split(separator: "\n").last.map(String.init) else { throw CommandFailure("demo: no ID from put") }
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1"]
        let a = try Child(["node", "--data-dir", folder + "/a"] + common)
        defer { a.stop() }
        let seed = String(try a.wait(for: "listening on ").split(separator: " ").last!)
        let b = try Child(["node", "--data-dir", folder + "/b", "--bootstrap", seed] + common)
        defer { b.stop() }
        let c = try Child(["node", "--data-dir", folder + "/c", "--bootstrap", seed] + common)
        defer { c.stop() }
        let cAddress = String(try c.wait(for: "listening on ").split(separator: " ").last!)
        for (name, node) in [("A", a), ("B", b), ("C", c)] {
            _ = try node.wait(for: "members 2 alive, 0 suspect, 0 dead")
            let id = try Self.inos(["id", "--data-dir", folder + "/" + name.lowercased()]).trimmingCharacters(in: .whitespacesAndNewlines)
            print("  node \(name) \(id.prefix(14))…: 2 other members alive (B and C dialed only A; SWIM told them of each other)")
        }
        let found = try Self.inos(["find", id, "--from", cAddress, "--data-dir", folder + "/client"])
        let holder = found.split(separator: "\n").first { $0.contains("tcp://") }.map(String.init) ?? "?"
        let lookup = found.split(separator: "\n").first { $0.hasPrefix("lookup:") }.map(String.init) ?? ""
        print("  inos find (asked C): \(id.prefix(16))… is held by \(holder) — \(lookup)")
        let holderAddress = String(holder.split(separator: " ").last ?? "")
        let output = folder + "/fetched.bin"
        let fetched = try Self.inos(["fetch", id, "--from", holderAddress, "--data-dir", folder + "/client", "-o", output])
        let session = fetched.split(separator: "\n").first { $0.hasPrefix("secure session") }.map(String.init) ?? ""
        let same = FileManager.default.contentsEqual(atPath: input, andPath: output)
        print("  inos fetch: \(session); every object checked against its ID; identical to the input: \(same ? "yes" : "NO")")
        guard same else { throw ExitCode(1) }
        a.stop(SIGKILL)
        print("  killed node A (SIGKILL)")
        for (name, node) in [("B", b), ("C", c)] {
            _ = try node.wait(for: "members 1 alive, 0 suspect, 1 dead", seconds: 60)
            print("  node \(name): A declared dead by the membership protocol; B and C go on without their bootstrap peer")
        }
        print("  (replicating the file to B and C before A goes, and repairing after, comes with adaptive replication)")
    }
}
