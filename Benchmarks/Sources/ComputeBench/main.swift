// SPDX-License-Identifier: Apache-2.0
//
// Compute benchmark (issue 7): the empty job's round trip through the rings (in-process, job-runner plugin),
// and the cost of calling a plain C function through libffi against calling it directly, in the same run.
// Run: make bench-compute (release build of the plugins first).
import Compute
import Foundation
import Host
import Logging
import PluginABI

let pluginDirectory = ProcessInfo.processInfo.environment["INOS_PLUGIN_DIR"] ?? FileManager.default.currentDirectoryPath + "/../.build/release"
let host = try HostRuntime(
    manifest: Manifest(
        arena: ArenaConfiguration(totalSize: 16 << 20),
        plugins: [
            PluginSpec(location: .path(pluginDirectory + "/libInosExampleJobs.so"), kind: .jobRunner),
            PluginSpec(location: .path(pluginDirectory + "/libInosJobTemplateC.so"), kind: .jobRunner, explicitSlot: "job_runner.c"),
        ]),
    logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
try host.start()

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func format(_ v: Double, _ d: Int = 2) -> String { String(format: "%.\(d)f", v) }

// MARK: Empty job round trip

let jobs = JobService(host: host, slot: host.slot("job_runner")!)
var rtts: [Double] = []
for i in 0..<21_000 {
    let start = now()
    _ = try jobs.run(function: "noop", parameters: "", inputs: [])
    if i >= 1000 { rtts.append(Double(now() - start) / 1000) }
}
jobs.stop()
rtts.sort()

// MARK: ffi against a direct call

let template = host.slot("job_runner.c")!.active!
let scale = template.symbol("inos_template_scale")!
let direct = unsafeBitCast(scale, to: (@convention(c) (Double, Int32) -> Double).self)
let prepared = PreparedForeignCall(scale, try ForeignSignature(parsing: "inos_template_scale(f64, i32) -> f64"))!
let calls = 5_000_000
var sink = 0.0
func measure(_ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let start = now()
        body()
        best = min(best, Double(now() - start) / Double(calls))
    }
    return best
}
let directNs = measure {
    for i in 0..<calls { sink += direct(Double(i), 3) }
}
var value = 0.0, factor: Int32 = 3, result = 0.0
let ffiNs = withUnsafeMutablePointer(to: &value) { v in
    withUnsafeMutablePointer(to: &factor) { f in
        withUnsafeMutablePointer(to: &result) { r in
            var arguments: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(v), UnsafeMutableRawPointer(f)]
            return arguments.withUnsafeMutableBufferPointer { list in
                measure {
                    for i in 0..<calls {
                        v.pointee = Double(i)
                        prepared.call(list.baseAddress!, result: UnsafeMutableRawPointer(r))
                        sink += r.pointee
                    }
                }
            }
        }
    }
}

print("INOS compute benchmark")
print("")
print("| measure | INOS | baseline | ratio | goal |")
print("|---|---|---|---|---|")
print("| empty job round trip through the rings (job-runner plugin), µs, p50 / p99 | \(format(rtts[rtts.count / 2])) / \(format(rtts[rtts.count * 99 / 100])) | | | ≤ 5 µs |")
print("| call of a plain C function through libffi (prepared), ns per call | \(format(ffiNs, 1)) | direct call: \(format(directNs, 1)) | \(format(ffiNs / directNs, 1))× | |")
print("")
print("sink \(Int(sink) % 10)")
host.shutdown()
