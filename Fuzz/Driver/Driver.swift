// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosFuzzTargets

#if INOS_FUZZ
import CInosFuzz

/// libFuzzer's callback. libclang_rt.fuzzer's own main (linked, but overridden by SwiftPM's `main` alias to this
/// module's entry point) refers to it by this name, so it is exported under it too.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    InosFuzz.selected!.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#endif

/// One executable for every fuzz target.
///
/// Built with `-sanitize=fuzzer,address -DINOS_FUZZ` (scripts/fuzz.sh) it runs libFuzzer on one target:
/// `InosFuzz <target> [libFuzzer flags and corpus folders]` (or `INOS_FUZZ_TARGET=<target> InosFuzz …`).
/// In the normal build it replays files through a target: `InosFuzz <target> <file or folder>...`.
@main
enum InosFuzz {
    static func usage() -> Never {
        print("usage: InosFuzz <target> [files, folders, libFuzzer flags]\ntargets:")
        for target in FuzzTargets.all { print("  \(target.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(target.summary)") }
        exit(2)
    }

    static func main() {
        var arguments = CommandLine.arguments
        var name = ProcessInfo.processInfo.environment["INOS_FUZZ_TARGET"] ?? ""
        if arguments.count > 1, FuzzTargets.named(arguments[1]) != nil {
            name = arguments.remove(at: 1)
        }
        guard let target = FuzzTargets.named(name) else { usage() }
        #if INOS_FUZZ
        selected = target
        // libFuzzer parses the rest (flags, corpus folders, or files to run once) and may rewrite argv.
        var argc = CInt(arguments.count)
        var pointers = arguments.map { strdup($0) } + [nil]
        let status = pointers.withUnsafeMutableBufferPointer { buffer in
            var argv = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput)
        }
        exit(status)
        #else
        replay(target, Array(arguments.dropFirst()))
        #endif
    }

    #if INOS_FUZZ
    nonisolated(unsafe) static var selected: FuzzTarget?
    #endif

    static func replay(_ target: FuzzTarget, _ paths: [String]) {
        var count = 0
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                print("\(path): no such file")
                exit(1)
            }
            let files = isFolder.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                target([UInt8](bytes))
                count += 1
            }
        }
        print("\(target.name): \(count) input(s) ran without a crash")
    }
}
