// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Primitives

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
            throw InosError(.failed, "demo: a node did not report \"\(needle)\" within \(Int(seconds)) s:\n\(output)")
        }

        /// The transport's address, from the line that starts "listening on " (other lines mention it too).
        func address(seconds: Double = 30) throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) { return String(line.dropFirst("listening on ".count)) }
                usleep(50_000)
            }
            throw InosError(.failed, "demo: a node did not report its address within \(Int(seconds)) s:\n\(output)")
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
            throw InosError(.failed, "demo: inos \(arguments.joined(separator: " ")) failed:\n\(child.output)")
        }
        return child.output
    }

    /// Part three: a mesh of seven node processes on loopback. They find each other through one bootstrap
    /// peer (SWIM over secure sessions); a client puts the file into the mesh — the allocator places five
    /// copies of every chunk, the put returns once they are durable — and `locate` shows where they went; two
    /// holders are killed; the file is read back from the others, several at once, and checked; the holder
    /// leading the resource's repair restores five copies of every chunk.
    func meshDemo(file input: String, folder: String) throws {
        let names = ["A", "B", "C", "D", "E", "F", "G"]
        print("\nmesh: \(names.count) node processes on loopback, adaptive replication and repair")
        // Metrics off: seven nodes on one machine would contend for the one default port.
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5", "--provide-interval", "1", "--repair-interval", "1", "--metrics-listen", "none"]
        let a = try Child(["node", "--data-dir", folder + "/a"] + common)
        var nodes = [a]
        defer { for node in nodes { node.stop() } }
        let seed = try a.address()
        for name in names.dropFirst() {
            nodes.append(try Child(["node", "--data-dir", folder + "/" + name.lowercased(), "--bootstrap", seed] + common))
        }
        var addresses: [String: String] = [:]
        for (name, node) in zip(names, nodes) {
            _ = try node.wait(for: "members \(names.count - 1) alive, 0 suspect, 0 dead, status from \(names.count - 1),", seconds: 60)
            addresses[try node.address()] = name
        }
        print("  all \(names.count) nodes know the other \(names.count - 1) (each dialed only A) and hear their load and capacity by gossip")
        // What an operator asks a running node: its control API on the data directory's socket.
        let status = try Self.inos(["status", "--data-dir", folder + "/a"])
        for line in status.split(separator: "\n") where line.hasPrefix("members") || line.hasPrefix("peers") {
            print("  inos status (node A, through its API socket): " + line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().joined(separator: " "))
        }
        func named(_ text: String) -> String {
            var text = text
            for (address, name) in addresses { text = text.replacingOccurrences(of: address, with: "node \(name)") }
            return text
        }

        // Put into the mesh through A: 5 MB (the 1–10 MB tier: 10 replicas, halved by the free tier's budget
        // of 50 credits/hour) — 5 copies of every chunk, spread over the 7 nodes.
        let sample = folder + "/mesh-input.bin"
        guard let whole = FileManager.default.contents(atPath: input) else { throw InosError(.failed, "demo: cannot read \(input)") }
        FileManager.default.createFile(atPath: sample, contents: whole.prefix(5_000_000))
        let input = sample
        let put = try Self.inos(["put", input, "--mesh", seed, "--budget", "50", "--data-dir", folder + "/client"])
        let lines = put.split(separator: "\n").map(String.init)
        guard let id = lines.last else { throw InosError(.failed, "demo: no ID from the mesh put") }
        for line in lines where line.hasPrefix("strategy:") || line.hasPrefix("acknowledged") || line.hasPrefix("  tcp://") {
            print("  put: " + named(line.trimmingCharacters(in: .whitespaces)).replacingOccurrences(of: #" \(member [0-9a-f]+\)"#, with: "", options: .regularExpression))
        }
        func locate() throws -> String {
            try Self.inos(["locate", id, "--mesh", seed, "--data-dir", folder + "/locator"])
        }
        let census = try locate()
        for line in census.split(separator: "\n") where line.contains(" member ") || line.hasPrefix("copies") {
            print("  locate: " + named(String(line)).replacingOccurrences(of: #" member [0-9a-f]+"#, with: "", options: .regularExpression))
        }

        // Two holders die without a goodbye.
        nodes[3].stop(SIGKILL)
        nodes[5].stop(SIGKILL)
        print("  killed nodes D and F (SIGKILL)")
        let output = folder + "/read.bin"
        let got = try Self.inos(["get", id, "--mesh", seed, "-o", output, "--data-dir", folder + "/reader"])
        for line in got.split(separator: "\n") where line.contains("source") || line.hasPrefix("fetched") {
            print("  get: " + named(line.trimmingCharacters(in: .whitespaces)))
        }
        let same = FileManager.default.contentsEqual(atPath: input, andPath: output)
        print("  read back from the surviving holders, every piece checked against its ID; identical to the input: \(same ? "yes" : "NO")")
        guard same else { throw ExitCode(1) }

        // Repair: the alive holder with the lowest member ID leads; it re-places what D and F held.
        let deadline = Date().addingTimeInterval(90)
        var after = ""
        while Date() < deadline {
            after = try locate()
            let fewest = after.components(separatedBy: "fewest ").last.flatMap { Int($0.split(separator: ",").first ?? "") } ?? 0
            if fewest >= 5 && !after.contains("no answer") { break }
            usleep(500_000)
        }
        let repairs = nodes.map { $0.output.components(separatedBy: "repair: piece").count - 1 }.reduce(0, +)
        print("  repair: \(repairs) piece cop\(repairs == 1 ? "y" : "ies") pushed by the resource's leader (rate-limited), then:")
        for line in after.split(separator: "\n") where line.contains(" member ") || line.hasPrefix("copies") {
            print("  locate: " + named(String(line)).replacingOccurrences(of: #" member [0-9a-f]+"#, with: "", options: .regularExpression))
        }
        let ledger = nodes[0].output.split(separator: "\n").last { $0.contains("ledger ") }.map { String($0) } ?? ""
        if let range = ledger.range(of: "ledger ") {
            print("  node A's view of the credit ledger (signed entries, spread by anti-entropy): " + ledger[range.lowerBound...].prefix { $0 != ";" })
        }
    }
}
