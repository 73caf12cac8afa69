// SPDX-License-Identifier: Apache-2.0
import Dispatch
import InosTransportKit
import PluginABI
import PluginKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the fault strategy does to frames it sends, from its `[plugins.config]`.
struct FaultSettings: Sendable, Equatable {
    /// Probability that a frame is silently dropped.
    var drop = 0.0
    /// Probability that a frame is sent twice.
    var duplicate = 0.0
    /// Probability that a frame is held back and sent after the next frame on its connection.
    var reorder = 0.0
    /// Extra latency per frame, plus a uniform jitter of up to `jitterMilliseconds`.
    var delayMilliseconds = 0
    var jitterMilliseconds = 0
    /// Drop every frame on connections this node dialed to these addresses; `isolate` drops every frame.
    var partition: Set<String> = []
    var isolate = false
    var seed: UInt64 = 1
}

/// A transport strategy that wraps another and makes the network worse on purpose — drops, duplicates,
/// delays, reorders, partitions — with a seeded random generator, so a failing test can be replayed.
/// Faults act on frames this node sends; give both ends a fault strategy for faults in both directions.
/// Nothing it holds (delayed or held-back frames) is lost when it is swapped out: deinit sends it on.
final class FaultTransport: TransportEndpoint, Sendable {
    struct Pending: Sendable {
        var due: UInt64
        var connection: UInt64
        var bytes: [UInt8]
    }

    private struct State {
        var inner: InnerTransport?
        var random: UInt64
        var dialed: [UInt64: String] = [:]
        /// Per connection: a frame held back to be sent after the next one.
        var held: [UInt64: Pending] = [:]
        var delayed: [Pending] = []
        var stopping = false
        var sent = 0, dropped = 0, duplicated = 0, reordered = 0
    }

    let settings: FaultSettings
    let link: HostLink
    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(settings: FaultSettings, link: HostLink) {
        self.settings = settings
        self.link = link
        state = Mutex(State(random: settings.seed == 0 ? 0x9E37_79B9_7F4A_7C15 : settings.seed))
        startThread { [self] in
            setThreadName("inos.fault")
            scheduler()
        }
    }

    private var inner: InnerTransport {
        get throws(TransportError) {
            guard let inner = state.withLock({ $0.inner }) else { throw TransportError(.closed, "the fault strategy wraps nothing yet") }
            return inner
        }
    }

    func wrap(_ inner: InnerTransport) throws(TransportError) { state.withLock { $0.inner = inner } }

    func listen(_ address: String) throws(TransportError) { try inner.listen(address) }

    func dial(_ address: String) throws(TransportError) -> UInt64 {
        let connection = try inner.dial(address)
        state.withLock { $0.dialed[connection] = address }
        return connection
    }

    func close(_ connection: UInt64) {
        flushHeld(connection)
        state.withLock { _ = $0.dialed.removeValue(forKey: connection) }
        (try? inner)?.close(connection)
    }

    func localAddress() throws(TransportError) -> String { try inner.localAddress() }

    /// xorshift64*: deterministic per seed.
    private static func next(_ state: inout UInt64) -> Double {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Double((state &* 0x2545_F491_4F6C_DD1D) >> 11) / Double(1 << 53)
    }

    func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        let inner = try inner
        enum Plan { case drop, now(copies: Int, release: Pending?), hold, queued }
        let now = link.clockNanoseconds
        let plan: Plan = state.withLock { state in
            let cut = settings.isolate || state.dialed[connection].map { settings.partition.contains($0) } == true
            if cut || Self.next(&state.random) < settings.drop {
                state.dropped += 1
                return .drop
            }
            let copies = Self.next(&state.random) < settings.duplicate ? 2 : 1
            if copies == 2 { state.duplicated += 1 }
            let delay = UInt64(settings.delayMilliseconds) * 1_000_000
                + UInt64(Self.next(&state.random) * Double(settings.jitterMilliseconds) * 1_000_000)
            if state.held[connection] == nil, Self.next(&state.random) < settings.reorder {
                // Held until the next frame on this connection passes it (or the delay runs out).
                state.held[connection] = Pending(due: now + max(delay, 10_000_000), connection: connection, bytes: Array(bytes))
                state.reordered += 1
                return .hold
            }
            let released = state.held.removeValue(forKey: connection)
            if delay > 0 {
                // Delayed frames leave in FIFO order (no overtaking); a released held frame goes after this one.
                let frame = Pending(due: now + delay, connection: connection, bytes: Array(bytes))
                for _ in 0..<copies { state.delayed.append(frame) }
                if let released { state.delayed.append(Pending(due: frame.due, connection: connection, bytes: released.bytes)) }
                return .queued
            }
            return .now(copies: copies, release: released)
        }
        switch plan {
        case .drop, .hold, .queued:
            wakeup.signal()
        case .now(let copies, let release):
            for _ in 0..<copies { try inner.send(connection, bytes) }
            if let release { try release.bytes.withBytes { (raw) throws(TransportError) in try sendInner(inner, connection, raw) } }
        }
    }

    private func sendInner(_ inner: InnerTransport, _ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        try inner.send(connection, bytes)
    }

    private func flushHeld(_ connection: UInt64) {
        guard let held = state.withLock({ $0.held.removeValue(forKey: connection) }), let inner = try? inner else { return }
        held.bytes.withUnsafeBytes { try? sendInner(inner, connection, $0) }
    }

    /// Sends delayed and held frames when they fall due; on stop, sends everything still queued.
    private func scheduler() {
        while true {
            let now = link.clockNanoseconds
            let (due, stopping, next) = state.withLock { state -> ([Pending], Bool, UInt64?) in
                var due: [Pending] = []
                // Delayed frames leave in FIFO order once the first is due (no overtaking within a connection).
                while let first = state.delayed.first, first.due <= now || state.stopping {
                    due.append(state.delayed.removeFirst())
                }
                for (connection, held) in state.held where held.due <= now || state.stopping {
                    due.append(held)
                    state.held[connection] = nil
                }
                // When the next frame falls due: the head of the FIFO or the earliest held frame.
                let next = ([state.delayed.first?.due].compactMap { $0 } + state.held.values.map(\.due)).min()
                return (due, state.stopping, next)
            }
            if let inner = try? inner {
                for frame in due {
                    frame.bytes.withUnsafeBytes { raw in
                        // A full inner queue: retry shortly; the frame is not dropped.
                        var attempts = 0
                        while (try? sendInner(inner, frame.connection, raw)) == nil && attempts < 2000 {
                            usleep(500)
                            attempts += 1
                        }
                    }
                }
            }
            if stopping { break }
            // Sleep until the next frame falls due, or until `send` queues or holds one (or `shutdown`): nothing
            // waiting, no wake-ups. Sending above took time, so the due time is measured again.
            if let next {
                let now = link.clockNanoseconds
                if next > now { _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(min(next - now, 1_000_000_000)))) }
            } else {
                wakeup.wait()
            }
        }
        finished.signal()
    }

    func shutdown() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
        finished.wait()
        let counts = state.withLock { "sent faults: \($0.dropped) dropped, \($0.duplicated) duplicated, \($0.reordered) reordered" }
        link.log(Int32(INOS_LOG_INFO), counts)
    }
}

