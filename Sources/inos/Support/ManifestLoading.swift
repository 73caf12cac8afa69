// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host

/// Where the CLI looks for `name =` plugins, after the manifest's own plugin_paths:
/// every entry of $INOS_PLUGIN_PATH (colon-separated), then the folder of the `inos` executable
/// (where `swift build` puts the package's plugins).
func defaultPluginPaths() -> [String] {
    var paths: [String] = []
    if let env = ProcessInfo.processInfo.environment["INOS_PLUGIN_PATH"] {
        paths += env.split(separator: ":").map(String.init)
    }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    paths.append(URL(fileURLWithPath: exe).deletingLastPathComponent().path)
    return paths
}

/// The node's built-in manifest: default arena and the plugins this package ships, with the chunk store
/// in `<dataDirectory>/store`.
func embeddedManifest(dataDirectory: String = defaultDataDirectory()) -> Manifest {
    Manifest(
        nodeName: "inos-local", pluginPaths: defaultPluginPaths(),
        plugins: [
            PluginSpec(location: .name("InosLZ4"), kind: .compressionCodec, id: "inos.compression.lz4"),
            PluginSpec(location: .name("InosErasure"), kind: .erasureCodec, required: false),
            // Optional: a node without it still stores and serves locally; `inos node --listen` then says so.
            // A node speaks the session protocol: a connection's first frames are handshake messages.
            PluginSpec(
                location: .name("InosTCPTransport"), kind: .transport, id: "inos.transport.tcp", required: false,
                config: ["handshake_frame_kib": "4"]),
            PluginSpec(location: .name("InosExampleJobs"), kind: .jobRunner, id: "inos.jobs.examples", required: false),
            PluginSpec(location: .name("InosJobTemplateC"), kind: .jobRunner, id: "inos.jobs.template-c", required: false,
                       explicitSlot: "job_runner.c"),
            // Replica counts, strategies and holders for resources put into the mesh.
            PluginSpec(location: .name("InosAdaptiveAllocator"), kind: .allocator, id: "inos.allocator.adaptive", required: false),
            PluginSpec(location: .name("InosPackStore"), kind: .store, id: "inos.store.pack",
                       config: ["path": (dataDirectory as NSString).appendingPathComponent("store")]),
        ])
}

/// `$INOS_DATA_DIR`, else `~/.inos`.
func defaultDataDirectory() -> String {
    if let dir = ProcessInfo.processInfo.environment["INOS_DATA_DIR"], !dir.isEmpty { return dir }
    return (NSHomeDirectory() as NSString).appendingPathComponent(".inos")
}

/// The manifest to use: `path` when given, else `<data directory>/inos.toml` when it exists (what `inos init`
/// writes), else nil (the embedded defaults).
func discoveredManifest(_ path: String?, dataDirectory: String?) -> String? {
    if let path { return path }
    let candidate = ((dataDirectory ?? defaultDataDirectory()) as NSString).appendingPathComponent(manifestFileName)
    return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
}

/// The manifest's name in a data directory.
let manifestFileName = "inos.toml"

/// Loads a manifest file (or the embedded one) and appends the default plugin paths.
func loadManifest(_ path: String?, dataDirectory: String? = nil) throws -> Manifest {
    guard let path else { return embeddedManifest(dataDirectory: dataDirectory ?? defaultDataDirectory()) }
    do {
        var manifest = try Manifest.load(path: path)
        manifest.pluginPaths += defaultPluginPaths()
        return manifest
    } catch {
        throw ValidationError(error.description)
    }
}

/// Flushes standard output (for progress lines that end in a carriage return).
func fflushStandardOutput() {
    fflush(nil)
}
