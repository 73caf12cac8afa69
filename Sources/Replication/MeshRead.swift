// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Mesh
import MeshCore
import Synchronization

extension MeshClient {
    public struct Source: Sendable {
        public var address: String
        public var rttMicroseconds: Double
        public var load: Double
        public var pieces: Int
        /// Pieces this source delivered first.
        public var served = 0
    }

    public struct GetReport: Sendable {
        public var id: ContentID
        public var sources: [Source]
        public var fetched: Int
        public var bytes: Int
        /// Pieces asked of a second holder because the first was slow; and how often the second won.
        public var hedged: Int
        public var hedgeWins: Int
        public var unreachable: [ContentID]
        public var rebuilt: Int
        public var seconds: Double
    }

    /// Finds the holders of `id` through the node at `entry` (DHT providers), asks each what it holds, and
    /// fetches every missing piece from several holders at once: each piece from a holder that answered, with
    /// load below 0.8 when one exists, preferring the lowest round trip and spreading pieces by expected
    /// finish time. A holder that runs out of its own pieces takes pending ones from others, then re-asks pieces
    /// in flight for more than 3× the median fetch time elsewhere; the first copy wins. Every piece is checked
    /// against its ID. Chunks no holder has are rebuilt from parity when the file is written.
    public func get(_ id: ContentID, entry: String, output: String?, pins: PinSet, window: Int = 4,
                    progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws(ReplicationError) -> GetReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let key = Array(id.bytes.suffix(32))
        let (entryConnection, _) = try session(entry)
        var records: [ProviderRecord]
        do { records = try peers.findProviders(key, on: entryConnection, recursive: true) } catch { throw ReplicationError(error.message) }
        if records.isEmpty, let found = try? peers.lookupProviders(key, from: entryConnection) { records = found.providers }
        guard !records.isEmpty else { throw ReplicationError("no member provides \(id)") }

        // Sessions and HAVE with every holder, in parallel.
        struct Candidate: Sendable {
            var address: String
            var connection: UInt64
            var rtt: Double
            var load: Double
            var pieces: [Bool]
        }
        let found = Mutex<[Candidate]>([])
        let providers = records
        DispatchQueue.concurrentPerform(iterations: providers.count) { i in
            let record = providers[i]
            guard let (connection, _) = try? session(record.address, member: record.member),
                let (holding, rtt) = try? peers.holding(id, on: connection)
            else { return }
            found.withLock { $0.append(Candidate(address: record.address, connection: connection, rtt: rtt, load: holding.load, pieces: holding.pieces)) }
        }
        var holders = found.withLock { $0 }.sorted { $0.rtt < $1.rtt }
        guard !holders.isEmpty else { throw ReplicationError("none of the \(records.count) provider(s) of \(id) answered") }

        // The manifest (or the single chunk) from the fastest holder that has it.
        if !store.contains(id), peers.fetchVerified(id, into: store, from: holders.map(\.connection)) == nil {
            throw ReplicationError("no holder delivered \(id) (or none matched its ID)")
        }
        let manifest: ResourceManifest?
        do { manifest = try store.manifest(for: id) } catch { throw ReplicationError(error.description) }
        let pieces = ContentStore.pieces(of: id, manifest: manifest)
        let chunkCount = manifest?.chunks.count ?? 1
        if holders.contains(where: { $0.pieces.count != pieces.count }) {
            // A holder without the manifest answers with no pieces; one with a different count is ignored.
            holders = holders.filter { $0.pieces.count == pieces.count }
        }

        // Data chunks first; parity only for stripes that lose a chunk.
        let wanted = (0..<min(chunkCount, pieces.count)).filter { !store.contains(pieces[$0].id) }
        let totalBytes = wanted.reduce(0) { $0 + Int(pieces[$1].storedLength) }
        let connections = holders.map(\.connection)
        let schedule = Scheduler(holders: holders.map { ($0.rtt, $0.load, $0.pieces) }, wanted: wanted)
        // What each piece decodes to, from the manifest: a holder's compressed copy may not claim more.
        let lengths = manifest.map { ($0.chunks + ($0.erasure?.parity ?? [])).map(\.length) }
        var result = fetch(schedule, pieces: pieces.map(\.id), lengths: lengths, from: connections, window: window) { done in
            progress(min(done, totalBytes), totalBytes)
        }
        do { try store.commit() } catch { throw ReplicationError(error.description) }

        // Chunks nobody delivered: fetch their stripes' parity (same scheduler), then rebuild while writing.
        if !result.unreachable.isEmpty, let layout = manifest?.layout, layout.parityShards > 0 {
            let stripes = Set(result.unreachable.map { layout.stripe(ofPiece: $0).stripe })
            let parity = stripes.flatMap { layout.parity(inStripe: $0) }.filter { $0 < pieces.count && !store.contains(pieces[$0].id) }
            let second = Scheduler(holders: holders.map { ($0.rtt, $0.load, $0.pieces) }, wanted: parity)
            let extra = fetch(second, pieces: pieces.map(\.id), lengths: lengths, from: connections, window: 1) { _ in }
            do { try store.commit() } catch { throw ReplicationError(error.description) }
            result.fetched += extra.fetched
            result.bytes += extra.bytes
        }
        var rebuilt = 0
        do {
            try pins.pin(id)
            if let output {
                let report = try store.get(id, to: output)
                rebuilt = report.repaired.count
            }
        } catch { throw ReplicationError(error.description) }
        let sources = holders.enumerated().map { h, holder in
            Source(address: holder.address, rttMicroseconds: holder.rtt, load: holder.load, pieces: holder.pieces.filter { $0 }.count, served: result.served[h])
        }
        return GetReport(
            id: id, sources: sources, fetched: result.fetched, bytes: result.bytes, hedged: result.hedged, hedgeWins: result.hedgeWins,
            unreachable: result.unreachable.map { pieces[$0].id }.filter { !store.contains($0) }, rebuilt: rebuilt,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }
}

extension MeshClient {
    /// Runs `schedule` to the end: `window` workers per holder fetch the pieces it hands them, check each
    /// against its ID and stage it (the caller commits). Returns the final scheduler state.
    func fetch(_ schedule: Scheduler, pieces: [ContentID], lengths: [UInt64]? = nil, from connections: [UInt64], window: Int,
               progress: @escaping @Sendable (Int) -> Void) -> Scheduler {
        let state = Mutex(schedule)
        let group = DispatchGroup()
        for (h, connection) in connections.enumerated() {
            for _ in 0..<max(1, window) {
                group.enter()
                Thread { [self] in
                    defer { group.leave() }
                    while true {
                        let step = state.withLock { $0.step(for: h, now: DispatchTime.now().uptimeNanoseconds) }
                        guard case .fetch(let piece, let hedge) = step else {
                            if case .finished = step { return }
                            usleep(2_000)
                            continue
                        }
                        let begun = DispatchTime.now().uptimeNanoseconds
                        // Staged: one flush for the whole resource, when every piece is in.
                        let length = lengths.flatMap { piece < $0.count ? $0[piece] : nil }
                        let bytes = peers.fetchVerified(pieces[piece], into: store, from: [connection], durable: false, length: length)
                        let done = state.withLock { s in
                            s.finish(piece, by: h, ok: bytes != nil, bytes: bytes?.count ?? 0, hedge: hedge, nanoseconds: DispatchTime.now().uptimeNanoseconds - begun)
                        }
                        progress(done)
                    }
                }.start()
            }
        }
        group.wait()
        return state.withLock { $0 }
    }
}

/// Who fetches which piece: the routing and long-tail rules of ``MeshClient/get(_:entry:output:pins:window:progress:)``,
/// as a plain state machine (under one lock).
struct Scheduler: Sendable {
    struct HolderState: Sendable {
        var rtt: Double
        var load: Double
        var has: [Bool]
        var queue: [Int] = []
        var inFlight = 0
    }
    var holders: [HolderState]
    var done: Set<Int> = []
    var inFlight: [Int: (holder: Int, since: UInt64, hedger: Int?)] = [:]
    var failed: [Int: Set<Int>] = [:]  // piece → holders that failed it
    var unreachable: [Int] = []
    var durations: [UInt64] = []
    var fetched = 0, bytes = 0, hedged = 0, hedgeWins = 0
    var served: [Int]
    static let overloaded = 0.8

    init(holders: [(rtt: Double, load: Double, has: [Bool])], wanted: [Int]) {
        self.holders = holders.map { HolderState(rtt: max($0.rtt, 1), load: $0.load, has: $0.has) }
        served = Array(repeating: 0, count: holders.count)
        // Each piece to the candidate that would finish it first: healthy (answered), load < 0.8 when any
        // candidate is, then the lowest (queued pieces + 1) × round trip.
        for piece in wanted {
            let candidates = self.holders.indices.filter { piece < self.holders[$0].has.count && self.holders[$0].has[piece] }
            let light = candidates.filter { self.holders[$0].load < Self.overloaded }
            guard let best = (light.isEmpty ? candidates : light).min(by: { cost($0) < cost($1) }) else {
                unreachable.append(piece)
                continue
            }
            self.holders[best].queue.append(piece)
        }
    }

    func cost(_ h: Int) -> Double { Double(holders[h].queue.count + 1) * holders[h].rtt }

    /// The next piece for holder `h`: its own queue, else a pending piece of another holder it also has, else a
    /// lagging piece in flight elsewhere (a hedge). Nil when there is nothing left for it.
    mutating func next(for h: Int, now: UInt64) -> (Int, Bool)? {
        while let piece = holders[h].queue.first {
            holders[h].queue.removeFirst()
            if done.contains(piece) || inFlight[piece] != nil { continue }
            inFlight[piece] = (h, now, nil)
            return (piece, false)
        }
        // Steal from the longest queue among pieces this holder has.
        for other in holders.indices.sorted(by: { holders[$0].queue.count > holders[$1].queue.count }) where other != h {
            if let index = holders[other].queue.lastIndex(where: { has(h, $0) && failed[$0]?.contains(h) != true }) {
                let piece = holders[other].queue.remove(at: index)
                if done.contains(piece) || inFlight[piece] != nil { continue }
                inFlight[piece] = (h, now, nil)
                return (piece, false)
            }
        }
        // Hedge: a piece in flight elsewhere for more than 3× the median fetch time (at least 20 ms).
        let sorted = durations.sorted()
        let median = sorted.isEmpty ? 50_000_000 : sorted[sorted.count / 2]
        let threshold = max(3 * median, 20_000_000)
        if let (piece, flight) = inFlight.first(where: {
            $0.value.holder != h && $0.value.hedger == nil && has(h, $0.key) && failed[$0.key]?.contains(h) != true && now - $0.value.since > threshold
        }) {
            inFlight[piece] = (flight.holder, flight.since, h)
            hedged += 1
            return (piece, true)
        }
        return nil
    }

    enum Step { case fetch(Int, hedge: Bool), wait, finished }

    /// What holder `h`'s worker does next: fetch, wait for pieces in flight (one may fail and come back), or stop.
    mutating func step(for h: Int, now: UInt64) -> Step {
        if let (piece, hedge) = next(for: h, now: now) { return .fetch(piece, hedge: hedge) }
        return inFlight.isEmpty && holders.allSatisfy({ $0.queue.isEmpty }) ? .finished : .wait
    }

    func has(_ h: Int, _ piece: Int) -> Bool { piece < holders[h].has.count && holders[h].has[piece] }

    /// Records an answer; returns the bytes fetched so far.
    mutating func finish(_ piece: Int, by h: Int, ok: Bool, bytes count: Int, hedge: Bool, nanoseconds: UInt64) -> Int {
        if ok {
            if !done.contains(piece) {
                done.insert(piece)
                fetched += 1
                bytes += count
                served[h] += 1
                durations.append(nanoseconds)
                if hedge { hedgeWins += 1 }
            }
            inFlight[piece] = nil
            return bytes
        }
        failed[piece, default: []].insert(h)
        guard !done.contains(piece) else { return bytes }
        // The other request for this piece, if any, is still out: it decides.
        if let flight = inFlight[piece] {
            if flight.holder == h, let hedger = flight.hedger, hedger != h {
                inFlight[piece] = (hedger, flight.since, hedger)
                return bytes
            }
            if flight.hedger == h, flight.holder != h {
                inFlight[piece] = (flight.holder, flight.since, h)  // not hedged again by the one that failed
                return bytes
            }
            inFlight[piece] = nil
        }
        // Back to the best remaining candidate, or unreachable.
        let candidates = holders.indices.filter { has($0, piece) && failed[piece]?.contains($0) != true }
        if let best = candidates.min(by: { cost($0) < cost($1) }) {
            holders[best].queue.append(piece)
        } else {
            unreachable.append(piece)
        }
        return bytes
    }
}

extension MeshClient {
    /// Where a resource's pieces are: its providers (through the member at `entry`) asked by HAVE.
    public struct Census: Sendable {
        public var holders: [(address: String, member: MemberID, pieces: [Bool], load: Double)]
        public var pieceCount: Int
        /// Copies of each piece among the holders that answered.
        public var copies: [Int]
        public var unanswered: [String]
    }

    public func census(_ id: ContentID, entry: String) throws(ReplicationError) -> Census {
        let key = Array(id.bytes.suffix(32))
        let (connection, _) = try session(entry)
        let records: [ProviderRecord]
        do { records = try peers.findProviders(key, on: connection, recursive: true) } catch { throw ReplicationError(error.message) }
        var holders: [(address: String, member: MemberID, pieces: [Bool], load: Double)] = []
        var unanswered: [String] = []
        for record in records.sorted(by: { $0.address < $1.address }) {
            guard let (session, _) = try? session(record.address, member: record.member), let (holding, _) = try? peers.holding(id, on: session) else {
                unanswered.append(record.address)
                continue
            }
            holders.append((record.address, record.member, holding.pieces, holding.load))
        }
        let count = holders.map(\.pieces.count).max() ?? 0
        let copies = (0..<count).map { i in holders.filter { i < $0.pieces.count && $0.pieces[i] }.count }
        return Census(holders: holders, pieceCount: count, copies: copies, unanswered: unanswered)
    }
}
