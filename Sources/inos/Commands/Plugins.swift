// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and check plugins.", subcommands: [List.self, Check.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the plugins found in the plugin paths, with what each declares.")

        @Option(name: .long, help: "Also search this manifest's plugin_paths.")
        var manifest: String?

        func run() throws {
            let paths = try loadManifest(manifest).pluginPaths
            var seen: Set<String> = []
            var rows: [[String]] = []
            for directory in paths {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                for file in files.sorted() where file.hasPrefix("lib") && file.hasSuffix(".so") {
                    let path = (directory as NSString).appendingPathComponent(file)
                    guard !seen.contains(file) else { continue }
                    seen.insert(file)
                    switch HostRuntime.inspectPlugin(at: path) {
                    case .success(let info):
                        rows.append([
                            String(file.dropFirst(3).dropLast(3)), info.id, info.kind.description, info.version,
                            "\(info.abiMajor).\(info.abiMinor)", info.toolchain, path,
                        ])
                    case .failure(let error) where error.code == .missingEntry:
                        continue  // an ordinary library next to the plugins, not a plugin
                    case .failure(let error):
                        rows.append([String(file.dropFirst(3).dropLast(3)), "-", "-", "-", "-", "-", "BROKEN: \(error.code): \(error.message)"])
                    }
                }
            }
            if rows.isEmpty {
                print("no plugins found in: \(paths.joined(separator: ", "))")
                return
            }
            printTable(header: ["NAME", "ID", "KIND", "VERSION", "ABI", "TOOLCHAIN", "PATH"], rows: rows)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a manifest and load every plugin it enables, reporting each failure.",
            discussion: "Exits 0 when every required plugin loads; 1 otherwise. Optional failures are warnings.")

        @Argument(help: "The manifest (TOML) to check.")
        var manifest: String

        func run() throws {
            let manifest = try loadManifest(self.manifest)
            print("manifest \(self.manifest): valid (node \(manifest.nodeName), arena \(manifest.arena.totalSize >> 20) MiB, \(manifest.plugins.count) plugin entries)")
            var requiredFailures = 0
            for spec in manifest.plugins {
                guard spec.enabled else {
                    print("  - \(spec.displayName): disabled")
                    continue
                }
                // Each plugin is initialised in a host of its own, so one failure cannot hide another.
                var single = manifest
                single.plugins = [spec]
                do {
                    let host = try HostRuntime(manifest: single, logger: .init(label: "inos.check", factory: { _ in SwiftLogNoOpLogHandler() }))
                    let report = try host.start()
                    if let plugin = report.loaded.values.first {
                        print("  ✓ \(spec.displayName): \(plugin.id) \(plugin.version) (\(plugin.kind)) from \(plugin.path)")
                    } else if let skipped = report.skipped.first {
                        print("  ! \(spec.displayName) (optional): \(skipped.code): \(skipped.message)")
                    }
                    host.shutdown()
                } catch let error as PluginLoadError {
                    requiredFailures += 1
                    print("  ✗ \(spec.displayName) (required): \(error.code): \(error.message)")
                }
            }
            if requiredFailures > 0 {
                print("\(requiredFailures) required plugin(s) failed")
                throw ExitCode(1)
            }
        }
    }
}

func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  "))
    }
}

import Logging
