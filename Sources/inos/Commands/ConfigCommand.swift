// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host
import Primitives

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the configuration a node would run with.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every setting with its value and where it comes from: default, manifest, flag or environment.",
            discussion: """
                The manifest is --manifest, else <data dir>/inos.toml (inos init), else the embedded defaults. \
                inos node's own flags (--listen, --bootstrap, --mesh-key, …) add to or override what is shown here.
                """)

        @Option(name: .long, help: "The manifest (TOML). Default: <data dir>/inos.toml if it exists, else the embedded defaults.")
        var manifest: String?

        @Option(name: .long, help: "The data directory. Default: $INOS_DATA_DIR or ~/.inos.")
        var dataDir: String?

        @Flag(name: .long, help: "One JSON object: {\"settings\": [{\"key\", \"value\", \"source\"}]}.")
        var json = false

        /// One setting's row.
        struct Setting: Encodable {
            enum Value: Encodable {
                case text(String)
                case list([String])

                func encode(to encoder: any Encoder) throws {
                    var container = encoder.singleValueContainer()
                    switch self {
                    case .text(let text): try container.encode(text)
                    case .list(let list): try container.encode(list)
                    }
                }

                var display: String {
                    switch self {
                    case .text(let text): text
                    case .list(let list): list.isEmpty ? "[]" : list.joined(separator: ", ")
                    }
                }
            }

            enum Source: String, Encodable { case `default`, manifest, flag, environment }

            var key: String
            var value: Value
            var source: Source
        }

        func run() throws {
            let settings = try collect()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(["settings": settings]), as: UTF8.self))
                return
            }
            printTable(header: ["KEY", "VALUE", "SOURCE"], rows: settings.map { [$0.key, $0.value.display, $0.source.rawValue] })
        }

        func collect() throws -> [Setting] {
            let environment = ProcessInfo.processInfo.environment
            var rows: [Setting] = []
            let dataSource: Setting.Source = dataDir != nil ? .flag : (environment["INOS_DATA_DIR"].map { !$0.isEmpty } ?? false) ? .environment : .default
            let dataDirectory = dataDir ?? defaultDataDirectory()
            rows.append(Setting(key: "data_dir", value: .text(dataDirectory), source: dataSource))
            let path = discoveredManifest(manifest, dataDirectory: dataDir)
            let manifestSource: Setting.Source = manifest != nil ? .flag : path == nil ? .default : dataSource
            rows.append(Setting(key: "manifest", value: .text(path ?? "(embedded defaults)"), source: manifestSource))
            let loaded = try loadManifest(path, dataDirectory: dataDir)
            var set: Set<String> = []
            if let path {
                do { set = Manifest.keysSet(in: try String(contentsOfFile: path, encoding: .utf8)) } catch {
                    throw InosError(.io, "cannot read \(path): \(error.localizedDescription)")
                }
            }
            func from(_ key: String) -> Setting.Source { set.contains(key) ? .manifest : .default }
            func add(_ key: String, _ value: Setting.Value) { rows.append(Setting(key: key, value: value, source: from(key))) }

            add("node.name", .text(loaded.nodeName))
            let ownPaths = path == nil ? [] : Array(loaded.pluginPaths.dropLast(defaultPluginPaths().count))
            add("node.plugin_paths", .list(ownPaths))
            let searched = environment["INOS_PLUGIN_PATH"].map { $0.split(separator: ":").map(String.init) } ?? []
            rows.append(Setting(key: "env.INOS_PLUGIN_PATH", value: .list(searched), source: searched.isEmpty ? .default : .environment))
            rows.append(Setting(key: "plugin_search_path", value: .list(defaultPluginPaths()), source: searched.isEmpty ? .default : .environment))
            add("node.listen", .list(loaded.listen))
            add("node.bootstrap", .list(loaded.bootstrap))
            // key_file and key_files are two spellings of one setting.
            let keySource: Setting.Source = set.contains("mesh.key_file") || set.contains("mesh.key_files") ? .manifest : .default
            rows.append(Setting(key: "mesh.key_files", value: .list(loaded.mesh.keyFiles), source: keySource))
            rows.append(Setting(
                key: "mesh.admission", value: .text(loaded.mesh.keys.isEmpty ? "open (any node may join)" : "\(loaded.mesh.keys.count) mesh key(s)"),
                source: keySource))
            add("mesh.allow", .list(loaded.mesh.allow ?? []))
            add("mesh.max_members", .text("\(loaded.mesh.maxMembers)"))
            add("compute.allow", .text(loaded.computeAllow))
            add("arena.size_mib", .text("\(loaded.arena.totalSize >> 20)"))
            add("arena.inbox_kib", .text("\(loaded.arena.inboxCapacity >> 10)"))
            add("arena.outbox_kib", .text("\(loaded.arena.outboxCapacity >> 10)"))
            add("arena.high_watermark", .text("\(loaded.arena.highWatermark)"))
            add("arena.low_watermark", .text("\(loaded.arena.lowWatermark)"))
            add("cache.size_mib", .text("\(loaded.cacheBytes >> 20)"))
            add("cache.announce_seconds", .text("\(loaded.cacheAnnounceSeconds)"))
            for (index, spec) in loaded.plugins.enumerated() {
                var parts = [spec.kind?.description ?? "kind from the plugin", spec.required ? "required" : "optional"]
                if !spec.enabled { parts.append("disabled") }
                if let slot = spec.explicitSlot { parts.append("slot \(slot)") }
                parts += spec.config.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                add("plugins[\(index)]", .text("\(spec.displayName) (\(parts.joined(separator: ", ")))"))
                if set.contains("plugins") { rows[rows.count - 1].source = .manifest }
            }
            // inos node's flags with their defaults (they are not in the manifest).
            for (key, value) in [
                ("node --log-level", "info"), ("node --log-format", "text"), ("node --keepalive", "15"), ("node --provide-interval", "60"),
                ("node --status-interval", "0"), ("node --repair-interval", "10"), ("node --repair-rate", "\(32 * 1_048_576)"),
                ("node --demand-half-life", "600"), ("node --region", "(none)"),
            ] {
                rows.append(Setting(key: key, value: .text(value), source: .default))
            }
            // The operator plane's listeners, from the options' own defaults.
            if let control = try? ControlOptions.parse([]) {
                let socket = (dataDirectory as NSString).appendingPathComponent("api.sock")
                for (key, value) in [
                    ("node api socket", control.noApiSocket ? "none" : socket), ("node --api-listen", control.apiListen ?? "none"),
                    ("node --metrics-listen", control.metricsListen), ("node --gateway-listen", control.gatewayListen ?? "none"),
                ] {
                    rows.append(Setting(key: key, value: .text(value), source: .default))
                }
            }
            return rows
        }
    }
}
