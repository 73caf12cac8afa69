// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Dispatch
import Foundation
import Content
import DataPath
import Host
import Identity
import Logging
import Mesh
import MeshCore
import Compute
import Replication
import WorkAllocation
import Node
import ServiceLifecycle
import Session
import Synchronization

struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: load the manifest's plugins, listen, dial the bootstrap peers, react to the switchboard.",
        discussion: """
            The manifest's [node] listen and bootstrap addresses (or --listen / --bootstrap) start the transport: \
            the node listens, dials its bootstrap peers and redials them with backoff when they drop. \
            SIGHUP re-reads the manifest and applies it live: changed plugins are hot-swapped (transport \
            strategies above the transport keep its connections), removed ones are retired. \
            SIGINT or SIGTERM stops the node cleanly. An idle node sleeps on a futex and uses no CPU. \
            Under systemd (Type=notify, $NOTIFY_SOCKET) it reports READY=1 once it listens, RELOADING=1 and \
            READY=1 around a SIGHUP reload, STOPPING=1 when it stops, and a STATUS= summary.
            """)

    @Option(name: .long, help: "The manifest (TOML). Without it the embedded defaults are used.")
    var manifest: String?

    @Option(name: .long, help: "Listen on this address too, e.g. tcp://127.0.0.1:7400 (port 0: any free port). Repeatable.")
    var listen: [String] = []

    @Option(name: .long, help: "Dial this peer at start and redial it when it drops; tcp://host:port#<node id> refuses any other node there. Repeatable.")
    var bootstrap: [String] = []

    @OptionGroup var meshKey: MeshKeyOptions

    @Option(name: .long, help: "The node's data directory (identity key; the embedded manifest's store). Default: $INOS_DATA_DIR or ~/.inos.")
    var dataDir: String?

    @Option(name: .long, help: "The address other members should dial to reach this node (default: the first --listen address).")
    var advertise: String?

    @Option(name: .long, help: "Seconds between announcements of this node's pinned resources to the DHT.")
    var provideInterval: Double = 60

    @Option(name: .long, help: "The name of this node's region (e.g. eu-west; up to 32 of A-Z a-z 0-9 . _ -), published in its status: hierarchical placement groups members by it. Default: none.")
    var region: String = ""

    @Option(name: .long, help: "The most members this node's SWIM view holds (4…100000), overriding [mesh] max_members (default 1000). Past it the view is a renewing sample of the mesh and lookups route through the node's k-buckets.")
    var maxMembers: Int?

    @Option(name: .long, help: "Seconds of silence after which a peer is pinged; no answer for three intervals closes it.")
    var keepalive: Double = 15

    @Option(name: .long, help: "Seconds between status lines (0: none).")
    var statusInterval: Double = 0

    @Option(name: .long, help: "Seconds between repair rounds (census of the resources this node leads; missing copies pushed).")
    var repairInterval: Double = 10

    @Option(name: .long, help: "Bytes per second repair may push (foreground reads keep the rest).")
    var repairRate: Double = 32 * 1_048_576

    @Option(name: .long, help: "Half-life in seconds of the demand estimate that raises replicas of hot resources.")
    var demandHalfLife: Double = 600

    @Option(name: .long, help: "Whose jobs this node runs: none, members, or owners (of the data they read). Default: the manifest's [compute] allow, else owners.")
    var computeAllow: String?

    @Option(name: .customLong("credit-issuer"), help: "A node ID (n…) whose ledger entries grant credits, added to the manifest's [credits] issuers (repeatable). With any named, puts are paid from balances (docs/credits.md).")
    var creditIssuers: [String] = []

    @Option(name: .long, help: "Stop after this many seconds (0: run until a signal).")
    var runFor: Double = 0

    @OptionGroup var log: LogOptions

    @OptionGroup(title: "Operator plane") var control: ControlOptions

    func run() async throws {
        // A SIGHUP during start-up must not end the node (its default action): ignore it until the reload source
        // below takes it over.
        signal(SIGHUP, SIG_IGN)
        let logger = log.bootstrap("node")
        let notifier = SystemdNotifier()
        let manifestPath = discoveredManifest(self.manifest, dataDirectory: dataDir)
        var manifest = try loadManifest(manifestPath, dataDirectory: dataDir)
        let allow = computeAllow ?? manifest.computeAllow
        guard let policy = ComputeService.Policy(rawValue: allow) else {
            throw ValidationError("--compute-allow \"\(allow)\" must be none, members or owners")
        }
        manifest.listen += listen
        manifest.bootstrap += bootstrap
        for issuer in creditIssuers where NodeID(issuer) == nil {
            throw ValidationError("--credit-issuer \(issuer) is not a node ID (n and 52 base32 characters, as `inos id` prints it)")
        }
        manifest.creditIssuers += creditIssuers
        if let maxMembers {
            guard (4...100_000).contains(maxMembers) else { throw ValidationError("--max-members \(maxMembers): give 4 to 100000 members") }
            manifest.mesh.maxMembers = maxMembers
        }
        for address in manifest.bootstrap where PinnedAddress(address) == nil {
            throw ValidationError("bootstrap address \(address): the part after # must be a node ID (n…, as the node prints it at start)")
        }
        let admission = try meshKey.admission(manifest.mesh)
        var configuration = MeshNode.Configuration(role: .member, manifest: manifest, dataDirectory: dataDir ?? defaultDataDirectory(), logger: logger)
        configuration.admission = admission
        configuration.advertise = advertise
        configuration.keepaliveSeconds = keepalive
        configuration.provideInterval = provideInterval
        guard NodeStatus.isValidRegionName(region) else {
            throw ValidationError("--region \(region): a region name is up to \(NodeStatus.maximumRegionName) of A-Z a-z 0-9 . _ - (e.g. eu-west)")
        }
        configuration.region = region
        configuration.replication.repairInterval = max(repairInterval, 0.5)
        configuration.replication.repairBytesPerSecond = max(repairRate, 65_536)
        configuration.replication.demandHalfLife = max(demandHalfLife, 1)
        configuration.computePolicy = policy
        configuration.statusInterval = statusInterval
        if notifier.isEnabled { configuration.onStatus = { notifier.status(String($0.prefix(200))) } }
        configuration.seed = UInt64(getpid())
        let controlOptions = try control.serverOptions()
        let node: MeshNode
        do { node = try MeshNode(configuration) } catch { throw ValidationError("\(error)") }
        let host = node.host
        // SIGHUP re-reads the manifest from here on (before the "running" line, so whoever waits for it may send one).
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { [host, path = manifestPath, logger] in
            notifier.reloading()
            let outcome = reload(host, manifest: path, logger: logger)
            notifier.ready(status: outcome)
        }
        hangup.resume()
        defer { hangup.cancel() }
        logger.info("node \(host.manifest.nodeName) running: arena \(host.arena.size >> 20) MiB, \(host.slots.count) plugin slot(s); pid \(getpid())")
        if let identity = node.identity {
            logger.info("node id \(identity.id)")
            logAdmission(admission, logger: logger)
        }
        let bound: [String]
        do { bound = try node.start() } catch {
            host.shutdown()
            throw ValidationError("\(error)")
        }
        for address in bound {
            // On stdout, unbuffered, for scripts and tests that start nodes on port 0.
            FileHandle.standardOutput.write(Data("listening on \(address)\n".utf8))
        }
        let controlServices: [ServiceGroupConfiguration.ServiceConfiguration]
        do { controlServices = try Self.controlServices(node, controlOptions, logger: logger) } catch {
            node.stop()
            host.shutdown()
            throw error
        }
        let summary = "node \(host.manifest.nodeName) running: \(bound.isEmpty ? "not listening" : "listening on " + bound.joined(separator: ", ")), \(host.slots.count) plugin slot(s)"
        let group = ServiceGroup(
            configuration: .init(
                // The reactor also ends on its own (--run-for, inos shutdown): that is a clean stop, not a failure.
                // The notice is last, so it hears of the shutdown first (services stop in reverse order).
                services: [.init(service: node, successTerminationBehavior: .gracefullyShutdownGroup)] + controlServices + [
                    .init(service: SystemdNotice(notifier: notifier, status: summary, logger: logger), successTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        if runFor > 0 {
            DispatchQueue.global().asyncAfter(deadline: .now() + runFor) { node.stop() }
        }
        try await group.run()
        logger.info("node stopped")
    }
}

/// Re-reads the manifest and applies it; returns a one-line outcome (for systemd's STATUS=).
private func reload(_ host: HostRuntime, manifest path: String?, logger: Logger) -> String {
    guard let path else {
        logger.warning("SIGHUP: the node runs on embedded defaults; nothing to reload")
        return "running on embedded defaults; nothing to reload"
    }
    do {
        let report = try host.reload(loadManifest(path))
        logger.info("manifest reloaded: swapped \(report.swapped.sorted()), loaded \(report.loaded.keys.sorted()), removed \(report.removed.sorted()), skipped \(report.skipped.count)")
        return "manifest reloaded: \(report.swapped.count) swapped, \(report.loaded.count) loaded, \(report.removed.count) removed"
    } catch {
        logger.error("manifest reload refused, the node keeps its current plugins: \(error)")
        return "manifest reload refused; running on the previous plugins"
    }
}

/// Tells systemd `READY=1` once the service group runs — it has taken over SIGTERM and SIGINT by then, so a
/// supervisor that stops the node right after READY gets a clean stop — and `STOPPING=1` as soon as a graceful
/// shutdown begins (SIGTERM, SIGINT, --run-for).
private struct SystemdNotice: Service {
    let notifier: SystemdNotifier
    let status: String
    let logger: Logger

    func run() async throws {
        // From here on SIGTERM and SIGINT stop the node cleanly (before, they end the process at once).
        logger.info("ready: \(status)")
        if let error = notifier.notify([("READY", "1"), ("STATUS", status), ("MAINPID", "\(getpid())")]) {
            logger.warning("systemd notification failed: \(error.message)")
        }
        try? await gracefulShutdown()
        notifier.stopping()
    }
}

func sysClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
