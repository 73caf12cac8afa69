// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import Testing

@Suite("Compute jobs")
struct JobTests {
    @Test("inos job run: word-count, grep and checksum over stored resources, through the rings; results and job records stored")
    func runJobs() throws {
        let root = PluginFixtures.directory.appendingPathComponent("jobs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let text = "mesh node one\nchunk two three\nnode four\n"
        try text.write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        let put = try CLITests.run(["put", root + "/a.txt", "--data-dir", root + "/d"])
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))

        let count = try CLITests.run(["job", "run", "word-count", "--input", id, "--data-dir", root + "/d", "-o", root + "/count"])
        #expect(count.status == 0, "\(count.output)")
        #expect(try String(contentsOfFile: root + "/count", encoding: .utf8) == "3 8 40\n")
        let grep = try CLITests.run(["job", "run", "grep", "--parameters", "node", "--input", id, "--input", id, "--data-dir", root + "/d", "-o", root + "/grep"])
        #expect(try String(contentsOfFile: root + "/grep", encoding: .utf8) == String(repeating: "mesh node one\nnode four\n", count: 2), "\(grep.output)")
        let checksum = try CLITests.run(["job", "run", "checksum", "--input", id, "--data-dir", root + "/d", "-o", root + "/sum"])
        #expect(checksum.status == 0)
        #expect(try String(contentsOfFile: root + "/sum", encoding: .utf8).hasSuffix(" 40\n"))

        // Content-addressed: the same job gives the same result ID; the job record names inputs and result.
        let again = try CLITests.run(["job", "run", "word-count", "--input", id, "--data-dir", root + "/d", "-o", root + "/count2"])
        let resultID = { (output: String) in output.split(separator: " ").drop { $0 != "result" }.dropFirst().first.map(String.init) }
        #expect(resultID(count.output) != nil && resultID(count.output) == resultID(again.output), "\(count.output) / \(again.output)")
        let recordID = try #require(count.output.components(separatedBy: "job record ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try CLITests.run(["get", recordID, "-o", root + "/record", "--data-dir", root + "/d"]).status == 0)
        let record = try String(contentsOfFile: root + "/record", encoding: .utf8)
        #expect(record.contains("\"function\": \"word-count\"") && record.contains(id) && record.contains(resultID(count.output)!), "\(record)")
    }

    @Test("an unknown function, a missing input and grep without a pattern are clear errors")
    func badJobs() throws {
        let root = PluginFixtures.directory.appendingPathComponent("badjobs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "x\n".write(toFile: root + "/x.txt", atomically: true, encoding: .utf8)
        let id = try #require(try CLITests.run(["put", root + "/x.txt", "--data-dir", root + "/d"]).output.split(separator: "\n").last.map(String.init))
        let unknown = try CLITests.run(["job", "run", "nope", "--input", id, "--data-dir", root + "/d"])
        #expect(unknown.status != 0 && unknown.output.contains("no function \"nope\""), "\(unknown.output)")
        let missing = try CLITests.run(["job", "run", "word-count", "--input", "bafkreihwwd62dc7a7o4g4iki5jtwb5jmgw7mszhsh7rtgotihfez4tf6ke", "--data-dir", root + "/d"])
        #expect(missing.status != 0 && missing.output.contains("input bafkrei"), "\(missing.output)")
        let grep = try CLITests.run(["job", "run", "grep", "--input", id, "--data-dir", root + "/d"])
        #expect(grep.status != 0 && grep.output.contains("grep needs a pattern"), "\(grep.output)")
    }

    @Test("inos job run --isolated: a crashing job fails with its signal named and inos exits normally; a hanging one times out")
    func isolatedJobs() throws {
        let root = PluginFixtures.directory.appendingPathComponent("isolated-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let text = "mesh node one\nchunk two three\nnode four\n"
        try text.write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        func manifest(isolation: String?) throws -> String {
            try CLITests.manifest("""
                [[plugins]]
                name = "InosLZ4"
                kind = "compression"
                [[plugins]]
                name = "InosPackStore"
                kind = "store"
                [plugins.config]
                path = "\(root)/store"
                [[plugins]]
                path = "\(try PluginFixtures.faultJobRunner())"
                kind = "job_runner"
                \(isolation.map { "isolation = \"\($0)\"" } ?? "")
                """)
        }
        let plain = try manifest(isolation: nil)
        func job(_ arguments: [String], manifest: String) throws -> CLITests.Run {
            try CLITests.run(["job", "run"] + arguments + ["--manifest", manifest, "--data-dir", root + "/d"])
        }
        let put = try CLITests.run(["put", root + "/a.txt", "--manifest", plain, "--data-dir", root + "/d"])
        let id = try #require(put.output.split(separator: "\n").last.map(String.init), "\(put.output)")

        // inos itself ends with its own error status (1), not by the job's signal.
        let crash = try job(["crash", "--isolated", "--input", id], manifest: plain)
        #expect(crash.status == 1, "\(crash.output)")
        // Printed as every error is: the command's message and code, then the cause (the runner's status as its code).
        #expect(crash.output.contains("Error: job crash failed\n  code: failed\n  cause: job \"crash\" crashed its job runner process"), "\(crash.output)")
        #expect(crash.output.contains("    code: INOS_ERR_INTERNAL"), "\(crash.output)")
        #expect(crash.output.contains("SIGSEGV"), "\(crash.output)")
        let abort = try job(["abort", "--isolated", "--input", id], manifest: plain)
        #expect(abort.status == 1 && abort.output.contains("SIGABRT"), "\(abort.output)")

        let hang = try job(["hang", "--isolated", "--timeout", "1", "--input", id], manifest: plain)
        #expect(hang.status == 1, "\(hang.output)")
        #expect(hang.output.contains("cause: job \"hang\" did not finish within 1.0 s") && hang.output.contains("killed with SIGKILL"), "\(hang.output)")
        #expect(hang.output.contains("    code: INOS_ERR_TIMEOUT"), "\(hang.output)")

        // A well-behaved job through the same path; the manifest's isolation = "process" isolates without the flag.
        let echo = try job(["echo", "--isolated", "--input", id, "-o", root + "/echo"], manifest: plain)
        #expect(echo.status == 0, "\(echo.output)")
        #expect(try String(contentsOfFile: root + "/echo", encoding: .utf8) == text)
        let byManifest = try job(["crash", "--input", id], manifest: try manifest(isolation: "process"))
        #expect(byManifest.status == 1 && byManifest.output.contains("SIGSEGV"), "\(byManifest.output)")
        let invalid = try job(["echo", "--input", id], manifest: try manifest(isolation: "thread"))
        #expect(invalid.status != 0 && invalid.output.contains("isolation \"thread\" is not an isolation mode"), "\(invalid.output)")

        // In process nothing can stop a hung job: inos reports the time-out and leaves at once.
        let stuck = try job(["hang", "--timeout", "1", "--input", id], manifest: plain)
        #expect(stuck.status == 1 && stuck.output.contains("--isolated runs it in a process that can be killed"), "\(stuck.output)")

        // The example runner of the embedded manifest gives the same answer isolated.
        let count = try CLITests.run(["job", "run", "word-count", "--isolated", "--input", try #require(
            try CLITests.run(["put", root + "/a.txt", "--data-dir", root + "/e"]).output.split(separator: "\n").last.map(String.init)),
            "--data-dir", root + "/e", "-o", root + "/count"])
        #expect(count.status == 0, "\(count.output)")
        #expect(try String(contentsOfFile: root + "/count", encoding: .utf8) == "3 8 40\n")
    }

    @Test("inos job call: plain C functions of the C template, by declared signature through libffi; mismatches refused")
    func foreignCalls() throws {
        let root = PluginFixtures.directory.appendingPathComponent("ffi-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: root + "/b.bin"))
        let id = try #require(try CLITests.run(["put", root + "/b.bin", "--data-dir", root + "/d"]).output.split(separator: "\n").last.map(String.init))
        func call(_ arguments: [String]) throws -> CLITests.Run { try CLITests.run(["job", "call"] + arguments + ["--data-dir", root + "/d"]) }
        let sum = try call(["inos_template_sum(buffer, length) -> i64", "--input", id])
        #expect(sum.output.trimmingCharacters(in: .whitespacesAndNewlines) == String(bytes.reduce(0) { $0 + Int($1) }), "\(sum.output)")
        let count = try call(["inos_template_count(buffer, length, i64) -> u64", "--input", id, "--arg", "7"])
        #expect(count.output.trimmingCharacters(in: .whitespacesAndNewlines) == String(bytes.filter { $0 == 7 }.count))
        let scale = try call(["inos_template_scale(f64, i32) -> f64", "--arg", "2.5", "--arg", "4"])
        #expect(scale.output.trimmingCharacters(in: .whitespacesAndNewlines) == "10.0")

        let missingBuffer = try call(["inos_template_sum(buffer, length) -> i64"])
        #expect(missingBuffer.status != 0 && missingBuffer.output.contains("takes 1 buffer(s); 0 input(s) given"))
        let badNumber = try call(["inos_template_scale(f64, i32) -> f64", "--arg", "x", "--arg", "4"])
        #expect(badNumber.status != 0 && badNumber.output.contains("is not an f64"))
        let unknown = try call(["no_such_function(i64) -> i64", "--arg", "1"])
        #expect(unknown.status != 0 && unknown.output.contains("no loaded job plugin exports no_such_function"))
    }
}
