// SPDX-License-Identifier: Apache-2.0

/// A node's manifest: its arena sizes and the plugins it enables, read from TOML.
///
/// ```toml
/// [node]
/// name = "node-1"
/// plugin_paths = [".build/release"]   # where `name =` plugins are looked up (relative to this file)
///
/// [arena]
/// size_mib = 48
/// inbox_kib = 512
/// outbox_kib = 512
/// high_watermark = 0.75
/// low_watermark = 0.25
///
/// [[plugins]]
/// name = "InosLZ4"          # resolved as libInosLZ4.so along plugin_paths; or path = "/x/libY.so"
/// kind = "compression"      # checked against what the plugin declares
/// required = true           # a failing required plugin stops start-up; an optional one is skipped
/// isolation = "process"     # job runners only: run jobs in a child process ("none": on a node thread)
/// [plugins.config]
/// level = 1                 # handed to the plugin through the host's config_get
///
/// [mesh]
/// key_file = "mesh.key"     # only holders of this key join (`inos key generate`); or key_files = [new, old]
/// allow = ["n…", "n…"]      # optional: the only node IDs sessions are completed with
/// max_members = 1000        # SWIM's view; past it a partial view, and lookups route through k-buckets
///
/// [cache]
/// size_mib = 256            # the edge cache: chunks fetched to answer reads, kept up to this size (0: none)
/// announce_seconds = 300    # the TTL of its provider records (republished every third of it; withdrawn on eviction)
///
/// [credits]
/// issuers = ["n…"]          # whose ledger entries mint credits; set: puts are paid from balances (docs/credits.md)
/// period_seconds = 86400    # the accounting period: owners pay their holders once per period, ahead
/// grace_seconds = 3600      # how long a holder keeps what its owner stopped paying for, past the last paid period
/// ```
public struct Manifest: Sendable, Hashable {
    public var nodeName: String
    /// Directories searched for `name =` plugins, in order, already resolved against the manifest's folder.
    public var pluginPaths: [String]
    public var arena: ArenaConfiguration
    public var plugins: [PluginSpec]
    /// `[node] listen`: addresses the node's transport listens on ("tcp://0.0.0.0:7400"). The host stores
    /// them; the mesh layer acts on them.
    public var listen: [String] = []
    /// `[node] bootstrap`: peers dialed at start (and redialed with backoff) until the mesh knows others.
    public var bootstrap: [String] = []
    /// `[compute] allow`: whose jobs the node runs — "none", "members" or "owners" (of the data; the default).
    public var computeAllow = "owners"
    /// `[mesh]`: who may join — mesh keys and an optional allowlist. Empty: an open mesh.
    public var mesh = MeshSettings()
    /// `[credits] issuers`: the node IDs (`n…`) whose signed ledger entries grant credits. Empty: the mesh keeps
    /// no economy (every entry counts, no put is refused for its balance); set: every other node spends only what
    /// it was paid (docs/credits.md).
    public var creditIssuers: [String] = []
    /// `[credits] period_seconds` and `grace_seconds` (nil: the defaults, a day and an hour).
    public var creditPeriodSeconds: Int?
    public var creditGraceSeconds: Int?
    /// `[cache] size_mib`: bytes of fetched chunks a node keeps to answer reads again (its edge cache; least
    /// recently read evicted first, never what it holds for owners). Default 256 MiB.
    public var cacheBytes: UInt64 = 256 << 20
    /// `[cache] announce_seconds`: how long an edge cache's provider records live (10 s … a day; default 300 s).
    /// The node republishes them every third of it while the resource is cached, and withdraws them on eviction.
    public var cacheAnnounceSeconds = 300

    public init(
        nodeName: String = "inos-node", pluginPaths: [String] = [], arena: ArenaConfiguration = .init(),
        plugins: [PluginSpec] = []
    ) {
        self.nodeName = nodeName
        self.pluginPaths = pluginPaths
        self.arena = arena
        self.plugins = plugins
    }
}

/// The manifest's `[mesh]` section: admission to the mesh.
public struct MeshSettings: Sendable, Hashable {
    /// `key_file` or `key_files`, resolved against the manifest's folder. The first holds the key this node
    /// proves with when it dials; every one is accepted from nodes that dial it (key rotation).
    public var keyFiles: [String] = []
    /// The keys read from ``keyFiles`` when the manifest was loaded, in the same order.
    public var keys: [MeshSecret] = []
    /// `allow`: when set, the only node IDs (`n…`, as `inos id` prints them) a handshake completes with.
    public var allow: [String]?
    /// `max_members`: the most members SWIM's view holds (4 … 100,000; default 1,000). Past it the view is a
    /// random sample of the mesh that keeps renewing (HyParView's passive view) and lookups route through the
    /// node's Kademlia routing table, so a node's memory does not grow with the mesh.
    public var maxMembers = 1_000

    public init(keyFiles: [String] = [], keys: [MeshSecret] = [], allow: [String]? = nil) {
        self.keyFiles = keyFiles
        self.keys = keys
        self.allow = allow
    }
}

/// A mesh key's 32 bytes as read from its file. Printing it shows a placeholder, never the key.
public struct MeshSecret: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<mesh key>" }
}

/// One `[[plugins]]` entry.
public struct PluginSpec: Sendable, Hashable {
    /// Where the shared object is: an explicit path, or a library name to search for.
    public enum Location: Sendable, Hashable {
        case path(String)
        case name(String)
    }

    public var location: Location
    /// The kind the manifest expects; the loader refuses a plugin that declares another.
    public var kind: PluginKind?
    /// The plugin id the manifest expects, if it names one.
    public var id: String?
    public var required: Bool
    public var enabled: Bool
    /// The `[plugins.config]` table, as text values.
    public var config: [String: String]
    /// The manifest's `slot =`: where the plugin serves (hot swap replaces the plugin of a slot). When absent
    /// the slot is named after the kind — the manifest's `kind =`, else the kind the plugin declares.
    public var explicitSlot: String?
    /// The manifest's `wraps =`: for a transport strategy (fault injection, batching), the slot of the
    /// transport it delegates to. The host hands it that slot through `wrap` right after init.
    public var wraps: String?
    /// The manifest's `isolation =`, for job runners: where their jobs run (see ``JobIsolation``).
    public var isolation: JobIsolation

    public init(
        location: Location, kind: PluginKind? = nil, id: String? = nil, required: Bool = true,
        enabled: Bool = true, config: [String: String] = [:], explicitSlot: String? = nil, wraps: String? = nil,
        isolation: JobIsolation = .none
    ) {
        self.explicitSlot = explicitSlot
        self.wraps = wraps
        self.isolation = isolation
        self.location = location
        self.kind = kind
        self.id = id
        self.required = required
        self.enabled = enabled
        self.config = config
    }

    /// How the entry is named in messages.
    public var displayName: String {
        switch location {
        case .path(let path): path
        case .name(let name): name
        }
    }
}

/// Where a job runner's jobs run: the manifest's `isolation =` of a `job_runner` entry.
public enum JobIsolation: String, Sendable, Hashable, CaseIterable {
    /// `"none"` (the default): on a worker thread of the node. Fastest; a job that crashes takes the node
    /// down with it, and a job that hangs cannot be stopped.
    case none
    /// `"process"`: in a child process that maps the node's arena (inputs stay in place). A job that
    /// crashes or overruns its time-out fails alone; the child is restarted for the next job.
    case process
}

/// The plugin kinds of the ABI (`INOS_KIND_*`).
public enum PluginKind: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case transport = 1
    case erasureCodec = 2
    case compressionCodec = 3
    case allocator = 4
    case jobRunner = 5
    case store = 6

    /// The manifest spelling.
    public var description: String {
        switch self {
        case .transport: "transport"
        case .erasureCodec: "erasure"
        case .compressionCodec: "compression"
        case .allocator: "allocator"
        case .jobRunner: "job_runner"
        case .store: "store"
        }
    }

    /// The extension id the host asks for right after init.
    public var extensionID: String {
        switch self {
        case .transport: INOS_EXT_TRANSPORT_V1
        case .erasureCodec: INOS_EXT_ERASURE_V1
        case .compressionCodec: INOS_EXT_COMPRESSION_V1
        case .allocator: INOS_EXT_ALLOCATOR_V1
        case .jobRunner: INOS_EXT_JOB_RUNNER_V1
        case .store: INOS_EXT_STORE_V1
        }
    }

    public init?(manifestName: String) {
        guard let kind = Self.allCases.first(where: { $0.description == manifestName }) else { return nil }
        self = kind
    }
}

import PluginABI
