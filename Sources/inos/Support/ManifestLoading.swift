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

/// The node's built-in manifest: default arena and the plugins this package ships.
func embeddedManifest() -> Manifest {
    Manifest(
        nodeName: "inos-local", pluginPaths: defaultPluginPaths(),
        plugins: [PluginSpec(location: .name("InosLZ4"), kind: .compressionCodec, id: "inos.compression.lz4")])
}

/// Loads a manifest file (or the embedded one) and appends the default plugin paths.
func loadManifest(_ path: String?) throws -> Manifest {
    guard let path else { return embeddedManifest() }
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
