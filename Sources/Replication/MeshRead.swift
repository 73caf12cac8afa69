// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Dispatch
import Foundation
import Mesh
import Primitives
import MeshCore
import Synchronization

extension MeshClient {
    public struct Source: Sendable {
        public var address: String
        public var rttMicroseconds: Double
        public var load: Double
        /// In the reader's region (or the reader has none): preferred over a holder elsewhere.
        public var near = true
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
                    progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws(InosError) -> GetReport {
        let started = peers.clock.now()
        let key = Array(id.bytes.suffix(32))
        let (entryConnection, _) = try await session(entry)
        // Edge caches that read it (under its cache key), asked beside the holders: read from like holders, when near.
        async let cachedRecords = try? await peers.findProviders(ProviderRecord.Kind.cache.recordKey(key), on: entryConnection, recursive: true, timeout: 5)
        var records: [ProviderRecord]
        do { records = try await peers.findProviders(key, on: entryConnection, recursive: true) } catch { throw InosError("finding the providers of \(id)", mesh: error) }
        if records.isEmpty, let found = try? peers.lookupProviders(key, from: entryConnection) { records = found.providers }
        guard !records.isEmpty else { throw InosError(.notFound, "no member provides \(id)") }
        let cached = await cachedRecords ?? []
        records += cached.filter { cache in !records.contains { $0.member == cache.member } && cache.member != peers.memberID }

        // Sessions and HAVE with every holder, in parallel; then ranked by the one routing rule (``HolderRoute``):
        // the session's round trip is HAVE's, the load what the holder answered, near from the gossip.
        struct Candidate: Sendable {
            var address: String
            var connection: UInt64
            var route: HolderRoute
            var load: Double
            var pieces: [Bool]

            var schedulerInput: Scheduler.Input { Scheduler.Input(rtt: route.rttMicroseconds, load: load, near: route.near, has: pieces) }
        }
        let region = peers.region, statuses = peers.gossip?.known ?? [:]
        var holders = await withTaskGroup(of: Candidate?.self) { group in
            for record in records {
                group.addTask { [self] in
                    guard let (connection, _) = try? await session(record.address, member: record.member),
                        let (holding, rtt) = try? await peers.holding(id, on: connection)
                    else { return nil }
                    let near = region.isEmpty || statuses[record.member]?.regionName == region
                    let route = HolderRoute(member: record.member, overloaded: holding.load >= HolderRoute.overloaded, near: near, rttMicroseconds: rtt)
                    return Candidate(address: record.address, connection: connection, route: route, load: holding.load, pieces: holding.pieces)
                }
            }
            var found: [Candidate] = []
            for await candidate in group { if let candidate { found.append(candidate) } }
            return found
        }.sorted { $0.route.precedes($1.route) }
        guard !holders.isEmpty else { throw InosError(.unavailable, "none of the \(records.count) provider(s) of \(id) answered") }

        // The manifest (or the single chunk) from the fastest holder that has it.
        if !store.contains(id), await peers.fetchVerified(id, into: store, from: holders.map(\.connection)) == nil {
            throw InosError(.unavailable, "no holder delivered \(id) (or none matched its ID)")
        }
        let manifest: ResourceManifest?
        do { manifest = try store.manifest(for: id) } catch { throw InosError("reading the manifest of \(id)", wrapping: error) }
        let pieces = ContentStore.pieces(of: id, manifest: manifest)
        let chunkCount = manifest?.chunks.count ?? 1
        if holders.contains(where: { $0.pieces.count != pieces.count }) {
            // A holder without the manifest answers with no pieces; one with a different count is ignored.
            holders = holders.filter { $0.pieces.count == pieces.count }
        }

        // Pinned before it looks at what the store has: a chunk some earlier read left there (the edge cache's,
        // unpinned) is then one this resource needs, which eviction never removes. Unpinned again if the get fails.
        let wasPinned = pins.isPinned(id)
        do { try pins.withLock(exclusive: false) { () throws(DataPathError) in try pins.pin(id) } } catch { throw InosError("pinning \(id)", wrapping: error) }
        var finished = false
        defer { if !finished && !wasPinned { _ = pins.unpin(id) } }

        // Data chunks first; parity only for stripes that lose a chunk.
        let wanted = (0..<min(chunkCount, pieces.count)).filter { !store.contains(pieces[$0].id) }
        let totalBytes = wanted.reduce(0) { $0 + Int(pieces[$1].storedLength) }
        let connections = holders.map(\.connection)
        let schedule = Scheduler(holders: holders.map(\.schedulerInput), wanted: wanted, window: window)
        // What each piece decodes to, from the manifest: a holder's compressed copy may not claim more.
        let lengths = manifest.map { ($0.chunks + ($0.erasure?.parity ?? [])).map(\.length) }
        let holderCount = holders.count
        var result = await fetch(schedule, pieces: pieces.map(\.id), lengths: lengths, from: connections) { done, fetched in
            progress(TransferProgress(bytesDone: min(done, totalBytes), bytesTotal: totalBytes, piecesDone: fetched, piecesTotal: wanted.count, holders: holderCount))
        }
        do { try store.commit() } catch { throw InosError("committing the fetched chunks of \(id)", wrapping: error) }

        // Chunks nobody delivered: fetch their stripes' parity (same scheduler), then rebuild while writing.
        if !result.unreachable.isEmpty, let layout = manifest?.layout, layout.parityShards > 0 {
            let stripes = Set(result.unreachable.map { layout.stripe(ofPiece: $0).stripe })
            let parity = stripes.flatMap { layout.parity(inStripe: $0) }.filter { $0 < pieces.count && !store.contains(pieces[$0].id) }
            let second = Scheduler(holders: holders.map(\.schedulerInput), wanted: parity, window: 1)
            let extra = await fetch(second, pieces: pieces.map(\.id), lengths: lengths, from: connections) { _, _ in }
            do { try store.commit() } catch { throw InosError("committing the fetched chunks of \(id)", wrapping: error) }
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
        } catch { throw InosError("pinning and writing \(id)", wrapping: error) }
        finished = true
        let sources = holders.enumerated().map { h, holder in
            Source(address: holder.address, rttMicroseconds: holder.route.rttMicroseconds, load: holder.load, near: holder.route.near,
                   pieces: holder.pieces.filter { $0 }.count, served: result.served[h])
        }
        return GetReport(
            id: id, sources: sources, fetched: result.fetched, bytes: result.bytes, hedged: result.hedged, hedgeWins: result.hedgeWins,
            unreachable: result.unreachable.map { pieces[$0].id }.filter { !store.contains($0) }, rebuilt: rebuilt,
            seconds: Double(peers.clock.now() - started) / 1e9)
    }
}

extension MeshClient {
    /// Runs `schedule` to the end: the schedule's `window` tasks per holder fetch the pieces it hands them (as
    /// many at once as the holder has earned slots), check each against its ID and stage it (the caller commits).
    /// A task with nothing to do yet waits for the schedule to change (a piece finished or failed) or for the
    /// moment a lagging piece may be re-asked. Returns the final state.
    func fetch(_ schedule: Scheduler, pieces: [ContentID], lengths: [UInt64]? = nil, from connections: [UInt64],
               progress: @escaping @Sendable (_ bytes: Int, _ pieces: Int) -> Void) async -> Scheduler {
        let window = schedule.window
        let state = Locked(schedule)
        let changes = ScheduleChanges()
        let clock = peers.clock
        // Tasks finish pieces concurrently: reports go out one at a time and never go back (two finishing at once
        // could report 3 of 3, then 2 of 3 — and the last report is what the CLI prints as done).
        let reported = Locked((bytes: 0, pieces: 0))
        await withTaskGroup(of: Void.self) { group in
            for (h, connection) in connections.enumerated() {
                for _ in 0..<max(1, window) {
                    group.addTask { [self] in
                        while true {
                            let seen = changes.generation
                            let step = state.withLock { $0.step(for: h, now: clock.now()) }
                            guard case .fetch(let piece, let hedge) = step else {
                                guard case .wait(let until) = step else { return }
                                await changes.wait(after: seen, until: until, clock: clock)
                                continue
                            }
                            let begun = clock.now()
                            // Staged: one flush for the whole resource, when every piece is in.
                            let length = lengths.flatMap { piece < $0.count ? $0[piece] : nil }
                            let bytes = await peers.fetchVerified(pieces[piece], into: store, from: [connection], durable: false, length: length)
                            let (done, fetched) = state.withLock { s in
                                (s.finish(piece, by: h, ok: bytes != nil, bytes: bytes ?? 0, hedge: hedge, nanoseconds: clock.now() - begun), s.fetched)
                            }
                            changes.notify()
                            reported.withLock { last in
                                guard done >= last.bytes, fetched >= last.pieces else { return }
                                last = (done, fetched)
                                progress(done, fetched)
                            }
                        }
                    }
                }
            }
            // Once every piece is in, the requests still out — to a slow holder whose pieces were re-asked
            // elsewhere and won there — are cancelled, not waited for: waiting made a read through one holder at
            // 10 Mbit/s take as long as that holder needed for its first window (found by the chaos harness's
            // slow-node scenario: 2.9× the unthrottled time).
            while await group.next() != nil {
                if state.withLock({ $0.isFinished }) { group.cancelAll() }
            }
        }
        return state.withLock { $0 }
    }
}

/// Wakes the fetch tasks waiting for the schedule to change, or at a deadline: no task polls.
final class ScheduleChanges: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Changes so far; read before looking at the schedule, so a change in between is not missed.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// The schedule changed: every waiter looks again.
    func notify() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the generation passed `seen`, or at `until` (monotonic ns on `clock`) when given.
    func wait(after seen: UInt64, until: UInt64?, clock: any MeshClock) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        let timer = until.map { deadline in
            Task { [self] in
                try? await clock.sleep(until: deadline)
                resume(id)
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.generation != seen { return true }
                state.waiters[id] = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer?.cancel()
    }

    private func resume(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}

/// Who fetches which piece: the routing and long-tail rules of ``MeshClient/get(_:entry:output:pins:window:progress:)``,
/// as a plain state machine (under one lock).
struct Scheduler: Sendable {
    /// What the scheduler knows of a holder at the start.
    struct Input: Sendable {
        var rtt: Double
        var load: Double
        /// In the reader's region (``HolderRoute/near``).
        var near = true
        var has: [Bool]
    }

    struct HolderState: Sendable {
        var rtt: Double
        var load: Double
        var near: Bool
        var has: [Bool]
        var queue: [Int] = []
        /// Requests out to this holder now (its own pieces, stolen ones and hedges).
        var inFlight = 0
        /// How many it may have out at once: one until it has delivered a piece, then the window while it
        /// delivers at a competitive rate (see ``Scheduler/finish(_:by:ok:bytes:hedge:nanoseconds:)``).
        var slots = 1
    }
    var holders: [HolderState]
    var done: Set<Int> = []
    var inFlight: [Int: (holder: Int, since: UInt64, hedger: Int?)] = [:]
    var failed: [Int: Set<Int>] = [:]  // piece → holders that failed it
    var unreachable: [Int] = []
    /// Fetch times of delivered pieces, kept sorted (``SortedSamples``): the hedge threshold's median.
    var durations = SortedSamples()
    var fetched = 0, bytes = 0, hedged = 0, hedgeWins = 0
    var served: [Int]
    /// The most requests a holder may have out at once once it has shown its rate.
    let window: Int
    /// Per delivered piece: its fetch time divided by the requests its holder had out when it was asked — the
    /// time a piece costs on that holder's link, comparable between holders with 1 and with `window` out.
    var pieceCosts = SortedSamples()
    /// Per request out (piece × holders + holder): how many its holder had out, this one included, when asked.
    var askedWith: [Int: Int] = [:]
    static let overloaded = 0.8

    init(holders: [Input], wanted: [Int], window: Int = 4) {
        self.window = max(1, window)
        self.holders = holders.map { HolderState(rtt: $0.rtt.isFinite ? max($0.rtt, 1) : 1e9, load: $0.load, near: $0.near, has: $0.has) }
        served = Array(repeating: 0, count: holders.count)
        // Each piece to the candidate that would finish it first, by ``HolderRoute``'s rule: healthy (answered),
        // load < 0.8 when any candidate is, in the reader's region when any of those is, then the lowest
        // (queued pieces + 1) × round trip.
        for piece in wanted {
            guard let best = preferred(self.holders.indices.filter { has($0, piece) }) else {
                unreachable.append(piece)
                continue
            }
            self.holders[best].queue.append(piece)
        }
    }

    /// The candidate a piece goes to: load < 0.8 when any is, in the reader's region when any of those is, then
    /// the lowest (queued pieces + 1) × round trip.
    func preferred(_ candidates: [Int]) -> Int? {
        let light = candidates.filter { holders[$0].load < Self.overloaded }
        let healthy = light.isEmpty ? candidates : light
        let near = healthy.filter { holders[$0].near }
        return (near.isEmpty ? healthy : near).min { cost($0) < cost($1) }
    }

    /// A healthy holder in the reader's region has `piece` and has not failed it: one elsewhere leaves it alone
    /// (it may still re-ask it as a hedge when it lags).
    func nearHolder(has piece: Int) -> Bool {
        holders.indices.contains { holders[$0].near && holders[$0].load < Self.overloaded && has($0, piece) && failed[piece]?.contains($0) != true }
    }

    /// Holders with a request out for longer than the hedge threshold: a near one that lags (slow, or a peer that
    /// only claims to be a cache nearby) no longer keeps its queue from holders elsewhere.
    func lagging(now: UInt64) -> Set<Int> {
        let threshold = hedgeThreshold
        return Set(inFlight.values.filter { now - $0.since > threshold }.map(\.holder))
    }

    func cost(_ h: Int) -> Double { Double(holders[h].queue.count + 1) * holders[h].rtt }

    /// The next piece for holder `h`: its own queue, else a pending piece of another holder it also has, else a
    /// lagging piece in flight elsewhere (a hedge). Nil when there is nothing left for it.
    mutating func next(for h: Int, now: UInt64) -> (Int, Bool)? {
        guard holders[h].inFlight < holders[h].slots else { return nil }
        guard let (piece, hedge) = choose(for: h, now: now) else { return nil }
        holders[h].inFlight += 1
        askedWith[piece &* holders.count &+ h] = holders[h].inFlight
        return (piece, hedge)
    }

    private mutating func choose(for h: Int, now: UInt64) -> (Int, Bool)? {
        while let piece = holders[h].queue.first {
            holders[h].queue.removeFirst()
            if done.contains(piece) || inFlight[piece] != nil { continue }
            inFlight[piece] = (h, now, nil)
            return (piece, false)
        }
        // Steal from the longest queue among pieces this holder has. A holder elsewhere takes only pieces no near
        // holder has, so a read stays in its region while it can — or any piece of a near holder that lags.
        let far = !holders[h].near
        let slow = far ? lagging(now: now) : []
        for other in holders.indices.sorted(by: { holders[$0].queue.count > holders[$1].queue.count }) where other != h {
            let open = !far || !holders[other].near || slow.contains(other)
            if let index = holders[other].queue.lastIndex(where: {
                has(h, $0) && failed[$0]?.contains(h) != true && (open || !nearHolder(has: $0))
            }) {
                let piece = holders[other].queue.remove(at: index)
                if done.contains(piece) || inFlight[piece] != nil { continue }
                inFlight[piece] = (h, now, nil)
                return (piece, false)
            }
        }
        // Hedge: a piece in flight elsewhere for more than 3× the median fetch time (at least 20 ms).
        let threshold = hedgeThreshold
        if let (piece, flight) = inFlight.first(where: {
            $0.value.holder != h && $0.value.hedger == nil && has(h, $0.key) && failed[$0.key]?.contains(h) != true && now - $0.value.since > threshold
        }) {
            inFlight[piece] = (flight.holder, flight.since, h)
            hedged += 1
            return (piece, true)
        }
        return nil
    }

    /// `wait(until:)`: nothing now; look again when the schedule changes, or at `until` (when a piece in flight
    /// elsewhere becomes old enough for this holder to re-ask it).
    enum Step { case fetch(Int, hedge: Bool), wait(until: UInt64?), finished }

    /// What holder `h`'s worker does next: fetch, wait for pieces in flight (one may fail and come back), or stop.
    mutating func step(for h: Int, now: UInt64) -> Step {
        if let (piece, hedge) = next(for: h, now: now) { return .fetch(piece, hedge: hedge) }
        if isFinished { return .finished }
        // Every slot of this holder is busy: one of its answers (a change) frees one.
        if holders[h].inFlight >= holders[h].slots { return .wait(until: nil) }
        let threshold = hedgeThreshold
        let hedgeable = inFlight.filter { $0.value.holder != h && $0.value.hedger == nil && has(h, $0.key) && failed[$0.key]?.contains(h) != true }
        return .wait(until: hedgeable.values.map { $0.since &+ threshold &+ 1 }.min())
    }

    /// How long a piece may be in flight before another holder re-asks it: 3× the median fetch time, at least 20 ms.
    var hedgeThreshold: UInt64 {
        max(3 * (durations.median ?? 50_000_000), 20_000_000)
    }

    /// Nothing in flight and nothing queued: every piece is in (or unreachable here).
    var isFinished: Bool { inFlight.isEmpty && holders.allSatisfy { $0.queue.isEmpty } }

    func has(_ h: Int, _ piece: Int) -> Bool { piece < holders[h].has.count && holders[h].has[piece] }

    /// Records an answer; returns the bytes fetched so far. A holder's slots follow its rate: the window once a
    /// piece cost it at most twice the median piece cost so far (its first, if it is the first of all), one
    /// again when a piece cost it more than four times the median — so a holder behind a slow link keeps one
    /// request out, hedged like any other, instead of a window of pieces that all arrive late.
    mutating func finish(_ piece: Int, by h: Int, ok: Bool, bytes count: Int, hedge: Bool, nanoseconds: UInt64) -> Int {
        let concurrent = max(1, askedWith.removeValue(forKey: piece &* holders.count &+ h) ?? holders[h].inFlight)
        holders[h].inFlight = max(0, holders[h].inFlight - 1)
        if ok {
            let cost = nanoseconds / UInt64(concurrent)
            let median = pieceCosts.median ?? cost
            if cost / 2 <= median {
                holders[h].slots = window
            } else if cost / 4 > median {
                holders[h].slots = 1
            }
            pieceCosts.insert(cost)
            if !done.contains(piece) {
                done.insert(piece)
                fetched += 1
                bytes += count
                served[h] += 1
                durations.insert(nanoseconds)
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
        if let best = preferred(holders.indices.filter { has($0, piece) && failed[piece]?.contains($0) != true }) {
            holders[best].queue.append(piece)
        } else {
            unreachable.append(piece)
        }
        return bytes
    }
}

/// Samples kept in order as they come, so the median is one read: a read of a large resource asks for it at
/// every step and every answer, and sorting the whole history each time made that quadratic in the pieces.
struct SortedSamples: Sendable {
    private(set) var values: [UInt64] = []

    /// The upper median (the element at count / 2), nil while empty.
    var median: UInt64? { values.isEmpty ? nil : values[values.count / 2] }

    mutating func insert(_ value: UInt64) {
        var low = 0, high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] <= value { low = middle + 1 } else { high = middle }
        }
        values.insert(value, at: low)
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

    /// Asks every provider at once (a task group of suspended requests); holders in address order.
    public func census(_ id: ContentID, entry: String) async throws(InosError) -> Census {
        let key = Array(id.bytes.suffix(32))
        let (connection, _) = try await session(entry)
        let records: [ProviderRecord]
        do { records = try await peers.findProviders(key, on: connection, recursive: true) } catch { throw InosError("finding the providers of \(id)", mesh: error) }
        typealias Answer = (record: ProviderRecord, holding: ReplicationWire.Holding?)
        let answers = await withTaskGroup(of: Answer.self) { group in
            for record in records {
                group.addTask { [self] in
                    guard let (session, _) = try? await session(record.address, member: record.member),
                        let (holding, _) = try? await peers.holding(id, on: session)
                    else { return (record, nil) }
                    return (record, holding)
                }
            }
            var all: [Answer] = []
            for await answer in group { all.append(answer) }
            return all.sorted { $0.record.address < $1.record.address }
        }
        var holders: [(address: String, member: MemberID, pieces: [Bool], load: Double)] = []
        var unanswered: [String] = []
        for (record, holding) in answers {
            guard let holding else {
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
