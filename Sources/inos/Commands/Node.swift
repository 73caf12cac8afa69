// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Dispatch
import Foundation
import Host
import Logging

struct Node: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: create the arena, load the manifest's plugins, react to the switchboard.",
        discussion: """
            SIGHUP re-reads the manifest and applies it live: changed plugins are hot-swapped (new work goes \
            to the new build, calls in flight drain on the old one), removed ones are retired. \
            SIGINT or SIGTERM stops the node cleanly. An idle node sleeps on a futex and uses no CPU.
            """)

    @Option(name: .long, help: "The manifest (TOML). Without it the embedded defaults are used.")
    var manifest: String?

    @Option(name: .long, help: "Seconds between status lines (0: none).")
    var statusInterval: Double = 0

    @Option(name: .long, help: "Stop after this many seconds (0: run until a signal).")
    var runFor: Double = 0

    func run() throws {
        let logger = Logger(label: "inos.node")
        let host = try HostRuntime(manifest: loadManifest(manifest), logger: logger)
        do {
            try host.start()
        } catch {
            throw ValidationError("cannot start: \(error)")
        }
        logger.info("node \(host.manifest.nodeName) running: arena \(host.arena.size >> 20) MiB, \(host.slots.count) plugin slot(s); pid \(getpid())")

        let signals = DispatchQueue(label: "inos.signals")
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signals)
            source.setEventHandler { [manifest] in
                if signalNumber == SIGHUP {
                    reload(host, manifest: manifest, logger: logger)
                } else {
                    logger.info("signal \(signalNumber): stopping")
                    host.requestStop()
                }
            }
            source.resume()
            sources.append(source)
        }
        if runFor > 0 {
            signals.asyncAfter(deadline: .now() + runFor) { host.requestStop() }
        }

        let started = sysClock()
        var lastStatus = started
        host.run(
            tickNanoseconds: 1_000_000_000,
            onInbox: { type, bytes in logger.debug("inbox record type \(type), \(bytes.count) bytes") },
            onTick: {
                guard statusInterval > 0, sysClock() - lastStatus >= statusInterval else { return }
                lastStatus = sysClock()
                let heap = host.arena.heap.statistics
                logger.info("status: heap \(heap.bytesInUse)/\(heap.capacity) bytes, inbox \(host.arena.inbox.usedBytes) bytes, backpressure \(host.arena.switchboard.isBackpressured)")
            })
        host.shutdown()
        sources.forEach { $0.cancel() }
        logger.info("node stopped")
    }
}

private func reload(_ host: HostRuntime, manifest path: String?, logger: Logger) {
    guard let path else {
        logger.warning("SIGHUP: the node runs on embedded defaults; nothing to reload")
        return
    }
    do {
        let report = try host.reload(loadManifest(path))
        logger.info("manifest reloaded: swapped \(report.swapped.sorted()), loaded \(report.loaded.keys.sorted()), removed \(report.removed.sorted()), skipped \(report.skipped.count)")
    } catch {
        logger.error("manifest reload refused, the node keeps its current plugins: \(error)")
    }
}

func sysClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
