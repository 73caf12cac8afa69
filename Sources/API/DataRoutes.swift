// SPDX-License-Identifier: Apache-2.0
import APIModel
import Content
import DataPath
import Foundation
import Hummingbird
import NIOCore
import Node
import Primitives
import Replication
import Synchronization

/// `put`, `get`, `verify` and pins through the running node (the node owns the store: a CLI that opened it
/// beside the node would race it). Paths are the node's: absolute, on this machine — the API is this user's
/// Unix socket (over TCP the node reads and writes its own files, which its token holder may then ask for).
enum DataRoutes {
    static func register(_ v1: RouterGroup<BasicRequestContext>, _ state: ControlState) {
        v1.post("put") { request, context in
            let body = try await Routes.decode(PutRequest.self, request, context)
            let (store, pins) = try storeAndPins(state)
            guard body.path.hasPrefix("/") else { throw APIFailure(InosError(.invalidArgument, "path \(body.path) must be absolute (the node resolves no working directory)")) }
            var options = ContentStore.Options()
            guard (1...65_536).contains(body.chunkKib) else { throw APIFailure(InosError(.invalidArgument, "chunk_kib \(body.chunkKib) must be 1…65536")) }
            options.chunkSize = body.chunkKib << 10
            if let parity = body.parity {
                let parts = parity.split(separator: "+").compactMap { Int($0) }
                guard parts.count == 2, (1...128).contains(parts[0]), (1...128).contains(parts[1]) else {
                    throw APIFailure(InosError(.invalidArgument, "parity \(parity) must look like 10+2"))
                }
                options.erasure = (parts[0], parts[1])
            } else {
                options.erasure = nil
            }
            let chosen = options
            return blocking("put", state) { progress throws -> PutResult in
                let report: ContentStore.PutReport
                do { report = try store.putPinned(file: body.path, pins: pins, options: chosen, progress: progress) } catch { throw APIFailure(error) }
                state.node.peers?.announceNow(Array(report.id.bytes.suffix(32)))
                let manifest = report.manifest
                return PutResult(
                    id: report.id.description, size: manifest?.size ?? UInt64(report.bytesStored), chunks: manifest?.chunks.count ?? 1,
                    bytesStored: UInt64(report.bytesStored),
                    stripes: manifest?.erasure.map { "\($0.stripeCount) stripes of \($0.dataShards)+\($0.parityShards)" })
            }
        }
        v1.post("get") { request, context in
            let body = try await Routes.decode(GetRequest.self, request, context)
            let (store, _) = try storeAndPins(state)
            let id = try contentID(body.id)
            guard body.output.hasPrefix("/") else { throw APIFailure(InosError(.invalidArgument, "output \(body.output) must be absolute")) }
            return blocking("get", state) { progress throws -> GetResult in
                let report: ContentStore.GetReport
                do { report = try store.get(id, to: body.output, progress: progress) } catch { throw APIFailure(error) }
                return GetResult(id: id.description, size: UInt64(report.size), output: body.output, rebuiltChunks: report.repaired.count)
            }
        }
        v1.post("verify") { request, context in
            let body = try await Routes.decode(VerifyRequest.self, request, context)
            let (store, _) = try storeAndPins(state)
            let id = try contentID(body.id)
            let report = try await state.offload("verify") { () throws -> ContentStore.VerifyReport in
                do { return try store.verify(id, repair: body.repair) } catch { throw APIFailure(error) }
            }
            return try Routes.json(
                VerifyResult(
                    id: id.description, chunks: report.chunks, parityShards: report.parityShards, damaged: report.damaged.map(\.description),
                    lost: report.lost.map(\.description), repaired: report.repaired.map(\.description), repairable: report.repairable.map(\.description),
                    healthy: report.isHealthy))
        }
        v1.get("pins") { _, _ in
            let (_, pins) = try storeAndPins(state)
            return try Routes.json(pins.pinned.map(\.description))
        }
        v1.post("pins") { request, context in
            let body = try await Routes.decode(PinRequest.self, request, context)
            let (_, pins) = try storeAndPins(state)
            let id = try contentID(body.id)
            // Under the pins' lock: an eviction deciding what no pinned resource needs is not in the middle of it.
            do { try pins.withLock(exclusive: false) { () throws(DataPathError) in try pins.pin(id) } } catch { throw APIFailure(error) }
            state.node.peers?.announceNow(Array(id.bytes.suffix(32)))
            return try Routes.json(Acknowledged(message: "pinned \(id)"))
        }
        v1.delete("pins/:id") { _, context in
            let (_, pins) = try storeAndPins(state)
            let id = try contentID(context.parameters.get("id") ?? "")
            guard pins.unpin(id) else { throw APIFailure(InosError(.notFound, "\(id) was not pinned")) }
            return try Routes.json(Acknowledged(message: "unpinned \(id); run inos gc to free its space"))
        }
    }

    /// `GET /v1/resources/{id}`, `POST /v1/export`, `POST /v1/import`: a resource's facts with its IPFS CID,
    /// and CARv1 files to and from the store.
    static func registerResources(_ v1: RouterGroup<BasicRequestContext>, _ state: ControlState) {
        @Sendable func report(_ id: ContentID, _ store: ContentStore, _ pins: PinSet) throws -> ResourceReport {
            let manifest = try store.manifest(for: id)
            let layout = try store.ipfsLayout(of: id)
            return ResourceReport(
                id: id.description, ipfsCid: layout.root.description, size: layout.size, chunks: manifest?.chunks.count ?? 1,
                chunkSize: manifest?.chunkSize ?? layout.size, parity: manifest?.erasure.map { "\($0.dataShards)+\($0.parityShards)" },
                pinned: pins.isPinned(id))
        }
        v1.get("resources/:id") { _, context in
            let (store, pins) = try storeAndPins(state)
            let id = try contentID(context.parameters.get("id") ?? "")
            let answer = try await state.offload("resource") { () throws -> ResourceReport in
                do { return try report(id, store, pins) } catch { throw APIFailure(error) }
            }
            return try Routes.json(answer)
        }
        /// The pinned resources (the first 1,000), each with its IPFS CID.
        v1.get("resources") { _, _ in
            let (store, pins) = try storeAndPins(state)
            let answer = try await state.offload("resources") { () throws -> [ResourceReport] in
                pins.pinned.prefix(1000).compactMap { try? report($0, store, pins) }
            }
            return try Routes.json(answer)
        }
        v1.post("export") { request, context in
            let body = try await Routes.decode(ExportRequest.self, request, context)
            let (store, _) = try storeAndPins(state)
            let id = try contentID(body.id)
            guard body.car.hasPrefix("/") else { throw APIFailure(InosError(.invalidArgument, "car \(body.car) must be absolute")) }
            let (root, bytes) = try await state.offload("export") { () throws -> (ContentID, UInt64) in
                do { return try ResourceFiles.exportCAR(id, from: store, to: body.car) } catch { throw APIFailure(error) }
            }
            return try Routes.json(ExportResult(ipfsCid: root.description, bytes: bytes))
        }
        v1.post("import") { request, context in
            let body = try await Routes.decode(ImportRequest.self, request, context)
            let (store, pins) = try storeAndPins(state)
            guard body.path.hasPrefix("/") else { throw APIFailure(InosError(.invalidArgument, "path \(body.path) must be absolute")) }
            var erasure: (Int, Int)?
            if let parity = body.parity {
                let parts = parity.split(separator: "+").compactMap { Int($0) }
                guard parts.count == 2, (1...128).contains(parts[0]), (1...128).contains(parts[1]) else {
                    throw APIFailure(InosError(.invalidArgument, "parity \(parity) must look like 10+2"))
                }
                erasure = (parts[0], parts[1])
            }
            let chosen = erasure
            let imported = try await state.offload("import") { () throws -> ContentStore.CARImport in
                do { return try ResourceFiles.importCAR(body.path, into: store, pins: pins, erasure: chosen) } catch { throw APIFailure(error) }
            }
            state.node.peers?.announceNow(Array(imported.id.bytes.suffix(32)))
            return try Routes.json(
                CARImportResult(
                    id: imported.id.description, archiveRoot: imported.archiveRoot.description, storedRoot: imported.storedRoot.description, size: imported.size,
                    blocks: imported.blocks))
        }
    }

    static func storeAndPins(_ state: ControlState) throws -> (ContentStore, PinSet) {
        guard let store = state.node.store else { throw APIFailure(InosError(.unavailable, "this node has no store plugin (slot \"store\")")) }
        guard let pins = state.pins else { throw APIFailure(InosError(.unavailable, "cannot open the pins of \(state.node.configuration.dataDirectory)")) }
        return (store, pins)
    }

    static func contentID(_ text: String) throws -> ContentID {
        do { return try ContentID(text) } catch { throw APIFailure(InosError(.invalidArgument, "\(text) is not a content ID: \(error.description)")) }
    }

    /// ``streamed(_:_:_:)`` for blocking store work (put, get): on a thread of its own, its byte progress.
    private static func blocking<R: Codable & Sendable>(
        _ op: String, _ state: ControlState, _ work: @escaping @Sendable (_ progress: (ContentStore.Progress) -> Void) throws -> R
    ) -> Response {
        streamed(op, state) { progress in
            try await ControlState.onThread(op) {
                try work { done in progress(TransferProgress(bytesDone: done.bytesDone, bytesTotal: done.bytesTotal)) }
            }
        }
    }

    /// Runs `work` as an admitted data operation and answers NDJSON: progress lines (at most ten a second; the
    /// newest wins when the client reads slower), then the one `result` or `error` line.
    static func streamed<R: Codable & Sendable>(
        _ op: String, _ state: ControlState, _ work: @escaping @Sendable (_ progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> R
    ) -> Response {
        let (stream, continuation) = AsyncStream<APIModel.Progress>.makeStream(bufferingPolicy: .bufferingNewest(4))
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                let started = ContinuousClock.now
                let lastSent = Mutex<ContinuousClock.Instant?>(nil)
                let report: @Sendable (TransferProgress) -> Void = { done in
                    let now = ContinuousClock.now
                    let complete = done.bytesTotal != nil && done.bytesDone == done.bytesTotal
                    let due = lastSent.withLock { last -> Bool in
                        guard complete || last.map({ now - $0 >= .milliseconds(100) }) ?? true else { return false }
                        last = now
                        return true
                    }
                    if due { continuation.yield(progress(op, done, since: started, now: now)) }
                }
                async let outcome: Result<R, any Error> = {
                    defer { continuation.finish() }
                    do { return .success(try await state.admitted { try await work(report) }) } catch { return .failure(error) }
                }()
                for await update in stream { try await writer.write(line(StreamEvent<R>(progress: update))) }
                switch await outcome {
                case .success(let result): try await writer.write(line(StreamEvent<R>(result: result)))
                case .failure(let error): try await writer.write(line(StreamEvent<R>(error: APIFailure(error).body.error)))
                }
                try await writer.finish(nil)
            })
    }

    private static func progress(_ op: String, _ done: TransferProgress, since started: ContinuousClock.Instant, now: ContinuousClock.Instant) -> APIModel.Progress {
        let elapsed = now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = done.bytesDone.flatMap { seconds > 0 ? Double($0) / seconds : nil }
        var eta: Double?
        if let rate, rate > 0, let total = done.bytesTotal, let bytes = done.bytesDone { eta = Double(max(0, total - bytes)) / rate }
        let complete = done.bytesTotal.map { total in (done.bytesDone ?? 0) >= total } ?? false
        return APIModel.Progress(
            op: op, bytesDone: done.bytesDone.map { UInt64(max(0, $0)) }, bytesTotal: done.bytesTotal.map { UInt64(max(0, $0)) }, piecesDone: done.piecesDone,
            piecesTotal: done.piecesTotal, holders: done.holders, rateBytesPerSecond: rate, etaSeconds: eta, done: complete)
    }

    private static func line(_ value: some Encodable) -> ByteBuffer {
        var bytes = (try? API.encoder.encode(value)) ?? Data()
        bytes.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: bytes)
    }
}
