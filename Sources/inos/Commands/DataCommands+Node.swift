// SPDX-License-Identifier: Apache-2.0
import APIClient
import APIModel
import ArgumentParser
import Foundation
import Primitives
import Replication

// put, get, verify, pin and unpin through the node that runs on the data directory (it owns the store; opening
// it beside the node would race it). The node reads and writes the files: paths go absolute.

extension StoreOptions {
    /// The node running on this data directory, if any. A manifest of its own names a store elsewhere: then the
    /// command works on that store itself.
    func runningNode() throws -> APIClient? {
        guard manifest == nil else { return nil }
        return try inos.runningNode(dataDirectory: dataDir)
    }
}

func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}

/// Runs a streamed data operation on the node: progress lines to `bar`, the result returned, an error thrown.
func streamedCall<Result: Codable & Sendable>(
    _ client: APIClient, _ path: String, _ body: some Encodable, bar: ProgressReporter, as: Result.Type
) async throws -> Result {
    let outcome = LockedBox<StreamEvent<Result>?>(nil)
    let bytes = Array(try API.encoder.encode(body))
    try await client.stream(.POST, path, body: bytes) { line in
        let event = try API.decoder.decode(StreamEvent<Result>.self, from: Data(line))
        if let progress = event.progress {
            bar.update(TransferProgress(
                bytesDone: progress.bytesDone.map { Int(clamping: $0) }, bytesTotal: progress.bytesTotal.map { Int(clamping: $0) }, piecesDone: progress.piecesDone,
                piecesTotal: progress.piecesTotal, holders: progress.holders))
        } else {
            outcome.set(event)
        }
    }
    guard let event = outcome.get() else { throw InosError(.closed, "the node ended \(path) without a result") }
    if let error = event.error {
        throw InosError(APIClient.code(error.code), error.message + (error.causes.map { $0.isEmpty ? "" : " (" + $0.joined(separator: "; ") + ")" } ?? ""))
    }
    guard let result = event.result else { throw InosError(.malformed, "the node's last line for \(path) has neither result nor error") }
    return result
}

final class LockedBox<Value: Sendable>: @unchecked Sendable {  // `value` only under `lock`
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ new: Value) {
        lock.lock()
        value = new
        lock.unlock()
    }
    func get() -> Value {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

extension Put {
    func putThroughNode(_ client: APIClient) async throws {
        let bar = progress.reporter("put")
        defer { bar.finish(failed: true) }
        let result = try await streamedCall(
            client, "/v1/put", PutRequest(path: absolutePath(file), parity: parity == "none" ? nil : parity, chunkKib: chunkKib), bar: bar, as: PutResult.self)
        bar.finish()
        let stripes = result.stripes.map { " in \($0)" } ?? ""
        FileHandle.standardError.write(Data("stored \(result.size) bytes as \(result.chunks) chunks\(stripes); \(result.bytesStored) bytes on disk (by the running node)\n".utf8))
        print(result.id)
    }
}

extension Get {
    func getThroughNode(_ client: APIClient, output: String) async throws {
        let bar = progress.reporter("get")
        defer { bar.finish(failed: true) }
        let result = try await streamedCall(client, "/v1/get", GetRequest(id: id, output: absolutePath(output)), bar: bar, as: GetResult.self)
        bar.finish()
        if result.rebuiltChunks > 0 {
            FileHandle.standardError.write(Data("rebuilt \(result.rebuiltChunks) missing or corrupt chunk(s) from parity and stored them again\n".utf8))
        }
        FileHandle.standardError.write(Data("wrote \(result.size) bytes to \(output) (by the running node)\n".utf8))
    }
}

/// Writes a job's output (to `output`, else standard output) and names the stored result and record.
func writeJobResult(_ result: JobResult, output: String?) throws {
    guard let bytes = Data(base64Encoded: result.outputBase64) else { throw InosError(.malformed, "the node's job output is not base64") }
    if let output { try bytes.write(to: URL(fileURLWithPath: output)) } else { FileHandle.standardOutput.write(bytes) }
    let lines = result.summary + ["result \(result.resultId) (\(bytes.count) bytes); job record \(result.recordId) (by the running node)"]
    FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}
