// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import Mesh
import Node
import Primitives
import ServiceLifecycle
import Synchronization

/// What every route shares: the node, its log control, its metrics, the traffic sampler (rates), and the bound on
/// data operations running at once.
final class ControlState: Sendable {
    let node: MeshNode
    let logControl: LogControl
    let metrics: NodeMetrics
    let sampler: TrafficSampler
    let started = ContinuousClock.now
    /// Data operations (put, get, verify, swap) run on threads of their own; at most this many at once, more are
    /// answered 503 `unavailable` (busy).
    static let dataOperationLimit = 4
    private let running = Atomic<Int>(0)
    /// Since when the transports have been paused, and the pause count then (``backpressureHeld()``).
    let backpressure = Mutex<(since: ContinuousClock.Instant, pauses: UInt64)?>(nil)

    init(node: MeshNode, logControl: LogControl, metrics: NodeMetrics) {
        self.node = node
        self.logControl = logControl
        self.metrics = metrics
        sampler = TrafficSampler(traffic: node.peers?.layer.traffic)
    }

    var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Runs `body` as one of the data operations, within the limit (refused with 503 past it).
    func admitted<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        guard running.add(1, ordering: .relaxed).newValue <= Self.dataOperationLimit else {
            running.subtract(1, ordering: .relaxed)
            throw APIFailure(InosError(.unavailable, "\(Self.dataOperationLimit) data operations already run on this node; retry when one finished"), status: .serviceUnavailable)
        }
        defer { running.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    /// Runs `body` on a thread of its own (it blocks: store I/O, a plugin swap's drain), within the limit.
    func offload<R: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await admitted { try await Self.onThread(what, body) }
    }

    /// Runs `body` on a thread of its own, outside the limit (for work already admitted).
    static func onThread<R: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.name = "inos.api.\(what)"
            thread.start()
        }
    }
}

/// Samples the node's traffic totals every few seconds, so `inos stats` can show rates over a recent window
/// rather than since start.
final class TrafficSampler: Service, Sendable {
    struct Sample: Sendable {
        var at: ContinuousClock.Instant
        var total: Mesh.Traffic.Counts
    }

    static let interval: Duration = .seconds(2)
    let traffic: Mesh.Traffic?
    private let samples = Mutex<[Sample]>([])

    init(traffic: Mesh.Traffic?) { self.traffic = traffic }

    func run() async throws {
        // A service that returns ends the node's group: without a peer layer there is nothing to sample, so it
        // waits for the shutdown.
        guard let traffic else { return try await gracefulShutdown() }
        // The sleep ends at once when the node shuts down.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let sample = Sample(at: ContinuousClock.now, total: traffic.snapshot.total)
                // The newest two windows' worth.
                self.samples.withLock { samples in
                    samples.append(sample)
                    if samples.count > 3 { samples.removeFirst(samples.count - 3) }
                }
                try await Task.sleep(for: Self.interval)
            }
        }
    }

    /// The rates between the oldest kept sample and now.
    func rates(now total: Mesh.Traffic.Counts) -> StatsReport.Rates? {
        guard let first = samples.withLock({ $0.first }) else { return nil }
        let elapsed = ContinuousClock.now - first.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds > 0.05 else { return nil }
        func rate(_ now: UInt64, _ then: UInt64) -> Double { now >= then ? Double(now - then) / seconds : 0 }
        return StatsReport.Rates(
            windowSeconds: seconds, bytesInPerSecond: rate(total.bytesIn, first.total.bytesIn), bytesOutPerSecond: rate(total.bytesOut, first.total.bytesOut),
            framesInPerSecond: rate(total.framesIn, first.total.framesIn), framesOutPerSecond: rate(total.framesOut, first.total.framesOut))
    }
}
