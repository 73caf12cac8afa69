// SPDX-License-Identifier: Apache-2.0
import Compute
import Foundation
import Host
import HostTestSupport
import PluginABI
import Synchronization
import Testing

/// Isolated job runners: the runner's plugin in a child process (`inos-job-worker`) over the same arena.
/// The misbehaving jobs come from Tests/Fixtures/fault_jobs.c (slot "faults"), the ordinary ones from the
/// example job runner (slot "job_runner").
@Suite("Isolated job runners")
struct IsolationTests {
    /// A host with the example jobs in slot "job_runner" and the misbehaving test jobs in slot "faults".
    static func makeHost(isolation: JobIsolation = .none) throws -> HostRuntime {
        let host = try HostRuntime(
            manifest: Manifest(
                nodeName: "isolation-test", arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [
                    PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosExampleJobs")), kind: .jobRunner),
                    PluginSpec(
                        location: .path(try PluginFixtures.faultJobRunner()), kind: .jobRunner, explicitSlot: "faults",
                        isolation: isolation),
                ]),
            logger: quietLogger)
        try host.start()
        return host
    }

    /// The worker `swift build` put next to the tests.
    static func options() throws -> JobService.IsolationOptions {
        let worker = (PluginFixtures.productsDirectory as NSString).appendingPathComponent("inos-job-worker")
        guard FileManager.default.isExecutableFile(atPath: worker) else {
            throw FixtureError(message: "\(worker) is missing: build the package first (`swift build`), then run the tests")
        }
        return JobService.IsolationOptions(workerPath: worker)
    }

    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    @Test("jobs give the same results and errors isolated as in process, also from several threads at once")
    func sameResults() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let slot = try #require(host.slot("job_runner"))
        let inProcess = JobService(host: host, slot: slot, isolated: false)
        defer { inProcess.stop() }
        let isolated = JobService(host: host, slot: slot, isolated: true, options: try Self.options())
        defer { isolated.stop() }
        #expect(isolated.isIsolated && !inProcess.isIsolated)

        let text = Array("mesh node one\nchunk two three\nnode four\n".utf8)
        for (function, parameters) in [("word-count", ""), ("grep", "node"), ("checksum", ""), ("noop", "")] {
            let here = try inProcess.run(function: function, parameters: parameters, inputs: [text, text])
            let there = try isolated.run(function: function, parameters: parameters, inputs: [text, text])
            #expect(here == there, "\(function)")
        }
        #expect(try isolated.run(function: "word-count", parameters: "", inputs: [text, text]) == Array("6 16 80\n".utf8))

        let hereError = #expect(throws: JobService.Failure.self) { try inProcess.run(function: "nope", parameters: "", inputs: []) }
        let thereError = #expect(throws: JobService.Failure.self) { try isolated.run(function: "nope", parameters: "", inputs: []) }
        #expect(hereError?.status.rawValue == INOS_ERR_NOT_FOUND && thereError?.status.rawValue == INOS_ERR_NOT_FOUND)
        #expect(hereError?.message == thereError?.message && thereError?.message.contains("no function \"nope\"") == true)
        #expect(thereError?.signal == nil)

        // Callers on many threads queue for the one runner process; each gets its own answer.
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let input = Array("word \(i)\n".utf8)
            let expected = "1 2 \(input.count)\n"
            if (try? isolated.run(function: "word-count", parameters: "", inputs: [input])) != Array(expected.utf8) {
                mismatches.withLock { $0 += 1 }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
        #expect(isolated.runnerCounts == (starts: 1, crashes: 0, timeouts: 0))
    }

    @Test("a job that crashes its runner process fails with the signal named; the host lives on, the next job works", arguments: [
        ("crash", SIGSEGV, "SIGSEGV"), ("abort", SIGABRT, "SIGABRT"),
    ])
    func crash(function: String, signal: Int32, name: String) throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        defer { jobs.stop() }
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[1, 2, 3]]) == [1, 2, 3])
        let pid = try #require(jobs.runnerProcessID)
        #expect(Self.isAlive(pid))

        let error = #expect(throws: JobService.Failure.self) { try jobs.run(function: function, parameters: "", inputs: [[9]]) }
        #expect(error?.status.rawValue == INOS_ERR_INTERNAL)
        #expect(error?.signal == signal)
        let message = error?.message ?? ""
        #expect(message.contains("job \"\(function)\" crashed its job runner process (pid \(pid))") && message.contains(name), "\(message)")
        #expect(jobs.runnerProcessID == nil)
        #expect(!Self.isAlive(pid), "the crashed process is reaped")

        // This process — the node — carries on: the next job gets a new runner process, and the in-process
        // runner in the other slot still works.
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[4, 5], [6]]) == [4, 5, 6])
        let next = try #require(jobs.runnerProcessID)
        #expect(next != pid && Self.isAlive(next))
        #expect(jobs.runnerCounts == (starts: 2, crashes: 1, timeouts: 0))
        let examples = JobService(host: host, slot: try #require(host.slot("job_runner")), isolated: false)
        defer { examples.stop() }
        #expect(try examples.run(function: "word-count", parameters: "", inputs: [Array("a b\n".utf8)]) == Array("1 2 4\n".utf8))
    }

    @Test("a job that exits its runner process fails with the exit status named")
    func exitStatus() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        defer { jobs.stop() }
        let error = #expect(throws: JobService.Failure.self) { try jobs.run(function: "exit", parameters: "", inputs: []) }
        #expect(error?.message.contains("exit status 7") == true && error?.signal == nil, "\(error?.message ?? "")")
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[7]]) == [7])
    }

    @Test("a job that overruns its time-out has its runner process killed; the next job works")
    func hang() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        defer { jobs.stop() }
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[1]]) == [1])
        let pid = try #require(jobs.runnerProcessID)

        let started = Date()
        let error = #expect(throws: JobService.Failure.self) { try jobs.run(function: "hang", parameters: "", inputs: [], timeout: 0.5) }
        let elapsed = Date().timeIntervalSince(started)
        #expect(error?.status.rawValue == INOS_ERR_TIMEOUT)
        let message = error?.message ?? ""
        #expect(message.contains("job \"hang\" did not finish within 0.5 s") && message.contains("(pid \(pid)) was killed with SIGKILL"), "\(message)")
        #expect(elapsed >= 0.5 && elapsed < 30, "returned after \(elapsed) s")  // a watchdog, not a speed goal
        #expect(!Self.isAlive(pid), "the hung process is killed and reaped")
        #expect(jobs.runnerProcessID == nil)

        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[2], [3]]) == [2, 3])
        #expect(jobs.runnerCounts == (starts: 2, crashes: 0, timeouts: 1))
    }

    @Test("everything lent to a runner process that dies goes back to the payload heap")
    func noLeaks() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let heap = host.arena.heap
        let baseline = heap.statistics
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        let input = [UInt8](repeating: 7, count: 10_000)
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [input]) == input)
        let serving = heap.statistics
        #expect(serving.liveBlocks == baseline.liveBlocks + 2, "a channel and a lease")

        for round in 0..<3 {
            // The job allocates eight blocks in its lease and keeps them, then crashes.
            let error = #expect(throws: JobService.Failure.self) { try jobs.run(function: "alloc-crash", parameters: "", inputs: [input]) }
            #expect(error?.signal == SIGSEGV, "round \(round)")
            let afterCrash = heap.statistics
            #expect(afterCrash.liveBlocks == baseline.liveBlocks && afterCrash.bytesInUse == baseline.bytesInUse, "round \(round)")
            #expect(try jobs.run(function: "echo", parameters: "", inputs: [input]) == input)
            let again = heap.statistics
            #expect(again.liveBlocks == serving.liveBlocks && again.bytesInUse == serving.bytesInUse, "round \(round)")
        }
        _ = #expect(throws: JobService.Failure.self) { try jobs.run(function: "hang", parameters: "", inputs: [input], timeout: 0.2) }
        #expect(heap.statistics.liveBlocks == baseline.liveBlocks && heap.statistics.bytesInUse == baseline.bytesInUse)

        jobs.stop()
        let end = heap.statistics
        #expect(end.liveBlocks == baseline.liveBlocks && end.bytesInUse == baseline.bytesInUse)
        #expect(end.invalidFrees == baseline.invalidFrees)
        #expect(throws: JobService.Failure.self) { try jobs.run(function: "echo", parameters: "", inputs: []) }
    }

    @Test("result blocks are freed in the runner's lease once copied out, so many large results fit one lease")
    func resultsReleased() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        var options = try Self.options()
        options.leaseBytes = 1 << 20
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: options)
        defer { jobs.stop() }
        let input = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
        for _ in 0..<12 {  // 12 × 512 KiB blocks through a 1 MiB lease
            #expect(try jobs.run(function: "echo", parameters: "", inputs: [input]) == input)
        }
        #expect(jobs.runnerCounts == (starts: 1, crashes: 0, timeouts: 0))
        let tooBig = #expect(throws: JobService.Failure.self) {
            try jobs.run(function: "echo", parameters: "", inputs: [[UInt8](repeating: 1, count: 1_500_000)])
        }
        #expect(tooBig?.status.rawValue == INOS_ERR_FULL)
    }

    @Test("a runner process can read the arena but write only its lease; the node's rings are not its to use")
    func confinement() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        defer { jobs.stop() }
        let error = #expect(throws: JobService.Failure.self) { try jobs.run(function: "scribble", parameters: "", inputs: [Array("keep".utf8)]) }
        #expect(error?.signal == SIGSEGV, "\(error?.message ?? "")")
        #expect(try jobs.run(function: "host-rings", parameters: "", inputs: []) == Array("ring_push \(INOS_ERR_UNSUPPORTED)".utf8))
        #expect(host.outbox.ring.usedBytes == 0)
    }

    @Test("isolation follows the manifest entry; a missing worker fails the job clearly")
    func manifestAndMissingWorker() throws {
        let host = try Self.makeHost(isolation: .process)
        defer { host.shutdown() }
        let faults = try #require(host.slot("faults"))
        let byManifest = JobService(host: host, slot: faults, options: try Self.options())
        defer { byManifest.stop() }
        #expect(byManifest.isIsolated)
        #expect(try byManifest.run(function: "echo", parameters: "", inputs: [[5]]) == [5])
        let examples = JobService(host: host, slot: try #require(host.slot("job_runner")))
        defer { examples.stop() }
        #expect(!examples.isIsolated)

        let missing = JobService(
            host: host, slot: faults, isolated: true, options: JobService.IsolationOptions(workerPath: "/nonexistent/inos-job-worker"))
        defer { missing.stop() }
        let error = #expect(throws: JobService.Failure.self) { try missing.run(function: "echo", parameters: "", inputs: []) }
        #expect(error?.status.rawValue == INOS_ERR_NOT_FOUND && error?.message.contains("cannot find the job worker executable") == true)
    }

    @Test("isolation = \"process\" on a plugin that is not a job runner is refused at load")
    func isolationOfOtherKinds() throws {
        let host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 4096, outboxCapacity: 4096),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosLZ4")), isolation: .process)]),
            logger: quietLogger)
        let error = #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(error?.code == .kindMismatch)
        #expect(error?.message == "isolation = \"process\" is for job_runner plugins; this is a compression plugin")
    }

    @Test("after a hot swap of the runner's plugin the next job gets a process with the new build")
    func hotSwap() throws {
        let host = try Self.makeHost()
        defer { host.shutdown() }
        let jobs = JobService(host: host, slot: try #require(host.slot("faults")), isolated: true, options: try Self.options())
        defer { jobs.stop() }
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[1]]) == [1])
        let before = try #require(jobs.runnerProcessID)
        let copy = PluginFixtures.directory.appendingPathComponent("libfault_jobs-\(UUID().uuidString).so").path
        try FileManager.default.copyItem(atPath: try PluginFixtures.faultJobRunner(), toPath: copy)
        try host.swap(slot: "faults", to: PluginSpec(location: .path(copy), kind: .jobRunner))
        #expect(try jobs.run(function: "echo", parameters: "", inputs: [[2]]) == [2])
        let after = try #require(jobs.runnerProcessID)
        #expect(after != before && !Self.isAlive(before))
        #expect(jobs.runnerCounts == (starts: 2, crashes: 0, timeouts: 0))
    }
}
