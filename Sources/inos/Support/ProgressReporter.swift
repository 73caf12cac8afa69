// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import DataPath
import Foundation
import Replication
import Synchronization

/// How a command shows its progress on standard error.
enum ProgressMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// A one-line bar, redrawn in place.
    case text
    /// One JSON object per update (NDJSON), for scripts and UIs.
    case json
    /// Nothing.
    case none
}

/// `--progress text|json|none`, for the commands that move data (put, get, fetch, job submit).
struct ProgressOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("text (a bar), json (one object per line on stderr) or none. Default: text on a terminal, else none.", valueName: "mode"))
    var progress: ProgressMode?

    /// The mode asked for, else text when standard error is a terminal, else none.
    var mode: ProgressMode { progress ?? (isatty(STDERR_FILENO) != 0 ? .text : .none) }

    func reporter(_ operation: String) -> ProgressReporter { ProgressReporter(operation, mode: mode) }
}

/// Progress of one operation on standard error, as a bar (`text`) or as NDJSON (`json`):
///
/// ```json
/// {"op":"put","bytes_done":1048576,"bytes_total":4194304,"pieces_done":3,"pieces_total":12,"holders":3,
///  "rate_bytes_per_second":52428800,"eta_seconds":0.06,"done":false}
/// ```
///
/// At most ten updates a second, and always a final one (``finish(failed:)``, with `"done":true`). Fields the
/// operation cannot know are left out. Thread-safe: transfers report from many tasks.
final class ProgressReporter: Sendable {
    let operation: String
    let mode: ProgressMode
    private let started = sysClock()
    private let state = Mutex(State())
    /// Where lines go (standard error).
    private let output: @Sendable (String) -> Void

    private struct State {
        var latest = TransferProgress()
        var lastEmitted = -Double.infinity
        var drewBar = false
        var finished = false
    }

    /// One update as the `json` mode writes it.
    struct Record: Encodable {
        var op: String
        var bytes_done: Int?
        var bytes_total: Int?
        var pieces_done: Int?
        var pieces_total: Int?
        var holders: Int?
        var rate_bytes_per_second: Double?
        var eta_seconds: Double?
        var done: Bool
        var failed: Bool?
    }

    init(_ operation: String, mode: ProgressMode, output: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.operation = operation
        self.mode = mode
        self.output = output
    }

    /// A local put's or get's bytes.
    func update(_ progress: ContentStore.Progress) {
        update(TransferProgress(bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal))
    }

    func update(_ progress: TransferProgress) {
        guard mode != .none else { return }
        let now = sysClock()
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.latest = progress
            guard now - state.lastEmitted >= 0.1 else { return nil }
            state.lastEmitted = now
            if mode == .text { state.drewBar = true }
            return render(progress, now: now, done: false, failed: false)
        }
        if let line { output(line) }
    }

    /// The final update (`"done":true`; with `"failed":true` when the operation did not complete). Only the
    /// first call writes.
    func finish(failed: Bool = false) {
        guard mode != .none else { return }
        let now = sysClock()
        let line: String? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            if mode == .text && !state.drewBar && failed { return nil }
            return render(state.latest, now: now, done: true, failed: failed) + (mode == .text ? "\n" : "")
        }
        if let line { output(line) }
    }

    private func render(_ p: TransferProgress, now: Double, done: Bool, failed: Bool) -> String {
        let elapsed = max(now - started, 0.001)
        let rate = p.bytesDone.map { Double($0) / elapsed }
        var eta: Double?
        if let rate, rate > 0, let total = p.bytesTotal, let bytes = p.bytesDone { eta = done ? 0 : max(0, Double(total - bytes) / rate) }
        switch mode {
        case .json:
            let record = Record(
                op: operation, bytes_done: p.bytesDone, bytes_total: p.bytesTotal, pieces_done: p.piecesDone, pieces_total: p.piecesTotal,
                holders: p.holders, rate_bytes_per_second: rate.map { ($0 * 10).rounded() / 10 }, eta_seconds: eta.map { ($0 * 100).rounded() / 100 },
                done: done, failed: failed ? true : nil)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            guard let data = try? encoder.encode(record) else { return "" }
            return String(decoding: data, as: UTF8.self) + "\n"
        case .text, .none:
            let fraction: Double
            if let total = p.bytesTotal, let bytes = p.bytesDone {
                fraction = total == 0 ? 1 : Double(bytes) / Double(total)
            } else if let total = p.piecesTotal, let pieces = p.piecesDone {
                fraction = total == 0 ? 1 : Double(pieces) / Double(total)
            } else {
                fraction = done ? 1 : 0
            }
            let filled = Int(min(1, max(0, fraction)) * 30)
            var line = "\r\(operation) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 30 - filled))] \(Int(fraction * 100))%"
            if let bytes = p.bytesDone, let total = p.bytesTotal { line += " \(bytes >> 20)/\(total >> 20) MiB" }
            if let pieces = p.piecesDone, let total = p.piecesTotal { line += " \(pieces)/\(total) pieces" }
            if let holders = p.holders { line += " \(holders) node(s)" }
            if let rate { line += String(format: " %.0f MB/s", rate / 1e6) }
            if failed { line += " failed" }
            return line
        }
    }
}
