// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host
import Primitives

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented manifest (<data dir>/inos.toml) to start from.",
        discussion: """
            The local profile holds the embedded defaults (what a node runs without a manifest): no listening, \
            the plugins this package ships, the store in <data dir>/store. The server profile listens on \
            tcp://0.0.0.0:7400 with a larger arena and says where the mesh key goes. Commands given this data \
            directory use the file from then on (unless --manifest names another); check it with \
            inos plugins check, see the result with inos config show.
            """)

    enum Profile: String, CaseIterable, ExpressibleByArgument {
        case local, server
    }

    @Option(name: .long, help: "local (the embedded defaults) or server (listens on 0.0.0.0:7400, larger arena).")
    var profile: Profile = .local

    @Option(name: .long, help: "Where to write inos.toml (and where the store goes). Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    @Flag(name: .long, help: "Overwrite an existing inos.toml.")
    var force = false

    func run() throws {
        let directory = (dataDir ?? defaultDataDirectory()) as NSString
        let absolute = directory.isAbsolutePath ? directory as String : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory as String)
        let path = (absolute as NSString).appendingPathComponent(manifestFileName)
        if FileManager.default.fileExists(atPath: path) && !force {
            throw InosError(.alreadyExists, "\(path) exists: pass --force to overwrite it")
        }
        do {
            try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
            try Data(Self.manifestText(profile: profile, dataDirectory: absolute).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw InosError(.io, "cannot write \(path): \(error.localizedDescription)")
        }
        print("wrote \(path) (profile \(profile.rawValue)); check it with: inos plugins check \(path)")
    }

    /// The manifest text: every section explained, values from the embedded defaults (``embeddedManifest(dataDirectory:)``)
    /// and, for `server`, the server's.
    static func manifestText(profile: Profile, dataDirectory: String) -> String {
        let defaults = embeddedManifest(dataDirectory: dataDirectory)
        let server = profile == .server
        var arena = defaults.arena
        if server {
            arena.totalSize = 256 << 20
            arena.inboxCapacity = 2 << 20
            arena.outboxCapacity = 2 << 20
        }
        var text = """
            # INOS Mesh node manifest (profile: \(profile.rawValue)), written by `inos init`.
            # Every key is optional: a key left out takes the default shown here. Unknown keys are errors, so a
            # typo does not pass silently. Check this file with `inos plugins check <file>`; `inos config show`
            # prints what a node would run with and where each value comes from. A running node re-reads it on
            # SIGHUP: changed plugins are hot-swapped, removed ones retired.

            [node]
            # The name the node logs and publishes.
            name = \(quote(server ? "inos-server" : defaults.nodeName))
            # Folders searched for `name =` plugins, before $INOS_PLUGIN_PATH and the folder of the inos executable.
            # plugin_paths = ["/usr/local/lib/inos"]
            # Where the transport (slot "transport") listens; tcp://0.0.0.0:7400 for every interface, port 0 for any
            # free port. Without an address the node does not listen: it stores and serves locally only.
            listen = \(server ? "[\"tcp://0.0.0.0:7400\"]" : "[]")
            # Peers dialed at start and redialed with backoff when they drop; "tcp://host:port#n…" refuses any node
            # there but that one (the ID `inos id` prints on it).
            bootstrap = []


            """
        text += server
            ? """
            [mesh]
            # A node that listens on a public address must require a mesh key: without one any node may join
            # (the node warns "open mesh" at start). Make one with `inos key generate --out \(dataDirectory)/mesh.key`,
            # copy it to every member (mode 0600) and uncomment:
            # key_file = "mesh.key"
            # While rotating: the first key is proven, all are accepted.
            # key_files = ["new.key", "old.key"]
            # Optional: the only node IDs this node completes sessions with.
            # allow = ["n…"]
            # The most members SWIM's view holds; past it a renewing sample, and lookups route through k-buckets.
            max_members = \(defaults.mesh.maxMembers)


            """
            : """
            [mesh]
            # Only holders of this key complete a session (`inos key generate --out mesh.key`); without one the mesh
            # is open. Relative paths are resolved against this file's folder.
            # key_file = "mesh.key"
            # While rotating: the first key is proven, all are accepted.
            # key_files = ["new.key", "old.key"]
            # Optional: the only node IDs this node completes sessions with.
            # allow = ["n…"]
            # The most members SWIM's view holds; past it a renewing sample, and lookups route through k-buckets.
            max_members = \(defaults.mesh.maxMembers)


            """
        text += """
            [compute]
            # Whose jobs from the mesh run here: "owners" of the data they read, "members" (any member), or "none".
            allow = \(quote(defaults.computeAllow))

            [arena]
            # The shared region every plugin works in: rings, the payload heap and the switchboard.
            size_mib = \(arena.totalSize >> 20)
            # Ring capacities in KiB, powers of two.
            inbox_kib = \(arena.inboxCapacity >> 10)
            outbox_kib = \(arena.outboxCapacity >> 10)
            # Transports pause reads at this inbox fill and resume at the low one.
            high_watermark = \(arena.highWatermark)
            low_watermark = \(arena.lowWatermark)

            [cache]
            # The edge cache: chunks this node's gateway fetched from other holders, kept (unpinned) up to this size
            # and evicted least recently read first — never what the node holds for owners. 0: keep nothing.
            size_mib = \(defaults.cacheBytes >> 20)
            # While it keeps some of a resource, the node announces itself as a cache of it (readers nearby use it;
            # repair and billing never count it) for this many seconds, republished every third, withdrawn on eviction.
            announce_seconds = \(defaults.cacheAnnounceSeconds)

            [credits]
            # Whose ledger entries mint credits; with issuers named, puts are paid from balances (docs/credits.md).
            # issuers = ["n…"]
            # The accounting period (owners pay their holders once per period, ahead) and how long a holder keeps
            # what its owner stopped paying for. Every node of a mesh should use the same values.
            # period_seconds = 86400
            # grace_seconds = 3600

            # Plugins, each a shared library loaded through the plugin ABI. name = "X" finds libX.so along the plugin
            # paths (or path = "/abs/libX.so"); kind is transport, erasure, compression, allocator, job_runner or
            # store; slot is where it serves (default: the kind) and hot swap replaces a slot's plugin; a plugin
            # that fails and is not required is skipped with its error. [plugins.config] is handed to the plugin.

            """
        for spec in defaults.plugins {
            text += "\n" + pluginText(spec)
        }
        return text
    }

    private static let pluginNotes: [String: String] = [
        "InosLZ4": "LZ4 compression of chunks (when it helps).",
        "InosErasure": "Reed-Solomon parity (ISA-L) protecting chunks of a stripe.",
        "InosTCPTransport": "TCP (SwiftNIO); a node speaks the session protocol: a connection's first frames are its handshake.",
        "InosExampleJobs": "Example job functions (checksum, word-count, grep).",
        "InosJobTemplateC": "The C job template, for `inos job call`.",
        "InosAdaptiveAllocator": "Replica counts, strategies and holders for resources put into the mesh.",
        "InosPackStore": "The chunk store: pack files with an index, in config.path.",
    ]

    private static func pluginText(_ spec: PluginSpec) -> String {
        var lines = ["[[plugins]]"]
        switch spec.location {
        case .name(let name):
            if let note = pluginNotes[name] { lines.insert("# \(note)", at: 0) }
            lines.append("name = \(quote(name))")
        case .path(let path): lines.append("path = \(quote(path))")
        }
        if let kind = spec.kind { lines.append("kind = \(quote(kind.description))") }
        if let id = spec.id { lines.append("id = \(quote(id))") }
        if let slot = spec.explicitSlot { lines.append("slot = \(quote(slot))") }
        lines.append("required = \(spec.required)")
        if !spec.config.isEmpty {
            lines.append("[plugins.config]")
            for (key, value) in spec.config.sorted(by: { $0.key < $1.key }) { lines.append("\(key) = \(quote(value))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A TOML basic string.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { out += String(format: "\\u%04X", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
