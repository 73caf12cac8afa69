// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Wire

extension FrameType {
    /// CHUNK_GET asks for the stored form of an object by key; CHUNK_DATA answers with it, CHUNK_MISSING without.
    public static let chunkGet = FrameType(rawValue: 0x30)
    public static let chunkData = FrameType(rawValue: 0x31)
    public static let chunkMissing = FrameType(rawValue: 0x32)
}

/// Serves and fetches chunks: CHUNK_GET is answered in the bulk lane from the node's ``ChunkSource``; an answer
/// is checked against the key asked for on arrival, and only the chunk's bytes are copied out of the arena block.
final class ChunkService: Sendable {
    /// Serves chunk requests: the stored form of the object with that key, or nil.
    typealias ChunkSource = @Sendable ([UInt8]) -> [UInt8]?

    private let layer: PeerLayer
    private let source: ChunkSource?
    /// Told the key of every chunk request served (replication counts demand by it).
    private let servedObservers = Mutex<[@Sendable ([UInt8]) -> Void]>([])
    private let served = Atomic<UInt64>(0)
    private let servedBytes = Atomic<UInt64>(0)
    private let missing = Atomic<UInt64>(0)

    init(layer: PeerLayer, source: ChunkSource?) {
        self.layer = layer
        self.source = source
    }

    var registrations: [FrameRegistration] {
        [
            FrameRegistration(.chunkGet, "CHUNK_GET", owner: "chunks", kind: .request, lane: .bulk) { [self] frame throws(MeshError) in
                let key: [UInt8]
                do throws(WireError) { key = try WirePayload.splitKey(frame.payload).key } catch { throw MeshError(.malformed, error.message, cause: error) }
                serve(key, id: frame.requestID, on: frame.connection)
            },
            .response(.chunkData, "CHUNK_DATA", owner: "chunks"),
            .response(.chunkMissing, "CHUNK_MISSING", owner: "chunks"),
        ]
    }

    /// Calls `observer` with the key of every chunk request this node serves, before it is read.
    func onServed(_ observer: @escaping @Sendable ([UInt8]) -> Void) { servedObservers.withLock { $0.append(observer) } }

    /// Forgets the observers (a stopped node): they capture the services above, which hold this node.
    func dropObservers() { servedObservers.withLock { $0.removeAll() } }

    /// Chunk requests answered with the chunk, with its stored bytes, and answered "missing".
    var servedCounts: (served: UInt64, bytes: UInt64, missing: UInt64) {
        (served.load(ordering: .relaxed), servedBytes.load(ordering: .relaxed), missing.load(ordering: .relaxed))
    }

    private func serve(_ key: [UInt8], id: UInt64, on connection: UInt64) {
        for observer in servedObservers.withLock({ $0 }) { observer(key) }
        let prefix = [UInt8(key.count)] + key
        prefix.withUnsafeBytes { head in
            if let data = source?(key) {
                served.add(1, ordering: .relaxed)
                servedBytes.add(UInt64(data.count), ordering: .relaxed)
                data.withUnsafeBytes { body in try? layer.send(.chunkData, requestID: id, parts: [head, body], on: connection) }
            } else {
                missing.add(1, ordering: .relaxed)
                try? layer.send(.chunkMissing, requestID: id, parts: [head], on: connection)
            }
        }
    }

    /// Asks a peer for the stored form of an object; nil when the peer does not have it.
    func fetch(_ key: [UInt8], from connection: UInt64, timeout: Double) throws(MeshError) -> [UInt8]? {
        try Self.chunk(in: try layer.request(.chunkGet, payload: WirePayload.key(key), on: connection, timeout: timeout, key: key))
    }

    func fetch(_ key: [UInt8], from connection: UInt64, timeout: Double) async throws(MeshError) -> [UInt8]? {
        try Self.chunk(in: try await layer.request(.chunkGet, payload: WirePayload.key(key), on: connection, timeout: timeout, key: key))
    }

    /// Asks a peer for the stored form of an object and calls `body` with it where it arrived (the arena block:
    /// no copy); nil when the peer does not have it.
    func fetch<R>(_ key: [UInt8], from connection: UInt64, timeout: Double, _ body: (UnsafeRawBufferPointer) -> R) async throws(MeshError) -> R? {
        let answer = try await layer.requestInPlace(.chunkGet, payload: WirePayload.key(key), on: connection, timeout: timeout, key: key)
        switch answer.type {
        case .chunkData: return answer.withPayload(body)  // the key was checked on arrival; the payload is the chunk
        case .chunkMissing: return nil
        default: throw MeshError(.unexpected, "unexpected answer \(answer.type) to a chunk request")
        }
    }

    private static func chunk(in answer: WireMessage) throws(MeshError) -> [UInt8]? {
        switch answer.header.type {
        case .chunkData: return answer.payload  // the key was checked on arrival; the payload is the chunk
        case .chunkMissing: return nil
        default: throw MeshError(.unexpected, "unexpected answer \(answer.header.type) to a chunk request")
        }
    }
}
