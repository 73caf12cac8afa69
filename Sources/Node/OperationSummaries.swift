// SPDX-License-Identifier: Apache-2.0
import Compute
import Content
import DataPath
import Foundation
import Primitives
import Replication
import WorkAllocation

// What the CLI prints after a mesh put, a mesh get and a job — the same lines whether the command ran the
// operation itself or a running node ran it for the command (through the control API).

extension MeshClient.PutReport {
    public func summaryLines(budget: UInt64) -> [String] {
        var lines = ["resource \(id): \(size) bytes, \(pieceCount) piece(s)"]
        var strategy = "strategy: \(plan.strategy); \(plan.replicas) replica(s) (ideal \(plan.idealReplicas)"
        if wantedReplicas != plan.replicas { strategy += "; the budget of \(budget) credits/hour capped \(wantedReplicas)" }
        strategy += "), \(plan.copies) cop\(plan.copies == 1 ? "y" : "ies") per piece"
        if plan.dataShards > 0 { strategy += ", Reed-Solomon \(plan.dataShards)+\(plan.parityShards) per stripe" }
        lines.append(strategy + "; \(creditsPerHour) credits/hour")
        for holder in holders.sorted(by: { $0.address < $1.address }) {
            let failures = holder.failures.isEmpty ? "" : " — \(holder.failures.count) failure(s): \(holder.failures[0])"
            lines.append("  \(holder.address) (member \(String(holder.member, radix: 16))): \(holder.pieces) piece(s), \(holder.bytes) bytes\(failures)")
        }
        lines.append(String(format: "acknowledged after %.2f s (every piece durable on ≥ %d other node(s)); all pushes done after %.2f s; fewest copies of a piece: %d",
                            acknowledgedAfter ?? 0, quorum.min() ?? 0, seconds, copies.min() ?? 0))
        return lines
    }
}

extension MeshClient.GetReport {
    public func summaryLines(_ id: ContentID, output: String?) -> [String] {
        var lines: [String] = []
        for source in sources.sorted(by: { $0.address < $1.address }) {
            lines.append(String(
                format: "  source %@%@: rtt %.0f µs, load %.2f, holds %d piece(s), delivered %d", source.address, source.near ? "" : " (another region)",
                source.rttMicroseconds, source.load, source.pieces, source.served))
        }
        lines.append(String(format: "fetched %d piece(s), %d bytes from %d holder(s) in %.2f s; %d re-asked (long tail), %d of them answered first by the second holder; %d rebuilt from parity",
                            fetched, bytes, sources.count, seconds, hedged, hedgeWins, rebuilt))
        if !unreachable.isEmpty { lines.append("\(unreachable.count) piece(s) no holder had") }
        lines.append(output.map { "wrote \($0)" } ?? "stored and pinned \(id) in the local store")
        return lines
    }
}

/// A job's inputs read from the store, and its result kept there with a record of how it was made.
public enum LocalJobs {
    /// A scratch folder of this process's for a job's files.
    public static func scratch(_ prefix: String) throws -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        return scratch
    }

    /// Reads stored resources whole (verified and rebuilt from parity as `inos get` does), in order.
    public static func readInputs(_ ids: [ContentID], from data: ContentStore, scratch: String) throws -> [[UInt8]] {
        try ids.enumerated().map { index, id in
            let path = "\(scratch)/input-\(index)"
            do { _ = try data.get(id, to: path) } catch { throw InosError(.failed, "input \(id)", cause: error) }
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    /// Stores a job's result and a record of it — runner, function, parameters, input IDs, result ID and `extra`
    /// fields (JSON members) — both pinned, content-addressed, so the result can be re-checked later.
    public static func storeResult(_ result: [UInt8], runner: String, function: String, parameters: String, inputs: [ContentID], extra: String?,
                                   data: ContentStore, pins: PinSet, scratch: String) throws -> (result: ContentID, record: ContentID) {
        func storePinned(_ bytes: [UInt8], name: String) throws -> ContentID {
            let path = "\(scratch)/\(name)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            var options = ContentStore.Options()
            options.erasure = nil
            do { return try data.putPinned(file: path, pins: pins, options: options).id } catch {
                throw InosError(.failed, "storing the job's \(name)", cause: error)
            }
        }
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        let resultID = try storePinned(result, name: "result")
        let record = """
            {"runner": "\(escape(runner))", "function": "\(escape(function))", "parameters": "\(escape(parameters))", \
            "inputs": [\(inputs.map { "\"\($0)\"" }.joined(separator: ", "))], "result": "\(resultID)"\(extra.map { ", " + $0 } ?? "")}

            """
        return (resultID, try storePinned(Array(record.utf8), name: "record"))
    }
}

extension JobSubmitter.Report {
    /// The per-node lines and the summary line of a submitted job.
    public func summaryLines(function: String) -> [String] {
        var lines: [String] = []
        for part in parts.sorted(by: { $0.address < $1.address }) {
            lines.append("  \(part.address): " + (part.failed.map { "failed (\($0)); its chunks ran elsewhere" } ?? "\(part.chunks.count) chunk(s)"))
        }
        let nodes = Set(parts.filter { $0.failed == nil && !$0.chunks.isEmpty }.map(\.member)).count
        lines.append(String(format: "%@ over %@ on %d node(s) (the size tier asks for %d) in %.2f s; %d chunk(s) retried elsewhere",
                            function, resource.description, nodes, requiredNodes, seconds, retried))
        return lines
    }

    /// The record's extra fields: how the parts were reduced and where each ran.
    public func recordFields(reduce: String) -> String {
        let ran = parts.filter { $0.failed == nil }.map { "{\"node\": \"\($0.address)\", \"chunks\": \($0.chunks.sorted())}" }
        return "\"reduce\": \"\(reduce)\", \"parts\": [\(ran.joined(separator: ", "))]"
    }
}

/// Resources to and from files in IPFS' CARv1 (`inos export`, `inos import`, the API's export and import).
public enum ResourceFiles {
    /// Writes the CAR to a partial file renamed into place when whole; the root and the bytes written.
    public static func exportCAR(_ id: ContentID, from data: ContentStore, to path: String) throws -> (ContentID, UInt64) {
        let partial = path + ".inos-partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = Foundation.FileHandle(forWritingAtPath: partial) else {
            throw InosError(.io, "cannot create \(partial)")
        }
        var bytes: UInt64 = 0
        let root: ContentID
        do {
            root = try data.exportCAR(id) { chunk in
                try handle.write(contentsOf: chunk)
                bytes += UInt64(chunk.count)
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw InosError(.failed, "export of \(id)", cause: error)
        }
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: partial, toPath: path)
        return (root, bytes)
    }

    public static func importCAR(_ file: String, into data: ContentStore, pins: PinSet, erasure: (Int, Int)?) throws -> ContentStore.CARImport {
        guard let handle = Foundation.FileHandle(forReadingAtPath: file) else { throw InosError(.notFound, "cannot open \(file)") }
        defer { try? handle.close() }
        let scratch = try LocalJobs.scratch("inos-import")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            var reader = try CAR.Reader { count in Array(try handle.read(upToCount: count) ?? Data()) }
            return try data.importCAR(&reader, scratch: scratch, pins: pins, erasure: erasure)
        } catch { throw InosError(.failed, "import of \(file)", cause: error) }
    }
}
