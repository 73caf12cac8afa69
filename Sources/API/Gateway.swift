// SPDX-License-Identifier: Apache-2.0
import APIModel
import Content
import DataPath
import Foundation
import Hummingbird
import HummingbirdCore
import HTTPTypes
import Mesh
import Node
import Primitives
import Prometheus
import Replication
import Synchronization

/// The read-only HTTP content gateway (issue 17, docs/api.md "Gateway"): `GET`/`HEAD /ipfs/{id}` for resource
/// and chunk IDs, streamed chunk by chunk from the local store — a chunk this node lacks is fetched from a holder
/// the DHT names and checked against its ID before a byte of it is sent. `Range` (one range) reads only the
/// chunks it covers; `?format=raw` answers a chunk's bytes, `?format=car` the resource's CARv1.
///
/// Off unless `--gateway-listen` is given; it may bind a wider address than the API, as it changes nothing.
/// Bounded: at most ``requestLimit`` requests at once (503 past it), one chunk in memory per request.
enum Gateway {
    static let requestLimit = 16
    /// Chunks one answer reads or fetches ahead of the one it sends (so memory stays ≤ 4 chunks per request).
    static let readAhead = 4

    static func router(_ state: ControlState) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        let limiter = Limiter(limit: requestLimit)
        for method in [HTTPRequest.Method.get, .head] {
            router.on("ipfs/:id", method: method) { request, context in
                let started = ContinuousClock.now
                var status = 500
                defer { state.metrics.gatewayRequest(route: "ipfs", method: method == .head ? "HEAD" : "GET", status: status, since: started) }
                guard limiter.enter() else {
                    status = 503
                    throw APIFailure(InosError(.unavailable, "\(requestLimit) gateway requests already run on this node; retry shortly"), status: .serviceUnavailable)
                }
                do {
                    let response = try await serve(request, context, state, head: method == .head) { limiter.leave() }
                    status = Int(response.status.code)
                    return response
                } catch {
                    limiter.leave()
                    status = Int(APIFailure(error).status.code)
                    throw error
                }
            }
        }
        return router
    }

    /// Requests in flight, bounded.
    final class Limiter: Sendable {
        let limit: Int
        private let count = Atomic<Int>(0)
        init(limit: Int) { self.limit = limit }
        func enter() -> Bool {
            guard count.add(1, ordering: .relaxed).newValue <= limit else {
                count.subtract(1, ordering: .relaxed)
                return false
            }
            return true
        }
        func leave() { count.subtract(1, ordering: .relaxed) }
    }

    private static func serve(
        _ request: Request, _ context: BasicRequestContext, _ state: ControlState, head: Bool, done: @escaping @Sendable () -> Void
    ) async throws -> Response {
        guard let store = state.node.store else { throw APIFailure(InosError(.unavailable, "this node has no store plugin")) }
        let text = context.parameters.get("id") ?? ""
        let id: ContentID
        do { id = try ContentID(text) } catch { throw APIFailure(InosError(.invalidArgument, "\(text) is not a content ID: \(error.description)")) }
        let source = ChunkSource(state: state, store: store, resource: id)
        let format = request.uri.queryParameters.get("format")
        let etag = "\"\(id)\""
        var headers: HTTPFields = [.eTag: etag, .acceptRanges: "bytes", .cacheControl: "public, max-age=29030400, immutable"]
        headers[HTTPField.Name("X-Ipfs-Path")!] = "/ipfs/\(id)"
        if request.headers[.ifNoneMatch] == etag {
            done()
            return Response(status: .notModified, headers: headers)
        }
        switch format {
        case "car":
            let layout = try await source.layout()
            headers[.contentType] = "application/vnd.ipld.car; version=1"
            headers[HTTPField.Name("X-Ipfs-Roots")!] = layout.root.description
            if head {
                done()
                return Response(status: .ok, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { done() }
                try await writer.write(ByteBuffer(bytes: CAR.header(roots: [layout.root])))
                let nodes = Dictionary(layout.nodes.map { ($0.id, $0.bytes) }, uniquingKeysWith: { a, _ in a })
                for block in layout.exportOrder() {
                    let data: [UInt8]
                    if let node = nodes[block] { data = node } else { data = try await source.content(of: block) }
                    let section = CAR.section(block, length: data.count)
                    try await writer.write(ByteBuffer(bytes: section.prefix + section.cid))
                    try await writer.write(ByteBuffer(bytes: data))
                }
                try await writer.finish(nil)
            })
        case "raw":
            guard id.codec == .raw else { throw APIFailure(InosError(.invalidArgument, "?format=raw answers a chunk (bafkrei…); \(id) is a resource")) }
            let data = try await source.content(of: id)
            done()
            headers[.contentType] = "application/vnd.ipld.raw"
            headers[.contentLength] = "\(data.count)"
            return Response(status: .ok, headers: headers, body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        case nil:
            break
        default:
            throw APIFailure(InosError(.invalidArgument, "format \(format!) is not one of raw, car"))
        }
        let chunks = try await source.chunks()
        let size = chunks.reduce(UInt64(0)) { $0 + $1.length }
        headers[.contentType] = "application/octet-stream"
        // The CID IPFS gives the same bytes, beside the INOS ID.
        headers[HTTPField.Name("X-Ipfs-Roots")!] = UnixFS.layout(chunks.map { UnixFS.Leaf(id: $0.id, size: $0.length) }).root.description
        var range: ClosedRange<UInt64>? = nil
        if let header = request.headers[.range] {
            switch parseRange(header, size: size) {
            case .whole: break
            case .range(let r): range = r
            case .unsatisfiable:
                done()
                headers[.contentRange] = "bytes */\(size)"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            }
        }
        let wanted = range ?? (size == 0 ? nil : 0...(size - 1))
        headers[.contentLength] = "\(wanted.map { $0.upperBound - $0.lowerBound + 1 } ?? 0)"
        if let range { headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)" }
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        guard !head, let wanted else {
            done()
            return Response(status: status, headers: headers)
        }
        // The first chunk the answer needs is read (or fetched) before the answer starts, so a resource no holder
        // delivers is a clear error, not a cut-off body; the rest as the body streams (a holder that fails then
        // ends the body early, and the client sees fewer bytes than Content-Length).
        var offset: UInt64 = 0
        var first: (index: Int, data: [UInt8])?
        for (index, chunk) in chunks.enumerated() {
            defer { offset += chunk.length }
            guard offset + chunk.length > wanted.lowerBound else { continue }
            do { first = (index, try await source.content(of: chunk.id, length: chunk.length, piece: index)) } catch {
                done()
                throw error
            }
            break
        }
        let prefetched = first
        // The chunks the answer covers, with their place in the resource.
        var spans: [(index: Int, chunk: ResourceManifest.Chunk, start: UInt64)] = []
        var place: UInt64 = 0
        for (index, chunk) in chunks.enumerated() {
            if place + chunk.length > wanted.lowerBound && place <= wanted.upperBound { spans.append((index, chunk, place)) }
            place += chunk.length
        }
        let covered = spans
        let window = Self.readAhead
        return Response(status: status, headers: headers, body: ResponseBody { writer in
            defer { done() }
            // Up to `readAhead` chunks read or fetched ahead of the one being sent, spread over the holders.
            var ahead: [Task<[UInt8], any Error>] = []
            var next = 0
            defer { for task in ahead { task.cancel() } }
            func refill() {
                while ahead.count < window, next < covered.count {
                    let item = covered[next]
                    next += 1
                    if item.index == prefetched?.index, let data = prefetched?.data {
                        ahead.append(Task { data })
                    } else {
                        ahead.append(Task { try await source.content(of: item.chunk.id, length: item.chunk.length, piece: item.index, spread: item.index) })
                    }
                }
            }
            for item in covered {
                refill()
                let data = try await ahead.removeFirst().value
                let start = item.start, end = item.start + item.chunk.length
                let from = Int(max(wanted.lowerBound, start) - start), to = Int(min(wanted.upperBound + 1, end) - start)
                try await writer.write(ByteBuffer(bytes: data[from..<to]))
                state.metrics.gatewayBytes(UInt64(to - from))
            }
            try await writer.finish(nil)
        })
    }

    enum RangeRequest: Equatable { case whole, range(ClosedRange<UInt64>), unsatisfiable }

    /// One `bytes=` range (`a-b`, `a-`, `-n`); several ranges, or another unit, are answered whole (RFC 9110
    /// lets a server ignore Range).
    static func parseRange(_ header: String, size: UInt64) -> RangeRequest {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let parts = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return .whole }
        if parts[0].isEmpty {  // the last n bytes
            guard let suffix = UInt64(parts[1]) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range((size - min(suffix, size))...(size - 1))
        }
        guard let first = UInt64(parts[0]) else { return .whole }
        var last = size == 0 ? 0 : size - 1
        if !parts[1].isEmpty {
            guard let given = UInt64(parts[1]), given >= first else { return .whole }
            last = min(given, last)
        }
        guard first < size else { return .unsatisfiable }
        return .range(first...last)
    }
}

/// Where the gateway reads a resource: the node's store, and — for what it lacks — the holders the DHT names,
/// each piece checked against its ID on arrival (`fetchVerified`) and kept in the store (unpinned: a
/// later garbage collection may drop it).
final class ChunkSource: Sendable {
    let state: ControlState
    let store: ContentStore
    let resource: ContentID
    /// The resource's holders and edge caches, found once per request (the DHT's provider records), ranked by
    /// ``HolderRoute``'s rule, with what each said it holds.
    private let holders = Mutex<[Holder]?>(nil)
    /// A single-chunk resource's bytes, read once by ``chunks()`` for the answer's body.
    private let single = Mutex<[UInt8]?>(nil)

    struct Holder: Sendable {
        var connection: UInt64
        var route: HolderRoute
        /// Which pieces it holds (HAVE), nil when it did not say: it is asked for any.
        var pieces: [Bool]?

        func has(_ piece: Int?) -> Bool {
            guard let piece, let pieces else { return true }
            return piece < pieces.count && pieces[piece]
        }
    }

    init(state: ControlState, store: ContentStore, resource: ContentID) {
        self.state = state
        self.store = store
        self.resource = resource
    }

    func chunks() async throws -> [ResourceManifest.Chunk] {
        if resource.codec == .raw {
            let data = try await content(of: resource)
            // The body's read of it takes these bytes: one read of the store (and of the cache), not two.
            single.withLock { $0 = data }
            return [ResourceManifest.Chunk(id: resource, length: UInt64(data.count), encoding: .raw, storedLength: UInt64(data.count))]
        }
        guard resource.codec == .manifest else { throw APIFailure(InosError(.invalidArgument, "\(resource) is neither a resource nor a chunk ID")) }
        return try await manifest().chunks
    }

    func layout() async throws -> UnixFS.Layout {
        UnixFS.layout(try await chunks().map { UnixFS.Leaf(id: $0.id, size: $0.length) })
    }

    func manifest() async throws -> ResourceManifest {
        let started = state.node.clockNanoseconds()
        if store.contains(resource), let manifest = try? store.manifest(for: resource) {
            state.node.cache?.served(resource, nanoseconds: state.node.clockNanoseconds() &- started)
            return manifest
        }
        let (stored, near) = try await fetch(resource, length: nil)
        do {
            guard let manifest = try store.manifest(for: resource) else { throw InosError(.notFound, "\(resource) has no manifest") }
            state.node.cache?.fetched(resource, bytes: UInt64(stored), nanoseconds: state.node.clockNanoseconds() &- started, root: true, near: near)
            return manifest
        } catch { throw APIFailure(error) }
    }

    /// A chunk's bytes, verified: from the store, else fetched from a holder of piece `piece` (its index in the
    /// manifest, when known). `spread` picks which of the best-ranked holders is asked first, so a window of
    /// fetches spreads over them.
    func content(of id: ContentID, length: UInt64? = nil, piece: Int? = nil, spread: Int = 0) async throws -> [UInt8] {
        if id == resource, let data = single.withLock({ $0.take() }) { return data }
        let read: @Sendable () throws -> [UInt8]? = { [store] in
            let chunk = ResourceManifest.Chunk(id: id, length: length ?? UInt64(Int32.max), encoding: .raw, storedLength: 0)
            guard let content = try store.chunkContent(chunk), ContentID(hashing: content) == id else { return nil }
            return content
        }
        let started = state.node.clockNanoseconds()
        if let local = try await ControlState.onThread("gateway", read) {
            state.node.cache?.served(id, contentBytes: UInt64(local.count), nanoseconds: state.node.clockNanoseconds() &- started)
            // The root lives as long as its chunks are read (a cache record without its manifest serves nothing).
            if id != resource, resource.codec == .manifest { state.node.cache?.touch(resource) }
            return local
        }
        let (stored, near) = try await fetch(id, length: length, piece: piece, spread: spread)
        guard let fetched = try await ControlState.onThread("gateway", read) else {
            throw APIFailure(InosError(.corrupt, "chunk \(id) arrived but does not read back whole"), status: .badGateway)
        }
        // Read back first: the cache's bound may evict what it just took (an object larger than the whole cache).
        state.node.cache?.fetched(
            id, bytes: UInt64(stored), contentBytes: UInt64(fetched.count), nanoseconds: state.node.clockNanoseconds() &- started,
            root: id == resource, near: near)
        return fetched
    }

    /// Fetches `id` into the store from the holders of the resource; returns its stored length (the caller hands
    /// it to the node's edge cache once it read it back) and whether the holder that delivered is near.
    private func fetch(_ id: ContentID, length: UInt64?, piece: Int? = nil, spread: Int = 0) async throws -> (stored: Int, near: Bool) {
        guard let peers = state.node.peers else {
            throw APIFailure(InosError(.notFound, "\(id) is not in this node's store, and the node has no peer layer to fetch it"), status: .notFound)
        }
        let order = Self.order(try await findHolders(peers), piece: piece, spread: spread)
        guard let (stored, source) = await peers.fetchVerifiedSource(id, into: store, from: order.map(\.connection), durable: true, length: length) else {
            // The holders may have changed: look them up again next time.
            holders.withLock { $0 = nil }
            throw APIFailure(InosError(.unavailable, "none of the \(order.count) holder(s) of \(resource) delivered \(id) intact"), status: .badGateway)
        }
        // Those asked before it failed this chunk (gone, slow past the timeout, or a cache that lied): last from now on.
        let failed = Set(order.prefix(source).map(\.route.member))
        if !failed.isEmpty {
            holders.withLock { known in
                guard let list = known else { return }
                known = list.filter { !failed.contains($0.route.member) } + list.filter { failed.contains($0.route.member) }.map { holder in
                    var demoted = holder
                    demoted.pieces = []  // asked only when nobody else has a piece
                    return demoted
                }
            }
        }
        if id != resource, resource.codec == .manifest { state.node.cache?.touch(resource) }
        // Counted as a read inside the region only when this node names one (without, every holder is "near").
        return (stored, order[source].route.near && !peers.region.isEmpty)
    }

    /// Who is asked for piece `piece`, in order: those that hold it before those that said they do not (a HAVE
    /// may be stale); among the holders, the best tier of ``HolderRoute`` (healthy and near, healthy, any) with
    /// the fetch's `spread` rotating the first asked within it, then the rest in rank order.
    static func order(_ holders: [Holder], piece: Int?, spread: Int) -> [Holder] {
        let having = holders.filter { $0.has(piece) }, lacking = holders.filter { !$0.has(piece) }
        guard let best = having.first?.route else { return lacking }
        let tier = having.prefix { $0.route.overloaded == best.overloaded && $0.route.near == best.near }
        let first = tier.isEmpty ? 0 : spread % tier.count
        return Array(tier[first...] + tier[..<first]) + having.dropFirst(tier.count) + lacking
    }

    /// The resource's holders (provider records) and edge caches (records under its cache key), from this
    /// node's DHT share or asked of the members; with sessions, ranked, and — for a resource of several
    /// pieces — asked once which pieces each holds (a hub holds a subset, a cache what was read).
    private func findHolders(_ peers: PeerManager) async throws -> [Holder] {
        if let known = holders.withLock({ $0 }), !known.isEmpty { return known }
        let key = Array(resource.bytes.suffix(32))
        var records: [ProviderRecord] = []
        for kind in [ProviderRecord.Kind.holder, .cache] {
            let recordKey = kind.recordKey(key)
            var found = peers.localProviders(recordKey)
            if found.isEmpty {
                // A recursive ask gathers from the members closest to the key. Holders are asked of member after
                // member until one names some; caches may well be none, so the first member that answers decides.
                for member in peers.memberList() where member.member != peers.memberID {
                    guard let connection = peers.session(with: member.member),
                        let answer = try? await peers.findProviders(recordKey, on: connection, recursive: true, timeout: 5)
                    else { continue }
                    found = answer
                    if !answer.isEmpty || kind == .cache { break }
                }
            }
            records += found
        }
        let sessions = Dictionary(records.compactMap { record in peers.session(with: record.member).map { (record.member, $0) } }, uniquingKeysWith: { a, _ in a })
        let routes = peers.routes(to: Array(sessions.keys))
        let askHave = resource.codec == .manifest && routes.count > 1
        let found = await withTaskGroup(of: Holder.self) { group in
            for route in routes {
                let connection = sessions[route.member]!
                group.addTask { [resource] in
                    var pieces: [Bool]?
                    // An answer is taken as it is: none held (no manifest there) is asked last. A bitmap past a
                    // million pieces (a terabyte) is no resource's: ignored rather than kept per request.
                    if askHave, let (holding, _) = try? await peers.holding(resource, on: connection, timeout: 2), holding.pieces.count <= 1 << 20 {
                        pieces = holding.pieces
                    }
                    return Holder(connection: connection, route: route, pieces: pieces)
                }
            }
            var found: [Holder] = []
            for await holder in group { found.append(holder) }
            return found
        }
        let ranked = routes.compactMap { route in found.first { $0.route.member == route.member } }
        guard !ranked.isEmpty else {
            throw APIFailure(InosError(.notFound, "no node of the mesh provides \(resource) (no provider record, or no session with its holders)"), status: .notFound)
        }
        holders.withLock { $0 = ranked }
        return ranked
    }
}
