// SPDX-License-Identifier: Apache-2.0
import Dispatch
import InosSystem
import Logging
import Mesh
import Synchronization

/// Checks the reactor four times a second from a timer of its own: a callback running past a second is logged
/// when seen (what the reactor is in) and when it ends (how long, and whether its thread ran, waited for a CPU or
/// was blocked, from the kernel's scheduler statistics). Counted for `/metrics` and the status report.
///
/// Peers declare a node dead when its reactor does not answer; this is how an operator (and the chaos harness)
/// tells a node starved of CPU from one blocked on a lock, the disk or a slow call.
final class ReactorWatchdog: Sendable {
    static let intervalMilliseconds = 250

    private let watch: ReactorWatch
    private let logger: Logger
    private let detector: Mutex<StallDetector>
    private let last = Mutex<ReactorStall?>(nil)
    // Made when started (a source released before its first resume would trap); Dispatch does not mark it Sendable.
    private struct Timer: @unchecked Sendable { let source: DispatchSourceTimer }
    private let timer = Mutex<Timer?>(nil)

    init(watch: ReactorWatch, logger: Logger, thresholdSeconds: Double = 1) {
        self.watch = watch
        self.logger = logger
        detector = Mutex(StallDetector(thresholdSeconds: thresholdSeconds))
    }

    func start() {
        timer.withLock { timer in
            guard timer == nil else { return }
            let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "inos.reactor.watchdog", qos: .utility))
            let interval = DispatchTimeInterval.milliseconds(Self.intervalMilliseconds)
            source.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(20))
            source.setEventHandler { [weak self] in self?.check() }
            source.resume()
            timer = Timer(source: source)
        }
    }

    func stop() { timer.withLock { $0?.source.cancel() } }

    /// Stalls seen since start, the longest in seconds, and the last one.
    var figures: (stalls: UInt64, longestSeconds: Double, last: ReactorStall?) {
        let (stalls, longest) = detector.withLock { ($0.stalls, $0.longest) }
        return (stalls, longest, last.withLock { $0 })
    }

    private func check() {
        let snapshot = watch.snapshot()
        let sample = snapshot.thread == 0 ? nil : ThreadSample.read(thread: snapshot.thread)
        let events = detector.withLock { $0.check(now: watch.now, snapshot, sample: sample) }
        for event in events {
            switch event {
            case .began(let stall):
                logger.warning("the reactor has not returned for \(String(format: "%.1f", stall.seconds)) s: it is in \(stall.location); peers' requests wait")
            case .ended(let stall):
                last.withLock { $0 = stall }
                logger.warning("the reactor stalled \(stall)")
            }
        }
    }
}
