// SPDX-License-Identifier: Apache-2.0
import APIModel
import ArgumentParser
import Foundation
import Host

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, check and hot-swap plugins.", subcommands: [List.self, Check.self, Swap.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the plugins the running node serves (slot, generation), or with --available (or no node running) the plugins found in the plugin paths.")

        @Option(name: .long, help: "Also search this manifest's plugin_paths.")
        var manifest: String?
        @Flag(name: .long, help: "List the plugin files found, even when a node runs.") var available = false
        @Flag(name: .long, help: "Print the API's JSON (the running node's slots).") var json = false
        @OptionGroup var node: NodeAPIOptions

        func run() async throws {
            if !available, let client = try (node.api != nil ? node.client() : runningNode(dataDirectory: node.dataDir)) {
                let plugins = try await client.call(.GET, "/v1/plugins", as: [PluginReport].self)
                if json { return try printJSON(plugins) }
                printTable(
                    header: ["SLOT", "KIND", "ID", "VERSION", "ABI", "GEN", "PATH"],
                    rows: plugins.map { [$0.slot, $0.kind, $0.id, $0.version, $0.abi, "\($0.generation)" + ($0.draining > 0 ? " (+\($0.draining) draining)" : ""), $0.path] })
                return
            }
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

extension Plugins {
    struct Swap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hot-swap the plugin serving a slot of the running node; answered when the old one drained.",
            discussion: """
                PLUGIN is a library name found in the plugin paths (InosLZ4) or a path to a shared object. The new \
                plugin takes new work at once; calls in flight finish on the old one, which is then retired (its image \
                stays mapped). A transport strategy above a transport keeps the connections. Example:
                  inos plugins swap compression InosLZ4 --config level=9
                """)
        @Argument(help: "The slot (inos plugins list shows them).") var slot: String
        @Argument(help: "The plugin: a library name or a path.") var plugin: String
        @Option(name: .long, help: "A config value for the new plugin, KEY=VALUE. Repeatable.") var config: [String] = []
        @Flag(name: .long, help: "Print the API's JSON.") var json = false
        @OptionGroup var node: NodeAPIOptions

        func run() async throws {
            var values: [String: String] = [:]
            for pair in config {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { throw ValidationError("--config \(pair) must be KEY=VALUE") }
                values[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            let report = try await node.client().call(.POST, "/v1/plugins/swap", SwapRequest(slot: slot, plugin: plugin, config: values), as: SwapReport.self)
            if json { return try printJSON(report) }
            let before = report.previous.map { "\($0.id) \($0.version) (generation \($0.generation))" } ?? "nothing"
            print("slot \(report.slot): \(before) → \(report.current.id) \(report.current.version) (generation \(report.current.generation)); the old one drained in \(formatSeconds(report.drainSeconds))")
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
