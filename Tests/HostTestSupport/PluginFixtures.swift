// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Synchronization

/// Builds the test fixture plugins (Tests/Fixtures/fixture_plugin.c) on demand, one shared object per
/// variant, with the C compiler that comes with the Swift toolchain (or $CC), and finds the package's
/// own built plugins (libInosLZ4.so, ...).
public enum PluginFixtures {
    /// The variants of fixture_plugin.c; each breaks one ABI rule (or none: `.working`).
    public enum Variant: String, CaseIterable, Sendable {
        case working = "OK"
        case missingEntry = "MISSING_ENTRY"
        case nullDescriptor = "NULL_DESCRIPTOR"
        case badMagic = "BAD_MAGIC"
        case abiMajor = "ABI_MAJOR"
        case abiMinorNewer = "ABI_MINOR_NEWER"
        case smallStruct = "SMALL_STRUCT"
        case unknownKind = "UNKNOWN_KIND"
        case emptyID = "EMPTY_ID"
        case swiftToolchain = "SWIFT_TOOLCHAIN"
        case initFails = "INIT_FAILS"
        case noExtension = "NO_EXTENSION"
        /// Works, but first abuses every host service and fails init if the host accepted any abuse.
        case hostile = "HOSTILE"
    }

    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh directory for this process' fixtures, removed when the process exits. Folders left by test
    /// processes that died (killed, crashed) are removed when the next one starts.
    public static let directory: URL = {
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] where name.hasPrefix("inos-fixtures-") {
            guard let pid = Int32(name.dropFirst("inos-fixtures-".count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
        }
        let url = temporary.appendingPathComponent("inos-fixtures-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if ProcessInfo.processInfo.environment["INOS_KEEP_FIXTURES"] == nil {
            fixtureFolder = strdup(url.path)
            atexit { if let folder = fixtureFolder { try? FileManager.default.removeItem(atPath: String(cString: folder)) } }
        }
        return url
    }()

    /// Compiles a variant (once per `fileName`) and returns the path of its shared object.
    ///
    /// Tests run in parallel and several may build one variant at once. Each compiles to a file of its own and
    /// renames it into place, so the path, once it exists, always holds a whole library: the linker unlinks and
    /// rewrites its output, and a second build writing to the shared path made it vanish under a test that was
    /// loading it (a CI run failed so: "file not found").
    /// - Parameter id: the plugin id compiled in; `fileName` makes a distinct file (a "new build").
    public static func build(_ variant: Variant, id: String = "test.fixture.codec", fileName: String? = nil) throws
        -> String
    {
        let output = directory.appendingPathComponent(fileName ?? "libfixture_\(variant.rawValue).so").path
        if FileManager.default.fileExists(atPath: output) { return output }
        let source = repositoryRoot.appendingPathComponent("Tests/Fixtures/fixture_plugin.c").path
        let include = repositoryRoot.appendingPathComponent("Sources/PluginABI/include").path
        let partial = output + ".\(UUID().uuidString).partial"
        try run(
            compiler(),
            ["-shared", "-fPIC", "-O1", "-I", include, "-DFIXTURE_\(variant.rawValue)", "-DFIXTURE_ID=\"\(id)\"",
             source, "-o", partial])
        try replace(output, with: partial)
        return output
    }

    /// Renames `partial` over `path` (rename(2): atomic, and replaces a file another build put there first).
    static func replace(_ path: String, with partial: String) throws {
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw FixtureError(message: "cannot move \(partial) to \(path): \(reason)")
        }
    }

    /// The misbehaving job runner (Tests/Fixtures/fault_jobs.c, id `test.jobs.faults`): jobs that crash,
    /// abort, exit, hang or write outside their lease, for the isolation tests. Compiled once per process.
    public static func faultJobRunner() throws -> String {
        let output = directory.appendingPathComponent("libfault_jobs.so").path
        try faultJobsBuild.withLock { _ in
            if FileManager.default.fileExists(atPath: output) { return }
            let source = repositoryRoot.appendingPathComponent("Tests/Fixtures/fault_jobs.c").path
            let include = repositoryRoot.appendingPathComponent("Sources/PluginABI/include").path
            let partial = output + ".\(UUID().uuidString).partial"
            try run(compiler(), ["-shared", "-fPIC", "-O1", "-I", include, source, "-o", partial])
            try replace(output, with: partial)
        }
        return output
    }

    private static let faultJobsBuild = Mutex(())

    /// A file that is not a shared object at all.
    public static func garbageLibrary() throws -> String {
        let path = directory.appendingPathComponent("libgarbage.so").path
        try Data("this is not an ELF file\n".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Where `swift build` put the package's products (the folder of this test executable).
    public static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Test bundles live in <products>/<Package>PackageTests.xctest on Linux: step out of it.
        while url.path.hasSuffix(".xctest") || url.lastPathComponent == "Contents" || url.lastPathComponent == "MacOS" {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    /// The path of a plugin built by this package (e.g. `"InosLZ4"` → `<products>/libInosLZ4.so`).
    public static func builtPlugin(_ name: String) throws -> String {
        let path = (productsDirectory as NSString).appendingPathComponent("lib\(name).so")
        guard FileManager.default.fileExists(atPath: path) else {
            throw FixtureError(message: "\(path) is missing: build the plugins first (`swift build`), then run the tests")
        }
        return path
    }

    static func compiler() -> String {
        if let cc = ProcessInfo.processInfo.environment["CC"], !cc.isEmpty { return cc }
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for name in ["clang", "cc", "gcc"] {
            for dir in searchPath where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        return "/usr/bin/cc"
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(message: "\(tool) failed: " + String(decoding: message, as: UTF8.self))
        }
    }
}

/// The fixture folder, for the exit handler (a C function pointer cannot capture it).
nonisolated(unsafe) private var fixtureFolder: UnsafeMutablePointer<CChar>?

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
