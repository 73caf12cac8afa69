// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging
import Synchronization

/// The node's logging: one process-wide log level that can change while the node runs, a text or JSON
/// rendering on standard error, and a bounded in-memory tail of recent records that the control API streams
/// (`inos log tail`).
///
/// ```swift
/// NodeLog.shared.bootstrap(level: .info, format: .json)   // once, at start: every Logger(label:) goes here
/// let logger = NodeLog.shared.logger("peers")              // label "inos.peers"
/// NodeLog.shared.setLevel(.debug)                          // at once, in every logger made through it
/// for await record in NodeLog.shared.tail(replay: 100) { … }
/// ```
///
/// Every logger made through a `NodeLog` (``logger(_:)``, or any `Logger(label:)` after ``bootstrap(level:format:)``)
/// reads the shared level on each call, so ``setLevel(_:)`` reaches loggers created before it. A logger whose
/// `logLevel` is set directly keeps that level instead (swift-log's value semantics).
public final class NodeLog: Sendable {
    /// How records are written to standard error.
    public enum Format: String, CaseIterable, Sendable {
        /// swift-log's `StreamLogHandler` layout: timestamp, level, label, metadata, source, message.
        case text
        /// One JSON object per line: `time`, `level`, `label`, `message`, `metadata`, `source` (``LogRecord``).
        case json
    }

    /// The process's log: what `inos node` bootstraps and the control API reads.
    public static let shared = NodeLog()

    /// How many recent records ``tail(replay:)`` can replay; older ones are dropped.
    public let capacity: Int
    /// How many records a slow ``tail(replay:)`` consumer may fall behind before the oldest unread are dropped.
    public static let subscriberBuffer = 1024

    private let levelRaw: Atomic<UInt8>
    let formatRaw = Atomic<UInt8>(0)
    private let bootstrapped = Atomic<Bool>(false)
    let state: Mutex<State>
    /// Where rendered lines go (standard error; a test's collector).
    private let output: @Sendable (String) -> Void

    struct State: ~Copyable {
        /// The last `capacity` records, oldest at `head` once full.
        var ring: [LogRecord] = []
        var head = 0
        var subscribers: [UInt64: AsyncStream<LogRecord>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0

        /// Keeps at most `capacity` records.
        /// - Complexity: O(1).
        mutating func append(_ record: LogRecord, capacity: Int) {
            if ring.count < capacity {
                ring.append(record)
            } else if capacity > 0 {
                ring[head] = record
                head = (head + 1) % capacity
            }
        }

        /// The newest `count` records, oldest first.
        func recent(_ count: Int) -> [LogRecord] {
            let ordered = head == 0 ? ring : Array(ring[head...] + ring[..<head])
            return Array(ordered.suffix(max(0, count)))
        }
    }

    convenience init() {
        self.init(capacity: 1000, level: .info) { line in FileHandle.standardError.write(Data(line.utf8)) }
    }

    init(capacity: Int, level: Logger.Level, output: @escaping @Sendable (String) -> Void) {
        self.capacity = max(0, capacity)
        levelRaw = Atomic(Self.index(of: level))
        var state = State()
        state.ring.reserveCapacity(self.capacity)
        self.state = Mutex(state)
        self.output = output
    }

    /// Makes this log swift-log's backend for the whole process (`LoggingSystem.bootstrap`) with `level` and
    /// `format`. swift-log allows one bootstrap per process: a second call is ignored (use ``setLevel(_:)`` to
    /// change the level later).
    public func bootstrap(level: Logger.Level, format: Format) {
        guard !bootstrapped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        setLevel(level)
        formatRaw.store(format == .json ? 1 : 0, ordering: .relaxed)
        LoggingSystem.bootstrap { [self] label in NodeLogHandler(log: self, label: label) }
    }

    /// The level every logger made through this log checks (unless its own was set).
    public var level: Logger.Level { Logger.Level.allCases[Int(levelRaw.load(ordering: .relaxed))] }

    /// Changes the level at once, in every logger made through this log, including ones already created.
    public func setLevel(_ level: Logger.Level) {
        levelRaw.store(Self.index(of: level), ordering: .relaxed)
    }

    /// The rendering in use.
    public var format: Format { formatRaw.load(ordering: .relaxed) == 1 ? .json : .text }

    /// A logger labelled `inos.<subsystem>` that writes through this log (whether or not it was bootstrapped).
    public func logger(_ subsystem: String) -> Logger {
        let label = "inos.\(subsystem)"
        return Logger(label: label) { [self] label in NodeLogHandler(log: self, label: label) }
    }

    /// Up to `replay` of the most recent records, oldest first, then every new record as it is logged. The
    /// stream buffers at most ``subscriberBuffer`` records for a slow consumer and drops the oldest beyond that,
    /// so a consumer never holds up logging. It ends when the consumer stops iterating.
    public func tail(replay: Int) -> AsyncStream<LogRecord> {
        let (stream, continuation) = AsyncStream.makeStream(of: LogRecord.self, bufferingPolicy: .bufferingNewest(Self.subscriberBuffer))
        let id = state.withLock { state in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            // Under the lock: a record logged meanwhile is either replayed or streamed, never both or neither.
            for record in state.recent(replay) { continuation.yield(record) }
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// How many ``tail(replay:)`` streams are open.
    public var tailSubscribers: Int { state.withLock { $0.subscribers.count } }

    /// Records `record`: writes it in the current format, keeps it in the tail and hands it to every subscriber.
    func emit(_ record: LogRecord) {
        let line = (format == .json ? record.jsonLine() : record.textLine()) + "\n"
        output(line)
        let subscribers = state.withLock { state in
            state.append(record, capacity: capacity)
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(record) }
    }

    static func index(of level: Logger.Level) -> UInt8 {
        UInt8(Logger.Level.allCases.firstIndex(of: level) ?? 2)
    }

    static func level(at index: UInt8) -> Logger.Level { Logger.Level.allCases[Int(index)] }
}
