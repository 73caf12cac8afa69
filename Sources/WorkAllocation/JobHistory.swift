// SPDX-License-Identifier: Apache-2.0
import Foundation
import Identity
import Synchronization

/// The most recent jobs this node took part in, for the dashboard: JOB_RUN requests it served for the mesh,
/// and jobs it submitted (the parts per node, the retries, the outcome). Bounded: the newest ``capacity``.
public final class JobHistory: Sendable {
    public struct Part: Sendable, Equatable {
        public var node: String
        public var chunks: Int
        /// Why the part failed on that node (its chunks ran again elsewhere), nil when it succeeded.
        public var failed: String?
    }

    public struct Entry: Sendable, Equatable {
        /// "served" (a JOB_RUN this node ran for `requester`) or "submitted" (a job this node spread over holders).
        public var kind: String
        public var function: String
        public var resource: String
        /// Who asked (served jobs), nil for submitted ones.
        public var requester: String?
        public var parts: [Part]
        public var retried: Int
        /// "succeeded", "failed" or "refused".
        public var outcome: String
        public var message: String?
        public var seconds: Double
        /// Wall-clock seconds since 1970 when it finished.
        public var finishedAt: Double
    }

    public static let capacity = 64
    private let entries = Mutex<[Entry]>([])
    /// Every entry recorded since start (the ring keeps the newest ``capacity``).
    private let recorded = Atomic<Int>(0)

    public init() {}

    public func record(_ entry: Entry) {
        recorded.add(1, ordering: .relaxed)
        entries.withLock { entries in
            entries.append(entry)
            if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
        }
    }

    /// Newest first.
    public var recent: [Entry] { entries.withLock { $0.reversed() } }
    public var total: Int { recorded.load(ordering: .relaxed) }

    /// Records a submitted job that failed.
    public func recordSubmissionFailure(function: String, resource: String, message: String, seconds: Double) {
        record(Entry(kind: "submitted", function: function, resource: resource, requester: nil, parts: [], retried: 0, outcome: "failed",
                     message: message, seconds: seconds, finishedAt: Date().timeIntervalSince1970))
    }

    /// Records a job submitted through ``JobSubmitter``.
    public func recordSubmitted(_ report: JobSubmitter.Report, function: String) {
        let parts = report.parts.map { Part(node: String(format: "%016llx", $0.member), chunks: $0.chunks.count, failed: $0.failed) }
        record(Entry(kind: "submitted", function: function, resource: report.resource.description, requester: nil, parts: parts, retried: report.retried,
                     outcome: "succeeded", message: nil, seconds: report.seconds, finishedAt: Date().timeIntervalSince1970))
    }
}

extension ComputeService {
    /// A JOB_RUN this node answered, as a history entry (one part: this node's chunks).
    func served(_ run: JobWire.Run, from peer: NodeID, outcome: String, message: String?, seconds: Double) -> JobHistory.Entry {
        JobHistory.Entry(
            kind: "served", function: run.function, resource: run.resource.description, requester: peer.description,
            parts: [JobHistory.Part(node: "this node", chunks: run.chunks.count, failed: outcome == "succeeded" ? nil : message)], retried: 0,
            outcome: outcome, message: message, seconds: seconds, finishedAt: Date().timeIntervalSince1970)
    }
}
