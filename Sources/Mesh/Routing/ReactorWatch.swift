// SPDX-License-Identifier: Apache-2.0
import InosSystem
import Synchronization
import Wire

/// Where the reactor is: what it handles now, and how long it has been at it.
///
/// Everything a node answers in time — handshakes, SWIM probes, gossip, Merkle walks — runs on its reactor
/// thread, so a reactor that does not come back makes peers time out and declare the node dead. The reactor marks
/// each callback (``begin(_:)``/``end()``) and the steps inside it (``enter(_:type:)``); a watchdog outside it
/// (``StallDetector``) notices a callback that runs past a threshold and, from the kernel's account of the
/// reactor thread, says whether it was running, waiting for a CPU or blocked — and in which call.
///
/// The reactor's side is two relaxed atomic stores per step: cheap enough for every inbox record.
public final class ReactorWatch: Sendable {
    /// What the reactor does in a callback.
    public enum Phase: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case idle = 0
        /// An inbox record before its frame type is known (decryption, handshake steps).
        case transportRecord
        /// A handshake message.
        case handshake
        /// A frame's handler, or the router taking an answer (the type says which).
        case frame
        case opened
        case closed
        /// The tick: request deadlines, relayed offers, the once-a-second epoch, membership, gossip, keepalives.
        case tick
        case requestDeadlines
        case offers
        case providerEpoch
        case antiEntropyEpoch
        case membership
        case gossip
        case connections
        /// The node's status line.
        case status

        public var description: String {
            switch self {
            case .idle: "idle"
            case .transportRecord: "a transport record"
            case .handshake: "a handshake message"
            case .frame: "a frame"
            case .opened: "a connection's opening"
            case .closed: "a connection's close"
            case .tick: "the tick"
            case .requestDeadlines: "the tick's request deadlines"
            case .offers: "the tick's connection offers"
            case .providerEpoch: "the provider records' epoch"
            case .antiEntropyEpoch: "the anti-entropy epoch"
            case .membership: "SWIM's timers"
            case .gossip: "gossip's rounds"
            case .connections: "keepalives and handshake deadlines"
            case .status: "the status line"
            }
        }
    }

    /// Where the reactor is: a phase, and for ``Phase/frame`` the frame's type.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        public var phase: Phase
        public var type: FrameType?

        init(raw: UInt32) {
            phase = Phase(rawValue: UInt8(truncatingIfNeeded: raw)) ?? .idle
            type = raw & 0x1_0000 != 0 ? FrameType(rawValue: UInt8(truncatingIfNeeded: raw >> 8)) : nil
        }

        public init(_ phase: Phase, type: FrameType? = nil) {
            self.phase = phase
            self.type = type
        }

        var raw: UInt32 { UInt32(phase.rawValue) | (type.map { UInt32($0.rawValue) << 8 | 0x1_0000 } ?? 0) }

        public var description: String { type.map { "\(phase) (\($0))" } ?? phase.description }
    }

    /// Monotonic nanoseconds at which the current callback began; 0 between callbacks.
    private let since = Atomic<UInt64>(0)
    private let location = Atomic<UInt32>(0)
    /// The last callback that returned: when it began, and how long it ran (nanoseconds).
    private let lastSince = Atomic<UInt64>(0)
    private let lastLength = Atomic<UInt64>(0)
    /// The reactor thread's kernel ID (0 until the reactor's first callback).
    private let thread = Atomic<Int32>(0)
    private let clock: @Sendable () -> UInt64

    /// On the machine's monotonic clock: the watch measures a real thread, also in a harness on virtual time.
    public convenience init() { self.init { sysMonotonicNanoseconds() } }

    /// On `clock` (nanoseconds; tests).
    package init(clock: @escaping @Sendable () -> UInt64) {
        self.clock = clock
    }

    /// The reactor begins a callback.
    public func begin(_ phase: Phase) {
        if thread.load(ordering: .relaxed) == 0 { thread.store(sysThreadID(), ordering: .relaxed) }
        location.store(Location(phase).raw, ordering: .relaxed)
        since.store(max(1, clock()), ordering: .relaxed)
    }

    /// The reactor moves to another step of the same callback.
    public func enter(_ phase: Phase, type: FrameType? = nil) {
        location.store(Location(phase, type: type).raw, ordering: .relaxed)
    }

    /// The reactor's callback returned.
    public func end() {
        let started = since.exchange(0, ordering: .relaxed)
        let now = clock()
        lastLength.store(now > started ? now - started : 0, ordering: .relaxed)
        lastSince.store(started, ordering: .relaxed)
    }

    /// The reactor's state now, for the watchdog.
    public struct Snapshot: Sendable, Equatable {
        /// Since when the current callback has run; nil when the reactor is idle.
        public var since: UInt64?
        public var location: Location
        /// The reactor thread's kernel ID (0 before its first callback).
        public var thread: Int32
        /// The last callback that returned: its start and length (nanoseconds).
        public var lastSince: UInt64
        public var lastLength: UInt64

        public init(since: UInt64?, location: Location, thread: Int32 = 0, lastSince: UInt64 = 0, lastLength: UInt64 = 0) {
            (self.since, self.location, self.thread, self.lastSince, self.lastLength) = (since, location, thread, lastSince, lastLength)
        }
    }

    public func snapshot() -> Snapshot {
        let started = since.load(ordering: .relaxed)
        // The last callback's length before its start: a reader between the two stores sees an older length
        // with a newer start at worst, which the detector only uses when the starts match.
        let length = lastLength.load(ordering: .relaxed)
        return Snapshot(since: started == 0 ? nil : started, location: Location(raw: location.load(ordering: .relaxed)),
                        thread: thread.load(ordering: .relaxed), lastSince: lastSince.load(ordering: .relaxed), lastLength: length)
    }

    public var now: UInt64 { clock() }
}

/// A reactor callback that ran past the threshold, and what the kernel says its thread did meanwhile.
public struct ReactorStall: Sendable, Equatable, CustomStringConvertible {
    /// Where the reactor was when the stall was seen.
    public var location: ReactorWatch.Location
    /// How long the callback had run when last seen, in seconds (at the end: its whole length, to a check's precision).
    public var seconds: Double
    /// Of the time between the readings around it: on a CPU, runnable but waiting for one, and neither (blocked
    /// or asleep). Nil without the kernel's account (no /proc).
    public var onCPU: Double?
    public var waitingForCPU: Double?
    public var blocked: Double?
    /// What the thread was doing at each reading during the stall, most frequent first ("futex", "running"…).
    public var activities: [(String, Int)]

    public static func == (a: ReactorStall, b: ReactorStall) -> Bool {
        a.location == b.location && a.seconds == b.seconds && a.onCPU == b.onCPU && a.waitingForCPU == b.waitingForCPU && a.blocked == b.blocked
            && a.activities.map(\.0) == b.activities.map(\.0) && a.activities.map(\.1) == b.activities.map(\.1)
    }

    /// Which cause the kernel's account points to.
    public var cause: String {
        guard let onCPU, let waitingForCPU, let blocked else { return "cause unknown (no scheduler statistics)" }
        let largest = max(onCPU, waitingForCPU, blocked)
        if largest == waitingForCPU { return "starved: runnable but waiting for a CPU" }
        if largest == onCPU { return "busy: running its own work" }
        let call = activities.first { $0.0 != "running" }?.0
        return "blocked" + (call.map { " (in \($0))" } ?? "")
    }

    public var description: String {
        var text = "\(String(format: "%.1f", seconds)) s in \(location)"
        if let onCPU, let waitingForCPU, let blocked {
            text += String(format: ": on a CPU %.2f s, waiting for a CPU %.2f s, blocked or asleep %.2f s", onCPU, waitingForCPU, blocked)
        }
        if !activities.isEmpty { text += "; seen " + activities.map { "\($0.0) ×\($0.1)" }.joined(separator: ", ") }
        return text + " — " + cause
    }
}

/// The watchdog's logic, I/O-free: fed a snapshot of the watch and a reading of the reactor thread at each
/// check, it says when a callback passes the threshold (``Event/began``) and when it ends (``Event/ended``).
public struct StallDetector: Sendable {
    public enum Event: Sendable, Equatable {
        case began(ReactorStall)
        case ended(ReactorStall)
    }

    /// A callback longer than this is a stall (nanoseconds).
    public let threshold: UInt64
    /// Recent readings of the reactor thread, oldest first (a few seconds' worth: the one before a stall began
    /// is the baseline of its CPU account).
    private var samples: [ThreadSample] = []
    private let keep: Int
    /// The stall being watched: the callback's start, where it was first seen, its readings' activities.
    private var current: (since: UInt64, location: ReactorWatch.Location, activities: [String: Int], lastSeen: UInt64)?

    public private(set) var stalls: UInt64 = 0
    public private(set) var longest: Double = 0

    public init(thresholdSeconds: Double = 1, keepSamples: Int = 64) {
        threshold = UInt64(max(0.001, min(thresholdSeconds, 3600)) * 1e9)
        keep = max(2, keepSamples)
    }

    /// One check at `now`: the watch's snapshot and (if /proc could be read) a reading of the reactor thread.
    package mutating func check(now: UInt64, _ snapshot: ReactorWatch.Snapshot, sample: ThreadSample?) -> [Event] {
        let (since, location) = (snapshot.since, snapshot.location)
        var events: [Event] = []
        if let sample {
            samples.append(sample)
            if samples.count > keep { samples.removeFirst(samples.count - keep) }
        }
        // The watched callback ended (the reactor is idle or in a later callback): report it.
        if let watched = current, since != watched.since {
            // Its length: exact when it was the last callback to return, else as of the last check that saw it.
            let end = snapshot.lastSince == watched.since ? watched.since &+ snapshot.lastLength : watched.lastSeen
            longest = max(longest, Double(end &- watched.since) / 1e9)
            events.append(.ended(stall(watched, upTo: sample, now: end)))
            current = nil
        }
        guard let since, now > since, now - since >= threshold else { return events }
        let activity = sample.map { Self.name($0.activity) }
        if current == nil {
            current = (since, location, [:], now)
            stalls &+= 1
            if let activity { current!.activities[activity, default: 0] += 1 }
            events.append(.began(stall(current!, upTo: sample, now: now)))
        } else {
            if let activity { current!.activities[activity, default: 0] += 1 }
            current!.lastSeen = now
            current!.location = location
        }
        longest = max(longest, Double(now - since) / 1e9)
        return events
    }

    private func stall(_ watched: (since: UInt64, location: ReactorWatch.Location, activities: [String: Int], lastSeen: UInt64),
                       upTo sample: ThreadSample?, now: UInt64) -> ReactorStall {
        var stall = ReactorStall(location: watched.location, seconds: Double(now > watched.since ? now - watched.since : 0) / 1e9,
                                 activities: watched.activities.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { ($0.key, $0.value) })
        // The CPU account: from the last reading at or before the callback began (or the first one, for a stall
        // in the reactor's first callback) to the latest reading.
        if let first = samples.last(where: { $0.at <= watched.since }) ?? samples.first, let last = sample ?? samples.last, last.at > first.at {
            let wall = Double(last.at - first.at) / 1e9
            let onCPU = Double(last.onCPU &- first.onCPU) / 1e9
            let waiting = Double(last.waitingForCPU &- first.waitingForCPU) / 1e9
            stall.onCPU = min(onCPU, wall)
            stall.waitingForCPU = min(waiting, wall)
            stall.blocked = max(0, wall - onCPU - waiting)
        }
        return stall
    }

    static func name(_ activity: ThreadSample.Activity) -> String {
        switch activity {
        case .running: "running"
        case .uninterruptible: "disk wait (D)"
        case .inSyscall(let number): ThreadSample.syscallName(number)
        case .unknown: "unknown"
        }
    }
}
