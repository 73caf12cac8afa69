// SPDX-License-Identifier: Apache-2.0
// The control API's wire types (docs/api.md): what a running node answers on `/v1/…` and what the CLI sends it.
// JSON, snake_case keys (``API/encoder``, ``API/decoder``); fields a node cannot know are absent, not zero.

/// The control API's version, its paths and its JSON coding.
public enum API {
    /// The path prefix every versioned route has.
    public static let prefix = "/v1"
    /// The file names in a node's data directory.
    public static let socketName = "api.sock"
    public static let tokenName = "api.token"
}

/// An error the API answers with (any status ≥ 400): a stable code (docs/errors.md) and a message.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
        /// The causes, outermost first (`ErrorReport`'s chain).
        public var causes: [String]?
        public init(code: String, message: String, causes: [String]? = nil) {
            self.code = code
            self.message = message
            self.causes = causes
        }
    }
    public var error: Detail
    public init(code: String, message: String, causes: [String]? = nil) { error = Detail(code: code, message: message, causes: causes) }
}

// MARK: Status

public struct StatusReport: Codable, Sendable {
    public struct Members: Codable, Sendable, Equatable {
        public var alive: Int
        public var suspect: Int
        public var dead: Int
        /// The most members SWIM's view holds (`[mesh] max_members`).
        public var maxMembers: Int?
        /// Whether the view has been full: the node no longer knows the whole mesh, and lookups route through
        /// its Kademlia routing table.
        public var partial: Bool?
        /// Contacts in the routing table's k-buckets (k = 20).
        public var routingContacts: Int?
        /// Members evicted from the full view to make room for newcomers, since the node started.
        public var evictions: UInt64?
        public init(alive: Int, suspect: Int, dead: Int, maxMembers: Int? = nil, partial: Bool? = nil, routingContacts: Int? = nil,
                    evictions: UInt64? = nil) {
            self.alive = alive
            self.suspect = suspect
            self.dead = dead
            self.maxMembers = maxMembers
            self.partial = partial
            self.routingContacts = routingContacts
            self.evictions = evictions
        }
    }
    public struct Store: Codable, Sendable {
        public var usedBytes: UInt64
        public var totalBytes: UInt64
        public var freeBytes: UInt64
        public var pinnedResources: Int?
        public init(usedBytes: UInt64, totalBytes: UInt64, freeBytes: UInt64, pinnedResources: Int?) {
            self.usedBytes = usedBytes
            self.totalBytes = totalBytes
            self.freeBytes = freeBytes
            self.pinnedResources = pinnedResources
        }
    }
    public struct Arena: Codable, Sendable {
        public var sizeBytes: Int
        public var heapUsedBytes: Int
        public var heapCapacityBytes: Int
        public var inboxUsedBytes: Int
        public var inboxCapacityBytes: Int
        /// Whether transports are paused now (the inbox is past its high watermark).
        public var backpressured: Bool
        /// How many times transports were paused since start.
        public var backpressurePauses: UInt64
        public init(sizeBytes: Int, heapUsedBytes: Int, heapCapacityBytes: Int, inboxUsedBytes: Int, inboxCapacityBytes: Int, backpressured: Bool, backpressurePauses: UInt64) {
            self.sizeBytes = sizeBytes
            self.heapUsedBytes = heapUsedBytes
            self.heapCapacityBytes = heapCapacityBytes
            self.inboxUsedBytes = inboxUsedBytes
            self.inboxCapacityBytes = inboxCapacityBytes
            self.backpressured = backpressured
            self.backpressurePauses = backpressurePauses
        }
    }
    public struct Replication: Codable, Sendable {
        public var resources: Int
        public var underReplicated: Int
        public var repairedPieces: Int
        public var releasedPieces: Int
        public var ledgerEntries: Int
        public var creditsEarned: UInt64
        public var creditsSpent: UInt64
        /// Whether balances gate puts (the manifest names credit issuers); nil from older nodes.
        public var creditsEnforced: Bool?
        /// What this node may spend (earned − spent); nil when unbounded (no economy, or this node is an issuer).
        public var creditBalance: UInt64?
        /// This node's payments that bounced, and new resources it refused because their owner could not pay.
        public var bouncedPayments: Int?
        public var unpaidRefusals: Int?
        /// Resources released because their owner stored them here and did not pay within the grace period.
        public var unpaidReleases: Int?
        /// Charging per period, where credits are enforced (nil otherwise, and from older nodes): docs/credits.md.
        public var billing: Billing?
        /// What the last repair round did (nil before the first).
        public var lastRepair: Repair?
        public init(resources: Int, underReplicated: Int, repairedPieces: Int, releasedPieces: Int, ledgerEntries: Int, creditsEarned: UInt64, creditsSpent: UInt64, lastRepair: Repair?) {
            self.resources = resources
            self.underReplicated = underReplicated
            self.repairedPieces = repairedPieces
            self.releasedPieces = releasedPieces
            self.ledgerEntries = ledgerEntries
            self.creditsEarned = creditsEarned
            self.creditsSpent = creditsSpent
            self.lastRepair = lastRepair
        }
    }
    /// Charging per period: this node as a holder (leases its owners pay) and as an owner (what it bills).
    public struct Billing: Codable, Sendable, Equatable {
        public var periodSeconds: Double
        public var graceSeconds: Double
        /// Held resources charged by the period, and those past their last paid period (released after the grace).
        public var chargedResources: Int
        public var lapsingResources: Int
        /// Resources this node owns and pays its holders for; degraded (paying fewer copies than held); unpaid.
        public var ownedResources: Int
        public var degradedResources: Int
        public var unpaidResources: Int
        /// Credits paid to holders in billing rounds since start, and when the last round ended.
        public var billedCredits: UInt64
        public var lastBilledSecondsAgo: Double?
        /// The owned resources (at most ``listed``, by ID).
        public var owned: [Owned]
        public static let listed = 100
        public struct Owned: Codable, Sendable, Equatable {
            public var id: String
            public var sizeBytes: UInt64
            public var budget: UInt64
            /// The budget its newest ticket names (below `budget` while degraded).
            public var ticketBudget: UInt64
            /// From the last bill (nil before the first billing round): copies paid, credits paid, degraded.
            public var copiesPaid: Int?
            public var creditsLastPeriod: UInt64?
            public var degraded: Bool?
            public var billedSecondsAgo: Double
            public init(id: String, sizeBytes: UInt64, budget: UInt64, ticketBudget: UInt64, copiesPaid: Int?, creditsLastPeriod: UInt64?, degraded: Bool?, billedSecondsAgo: Double) {
                self.id = id
                self.sizeBytes = sizeBytes
                self.budget = budget
                self.ticketBudget = ticketBudget
                self.copiesPaid = copiesPaid
                self.creditsLastPeriod = creditsLastPeriod
                self.degraded = degraded
                self.billedSecondsAgo = billedSecondsAgo
            }
        }
        public init(periodSeconds: Double, graceSeconds: Double, chargedResources: Int, lapsingResources: Int, ownedResources: Int, degradedResources: Int,
                    unpaidResources: Int, billedCredits: UInt64, lastBilledSecondsAgo: Double?, owned: [Owned]) {
            self.periodSeconds = periodSeconds
            self.graceSeconds = graceSeconds
            self.chargedResources = chargedResources
            self.lapsingResources = lapsingResources
            self.ownedResources = ownedResources
            self.degradedResources = degradedResources
            self.unpaidResources = unpaidResources
            self.billedCredits = billedCredits
            self.lastBilledSecondsAgo = lastBilledSecondsAgo
            self.owned = owned
        }
    }

    /// The edge cache: objects fetched to answer reads, kept up to a bound (docs/api.md).
    public struct Cache: Codable, Sendable {
        public var capacityBytes: UInt64
        public var bytes: UInt64
        public var entries: Int
        public var hits: Int
        public var misses: Int
        public var evictions: Int
        public var hitRate: Double
        public var averageLatencySeconds: Double
        /// Bytes gateway reads got from this node's store, from holders or caches in its region, and from
        /// elsewhere (absent from nodes before these counts).
        public var localBytes: UInt64?
        public var regionBytes: UInt64?
        public var remoteBytes: UInt64?
        /// Resources this node announces as an edge cache now.
        public var announcedResources: Int?
        public init(capacityBytes: UInt64, bytes: UInt64, entries: Int, hits: Int, misses: Int, evictions: Int, hitRate: Double, averageLatencySeconds: Double,
                    localBytes: UInt64? = nil, regionBytes: UInt64? = nil, remoteBytes: UInt64? = nil, announcedResources: Int? = nil) {
            self.localBytes = localBytes
            self.regionBytes = regionBytes
            self.remoteBytes = remoteBytes
            self.announcedResources = announcedResources
            self.capacityBytes = capacityBytes
            self.bytes = bytes
            self.entries = entries
            self.hits = hits
            self.misses = misses
            self.evictions = evictions
            self.hitRate = hitRate
            self.averageLatencySeconds = averageLatencySeconds
        }
    }
    public struct Repair: Codable, Sendable {
        /// Seconds since the round finished.
        public var secondsAgo: Double
        /// How long the round took, seconds (nil from older nodes).
        public var durationSeconds: Double?
        /// Resources this node held when the round started.
        public var checked: Int
        /// Pieces repair has pushed or rebuilt since the node started (a running total, not this round's).
        public var pushed: Int
        /// Pieces below their target copies when the round started, across the resources this node leads.
        public var backlog: Int
        /// Of the backlog, the pieces still below target when the round finished (nil from older nodes).
        public var remaining: Int?
        public init(secondsAgo: Double, durationSeconds: Double? = nil, checked: Int, pushed: Int, backlog: Int, remaining: Int? = nil) {
            self.secondsAgo = secondsAgo
            self.durationSeconds = durationSeconds
            self.checked = checked
            self.pushed = pushed
            self.backlog = backlog
            self.remaining = remaining
        }
    }

    public var id: String?
    public var name: String
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Double
    public var listening: [String]
    public var members: Members?
    public var connections: Int
    public var store: Store?
    public var arena: Arena
    public var replication: Replication?
    /// The edge cache (nil from older nodes, and on a node without a store).
    public var cache: Cache?
    public var plugins: Int
    /// The node's Lamport clock.
    public var lamport: Lamport?

    public struct Lamport: Codable, Sendable, Equatable {
        public var time: UInt64
        /// Remote times a day or more past this node's wall clock (µs) that it did not witness: a peer's lie, or a
        /// machine whose clock is far off.
        public var refusedRemoteTimes: UInt64
        public init(time: UInt64, refusedRemoteTimes: UInt64) {
            self.time = time
            self.refusedRemoteTimes = refusedRemoteTimes
        }
    }

    public init(id: String?, name: String, version: String, pid: Int32, uptimeSeconds: Double, listening: [String], members: Members?, connections: Int,
                store: Store?, arena: Arena, replication: Replication?, plugins: Int, lamport: Lamport? = nil) {
        self.id = id
        self.name = name
        self.version = version
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.listening = listening
        self.members = members
        self.connections = connections
        self.store = store
        self.arena = arena
        self.replication = replication
        self.plugins = plugins
        self.lamport = lamport
    }
}

// MARK: Members and peers

public struct MemberReport: Codable, Sendable, Equatable {
    public var id: String
    /// alive, suspect, dead (or left).
    public var state: String
    public var incarnation: UInt64
    public var address: String
    /// Seconds since this node last changed the member's state (nil: not known).
    public var stateAgeSeconds: Double?
    /// The round-trip time of the session with it, when there is one.
    public var rttMicroseconds: Double?
    public var isSelf: Bool
    /// The region name the member gossiped in its status ("" for none); nil while no status was heard.
    public var region: String?
    public init(id: String, state: String, incarnation: UInt64, address: String, stateAgeSeconds: Double?, rttMicroseconds: Double?, isSelf: Bool,
                region: String? = nil) {
        self.id = id
        self.state = state
        self.incarnation = incarnation
        self.address = address
        self.stateAgeSeconds = stateAgeSeconds
        self.rttMicroseconds = rttMicroseconds
        self.isSelf = isSelf
        self.region = region
    }
}

public struct PeerReport: Codable, Sendable, Equatable {
    public var connection: UInt64
    public var address: String
    public var inbound: Bool
    /// The peer's node ID once its session is up.
    public var node: String?
    public var rttMicroseconds: Double?
    public var openSeconds: Double
    public var lastHeardSecondsAgo: Double?
    public var traffic: Traffic?
    public init(connection: UInt64, address: String, inbound: Bool, node: String?, rttMicroseconds: Double?, openSeconds: Double, lastHeardSecondsAgo: Double?, traffic: Traffic?) {
        self.connection = connection
        self.address = address
        self.inbound = inbound
        self.node = node
        self.rttMicroseconds = rttMicroseconds
        self.openSeconds = openSeconds
        self.lastHeardSecondsAgo = lastHeardSecondsAgo
        self.traffic = traffic
    }
}

// MARK: Stats

/// Frames and bytes (sealed, as on the wire) in each direction.
public struct Traffic: Codable, Sendable, Equatable {
    public var framesIn: UInt64
    public var bytesIn: UInt64
    public var framesOut: UInt64
    public var bytesOut: UInt64
    public init(framesIn: UInt64 = 0, bytesIn: UInt64 = 0, framesOut: UInt64 = 0, bytesOut: UInt64 = 0) {
        self.framesIn = framesIn
        self.bytesIn = bytesIn
        self.framesOut = framesOut
        self.bytesOut = bytesOut
    }
}

public struct StatsReport: Codable, Sendable {
    public struct Rates: Codable, Sendable {
        /// Over the last `windowSeconds` (the node samples every few seconds).
        public var windowSeconds: Double
        public var bytesInPerSecond: Double
        public var bytesOutPerSecond: Double
        public var framesInPerSecond: Double
        public var framesOutPerSecond: Double
        public init(windowSeconds: Double, bytesInPerSecond: Double, bytesOutPerSecond: Double, framesInPerSecond: Double, framesOutPerSecond: Double) {
            self.windowSeconds = windowSeconds
            self.bytesInPerSecond = bytesInPerSecond
            self.bytesOutPerSecond = bytesOutPerSecond
            self.framesInPerSecond = framesInPerSecond
            self.framesOutPerSecond = framesOutPerSecond
        }
    }
    public struct ByPeer: Codable, Sendable {
        public var node: String
        public var traffic: Traffic
        public init(node: String, traffic: Traffic) {
            self.node = node
            self.traffic = traffic
        }
    }
    public struct ByType: Codable, Sendable {
        public var type: String
        public var traffic: Traffic
        public init(type: String, traffic: Traffic) {
            self.type = type
            self.traffic = traffic
        }
    }
    public var uptimeSeconds: Double
    public var total: Traffic
    public var rates: Rates?
    public var byPeer: [ByPeer]
    public var byType: [ByType]
    public init(uptimeSeconds: Double, total: Traffic, rates: Rates?, byPeer: [ByPeer], byType: [ByType]) {
        self.uptimeSeconds = uptimeSeconds
        self.total = total
        self.rates = rates
        self.byPeer = byPeer
        self.byType = byType
    }
}

// MARK: Plugins

public struct PluginReport: Codable, Sendable, Equatable {
    public var slot: String
    public var kind: String
    public var id: String
    public var version: String
    public var abi: String
    public var generation: Int
    public var path: String
    /// Earlier generations still draining.
    public var draining: Int
    public init(slot: String, kind: String, id: String, version: String, abi: String, generation: Int, path: String, draining: Int) {
        self.slot = slot
        self.kind = kind
        self.id = id
        self.version = version
        self.abi = abi
        self.generation = generation
        self.path = path
        self.draining = draining
    }
}

public struct SwapRequest: Codable, Sendable {
    public var slot: String
    /// A library name next to the node's plugins (InosLZ4) or a path to a shared object.
    public var plugin: String
    public var config: [String: String]
    public init(slot: String, plugin: String, config: [String: String]) {
        self.slot = slot
        self.plugin = plugin
        self.config = config
    }
}

public struct SwapReport: Codable, Sendable {
    public var slot: String
    public var previous: PluginReport?
    public var current: PluginReport
    /// Seconds the old generation took to drain.
    public var drainSeconds: Double
    public init(slot: String, previous: PluginReport?, current: PluginReport, drainSeconds: Double) {
        self.slot = slot
        self.previous = previous
        self.current = current
        self.drainSeconds = drainSeconds
    }
}

// MARK: Logs, health, shutdown

public struct LogLevelBody: Codable, Sendable, Equatable {
    public var level: String
    public init(level: String) { self.level = level }
}

public struct HealthReport: Codable, Sendable {
    public enum Status: String, Codable, Sendable, Comparable, CaseIterable {
        case ok = "OK", warn = "WARN", err = "ERR"
        private var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
        /// `inos health`'s exit status: 0 OK, 1 WARN, 2 ERR.
        public var exitCode: Int32 { Int32(rank) }
    }
    public struct Check: Codable, Sendable {
        /// A stable name (`members`, `under_replicated`, `store_space`, `backpressure`, `plugins`, …).
        public var name: String
        public var status: Status
        public var message: String
        public init(name: String, status: Status, message: String) {
            self.name = name
            self.status = status
            self.message = message
        }
    }
    /// The worst of the checks.
    public var status: Status
    public var checks: [Check]
    public init(checks: [Check]) {
        self.checks = checks
        status = checks.map(\.status).max() ?? .ok
    }
}

public struct Acknowledged: Codable, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

// MARK: Data

public struct PutRequest: Codable, Sendable {
    /// An absolute path the node reads (it runs on this machine, as this user: the API is its Unix socket).
    public var path: String
    /// `10+2`-style data+parity shards, or nil for none.
    public var parity: String?
    public var chunkKib: Int
    public init(path: String, parity: String?, chunkKib: Int) {
        self.path = path
        self.parity = parity
        self.chunkKib = chunkKib
    }
}

public struct GetRequest: Codable, Sendable {
    public var id: String
    /// An absolute path the node writes.
    public var output: String
    public init(id: String, output: String) {
        self.id = id
        self.output = output
    }
}

public struct VerifyRequest: Codable, Sendable {
    public var id: String
    public var repair: Bool
    public init(id: String, repair: Bool) {
        self.id = id
        self.repair = repair
    }
}

public struct JobRunRequest: Codable, Sendable {
    public var function: String
    public var inputs: [String]
    public var parameters: String
    public var timeoutSeconds: Double
    public init(function: String, inputs: [String], parameters: String, timeoutSeconds: Double) {
        self.function = function
        self.inputs = inputs
        self.parameters = parameters
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One line of a streamed answer (NDJSON: `put`, `get`, `verify`, `job run`): progress lines, then exactly one
/// line with `result` or `error`.
public struct StreamEvent<Result: Codable & Sendable>: Codable, Sendable {
    public var progress: Progress?
    public var result: Result?
    public var error: APIErrorBody.Detail?
    public init(progress: Progress? = nil, result: Result? = nil, error: APIErrorBody.Detail? = nil) {
        self.progress = progress
        self.result = result
        self.error = error
    }
}

/// How far a long operation is: what it can know, nothing faked.
public struct Progress: Codable, Sendable, Equatable {
    public var op: String
    public var bytesDone: UInt64?
    public var bytesTotal: UInt64?
    public var piecesDone: Int?
    public var piecesTotal: Int?
    /// The nodes taking part (a mesh put's holders, a mesh get's sources, a job's holders).
    public var holders: Int?
    public var rateBytesPerSecond: Double?
    public var etaSeconds: Double?
    public var done: Bool
    public init(op: String, bytesDone: UInt64?, bytesTotal: UInt64?, piecesDone: Int? = nil, piecesTotal: Int? = nil, holders: Int? = nil,
                rateBytesPerSecond: Double? = nil, etaSeconds: Double? = nil, done: Bool) {
        self.holders = holders
        self.op = op
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.piecesDone = piecesDone
        self.piecesTotal = piecesTotal
        self.rateBytesPerSecond = rateBytesPerSecond
        self.etaSeconds = etaSeconds
        self.done = done
    }
}

public struct PutResult: Codable, Sendable {
    public var id: String
    public var size: UInt64
    public var chunks: Int
    public var bytesStored: UInt64
    public var stripes: String?
    public init(id: String, size: UInt64, chunks: Int, bytesStored: UInt64, stripes: String?) {
        self.id = id
        self.size = size
        self.chunks = chunks
        self.bytesStored = bytesStored
        self.stripes = stripes
    }
}

public struct GetResult: Codable, Sendable {
    public var id: String
    public var size: UInt64
    public var output: String
    public var rebuiltChunks: Int
    public init(id: String, size: UInt64, output: String, rebuiltChunks: Int) {
        self.id = id
        self.size = size
        self.output = output
        self.rebuiltChunks = rebuiltChunks
    }
}

public struct VerifyResult: Codable, Sendable {
    public var id: String
    public var chunks: Int
    public var parityShards: Int
    public var damaged: [String]
    public var lost: [String]
    public var repaired: [String]
    public var repairable: [String]
    public var healthy: Bool
    public init(id: String, chunks: Int, parityShards: Int, damaged: [String], lost: [String], repaired: [String], repairable: [String], healthy: Bool) {
        self.id = id
        self.chunks = chunks
        self.parityShards = parityShards
        self.damaged = damaged
        self.lost = lost
        self.repaired = repaired
        self.repairable = repairable
        self.healthy = healthy
    }
}

public struct PinRequest: Codable, Sendable {
    public var id: String
    public init(id: String) { self.id = id }
}

/// A job's answer (run here, or submitted to the mesh): the output and the stored result and record.
public struct JobResult: Codable, Sendable {
    /// The job's output, base64 (it may be binary).
    public var outputBase64: String
    public var resultId: String
    public var recordId: String
    /// What the CLI prints about it (per-node parts of a submitted job, its summary).
    public var summary: [String]
    public init(outputBase64: String, resultId: String, recordId: String, summary: [String]) {
        self.outputBase64 = outputBase64
        self.resultId = resultId
        self.recordId = recordId
        self.summary = summary
    }
}

public struct JobSubmitRequest: Codable, Sendable {
    public var function: String
    public var input: String
    /// A member's address the job learns the mesh from.
    public var entry: String
    public var parameters: String
    /// concat or sum.
    public var reduce: String
    public var timeoutSeconds: Double
    public init(function: String, input: String, entry: String, parameters: String, reduce: String, timeoutSeconds: Double) {
        self.function = function
        self.input = input
        self.entry = entry
        self.parameters = parameters
        self.reduce = reduce
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A put into the mesh or a get from it, run by the node with its own peer layer.
public struct MeshPutRequest: Codable, Sendable {
    public var path: String
    public var entry: String
    public var budget: UInt64
    public init(path: String, entry: String, budget: UInt64) {
        self.path = path
        self.entry = entry
        self.budget = budget
    }
}

public struct MeshGetRequest: Codable, Sendable {
    public var id: String
    public var entry: String
    /// Where to write it (absolute); nil: only fetched, stored and pinned on the node.
    public var output: String?
    public init(id: String, entry: String, output: String?) {
        self.id = id
        self.entry = entry
        self.output = output
    }
}

public struct MeshResult: Codable, Sendable {
    public var id: String
    /// What the CLI prints about it (strategy, holders, sources, timings).
    public var summary: [String]
    public init(id: String, summary: [String]) {
        self.id = id
        self.summary = summary
    }
}

// MARK: Coding

import Foundation

extension API {
    /// The API's JSON: snake_case keys, dates as ISO-8601.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// The control API's error code for an error code's description (`not found` → `not_found`).
    public static func code(_ description: String) -> String { description.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_") }
}

// MARK: Resources and IPFS

public struct ResourceReport: Codable, Sendable {
    public var id: String
    /// The root CID IPFS computes for the same bytes (UnixFS, raw leaves, balanced; docs/data-path.md).
    public var ipfsCid: String
    public var size: UInt64
    public var chunks: Int
    public var chunkSize: UInt64
    /// `10+2`, or nil without parity.
    public var parity: String?
    public var pinned: Bool
    public init(id: String, ipfsCid: String, size: UInt64, chunks: Int, chunkSize: UInt64, parity: String?, pinned: Bool) {
        self.id = id
        self.ipfsCid = ipfsCid
        self.size = size
        self.chunks = chunks
        self.chunkSize = chunkSize
        self.parity = parity
        self.pinned = pinned
    }
}

public struct ExportRequest: Codable, Sendable {
    public var id: String
    /// An absolute path the node writes the CAR to.
    public var car: String
    public init(id: String, car: String) {
        self.id = id
        self.car = car
    }
}

public struct ExportResult: Codable, Sendable {
    public var ipfsCid: String
    public var bytes: UInt64
    public init(ipfsCid: String, bytes: UInt64) {
        self.ipfsCid = ipfsCid
        self.bytes = bytes
    }
}

public struct ImportRequest: Codable, Sendable {
    /// An absolute path of a CAR the node reads.
    public var path: String
    public var parity: String?
    public init(path: String, parity: String?) {
        self.path = path
        self.parity = parity
    }
}

public struct CARImportResult: Codable, Sendable {
    public var id: String
    public var archiveRoot: String
    public var storedRoot: String
    public var size: UInt64
    public var blocks: Int
    public init(id: String, archiveRoot: String, storedRoot: String, size: UInt64, blocks: Int) {
        self.id = id
        self.archiveRoot = archiveRoot
        self.storedRoot = storedRoot
        self.size = size
        self.blocks = blocks
    }
}
