// SPDX-License-Identifier: Apache-2.0
import Content
import Foundation
import Identity
import Testing

@testable import Replication

/// The read path's routing rules as a state machine: which holder gets which piece, when a piece is re-asked
/// of a second holder, what happens when a holder fails.
@Suite("Chunk routing and long-tail scheduling")
struct SchedulerTests {
    @Test("pieces go to healthy holders under 0.8 load, lowest round trip first, spread by expected finish time")
    func routing() {
        let all = [Bool](repeating: true, count: 12)
        // Holder 0: fast but overloaded; 1: 1 ms; 2: 2 ms; 3: has nothing.
        let scheduler = Scheduler(holders: [(100, 0.95, all), (1000, 0.2, all), (2000, 0.3, all), (50, 0.1, [Bool](repeating: false, count: 12))], wanted: Array(0..<12))
        #expect(scheduler.holders[0].queue.isEmpty, "an overloaded holder gets nothing while others can serve")
        #expect(scheduler.holders[3].queue.isEmpty, "a holder without the pieces gets nothing")
        #expect(scheduler.holders[1].queue.count == 8 && scheduler.holders[2].queue.count == 4, "twice as fast, twice the pieces")
        #expect(scheduler.unreachable.isEmpty)
        // When every holder is overloaded, they still serve: better slow than never.
        let busy = Scheduler(holders: [(100, 0.9, all), (200, 0.85, all)], wanted: [0, 1, 2])
        #expect(busy.holders[0].queue.count + busy.holders[1].queue.count == 3)
        // Pieces nobody holds are unreachable (the reader turns to parity).
        let missing = Scheduler(holders: [(100, 0.1, [true, false])], wanted: [0, 1])
        #expect(missing.unreachable == [1])
    }

    @Test("a read stays in its region: near holders get the pieces they have, far ones only the rest (and hedges); overloaded near ones lose to healthy far ones")
    func region() {
        let all = [Bool](repeating: true, count: 8), half = (0..<8).map { $0 < 4 }
        func holder(_ rtt: Double, _ load: Double, near: Bool, _ has: [Bool]) -> Scheduler.Input { .init(rtt: rtt, load: load, near: near, has: has) }
        // A seed elsewhere (fast, everything), a regional hub with half the pieces (10× slower), an edge cache
        // nearby with two pieces.
        var s = Scheduler(
            holders: [holder(100, 0.1, near: false, all), holder(1000, 0.1, near: true, half), holder(2000, 0.1, near: true, [false, false, false, false, true, true, false, false])],
            wanted: Array(0..<8))
        #expect(Set(s.holders[1].queue) == [0, 1, 2, 3], "the hub gets what it has, though the seed is faster")
        #expect(Set(s.holders[2].queue) == [4, 5], "the edge cache what it has")
        #expect(Set(s.holders[0].queue) == [6, 7], "the seed only what nobody near has")
        // The seed drains its own queue, then finds nothing to steal: every piece left is a near holder's.
        let t0: UInt64 = 1_000_000_000
        var seed: [Int] = []
        while case .fetch(let piece, false) = s.step(for: 0, now: t0) {
            seed.append(piece)
            _ = s.finish(piece, by: 0, ok: true, bytes: 10, hedge: false, nanoseconds: 1_000_000)
        }
        #expect(Set(seed) == [6, 7])
        // A near holder that fails a piece hands it to the far one (no other near holder has it).
        guard case .fetch(let lost, false) = s.step(for: 2, now: t0) else { Issue.record("the cache had a piece"); return }
        _ = s.finish(lost, by: 2, ok: false, bytes: 0, hedge: false, nanoseconds: 1_000_000)
        guard case .fetch(let retried, false) = s.step(for: 0, now: t0 + 1_000_000) else { Issue.record("the seed takes the failed piece"); return }
        #expect(retried == lost)
        // A near holder that lags (a request out past the hedge threshold) no longer keeps its queue: the far
        // holder steals from it.
        var lag = Scheduler(holders: [holder(100, 0.1, near: false, all), holder(100, 0.1, near: true, all)], wanted: Array(0..<8))
        #expect(lag.holders[1].queue.count == 8)
        guard case .fetch(_, false) = lag.step(for: 1, now: t0) else { Issue.record("the near holder starts"); return }
        guard case .wait = lag.step(for: 0, now: t0 + 1_000_000) else { Issue.record("not lagging yet: the far holder waits"); return }
        guard case .fetch(let stolen, false) = lag.step(for: 0, now: t0 + 200_000_000) else { Issue.record("lagging: the far holder steals"); return }
        #expect(stolen != 0 && lag.holders[1].queue.count == 6)
        // Overloaded near holders lose to a healthy far one; with no region (all near), the fastest wins as before.
        let busy = Scheduler(holders: [holder(100, 0.1, near: false, all), holder(50, 0.9, near: true, all)], wanted: Array(0..<8))
        #expect(busy.holders[0].queue.count == 8 && busy.holders[1].queue.isEmpty)
        let flat = Scheduler(holders: [holder(100, 0.1, near: true, all + all), holder(1050, 0.1, near: true, all + all)], wanted: Array(0..<12))
        #expect(flat.holders[0].queue.count == 11 && flat.holders[1].queue.count == 1, "\(flat.holders.map(\.queue))")
    }

    @Test("an idle holder steals pending pieces, then re-asks a lagging one; the first answer wins")
    func longTail() {
        let all = [Bool](repeating: true, count: 4)
        var s = Scheduler(holders: [(100, 0.1, all), (5000, 0.1, all)], wanted: [0, 1, 2, 3])
        let t0: UInt64 = 1_000_000_000
        // Holder 1 takes its own piece; holder 0 drains its queue and then steals.
        guard case .fetch(let slow, false) = s.step(for: 1, now: t0) else { Issue.record("holder 1 had a piece"); return }
        var fast: [Int] = []
        while case .fetch(let piece, false) = s.step(for: 0, now: t0) {
            fast.append(piece)
            _ = s.finish(piece, by: 0, ok: true, bytes: 10, hedge: false, nanoseconds: 1_000_000)
        }
        #expect(Set(fast + [slow]) == [0, 1, 2, 3], "holder 0 took everything that was not in flight")
        // Not yet lagging (median 1 ms → threshold 20 ms): holder 0 waits.
        guard case .wait = s.step(for: 0, now: t0 + 5_000_000) else { Issue.record("should wait"); return }
        // 25 ms later the piece in flight at holder 1 is re-asked of holder 0, once.
        guard case .fetch(let hedged, true) = s.step(for: 0, now: t0 + 25_000_000) else { Issue.record("should hedge"); return }
        #expect(hedged == slow && s.hedged == 1)
        guard case .wait = s.step(for: 0, now: t0 + 26_000_000) else { Issue.record("hedges once"); return }
        _ = s.finish(slow, by: 0, ok: true, bytes: 10, hedge: true, nanoseconds: 1_000_000)
        #expect(s.hedgeWins == 1 && s.done.count == 4)
        // The slow answer arrives later: counted once, nothing changes.
        _ = s.finish(slow, by: 1, ok: true, bytes: 10, hedge: false, nanoseconds: 30_000_000)
        #expect(s.fetched == 4 && s.served == [4, 0])
        guard case .finished = s.step(for: 1, now: t0 + 40_000_000) else { Issue.record("should be finished"); return }
    }

    @Test("a holder has one request out until it delivers; the window once its pieces cost what others' do, one again when they cost 4× more")
    func slotsFollowRate() {
        let all = [Bool](repeating: true, count: 12)
        var s = Scheduler(holders: [(100, 0.1, all), (100, 0.1, all)], wanted: Array(0..<12), window: 4)
        let t0: UInt64 = 1_000_000_000
        guard case .fetch(let a, false) = s.step(for: 0, now: t0), case .fetch(let b, false) = s.step(for: 1, now: t0) else {
            Issue.record("each holder gets a first piece"); return
        }
        // A second request to either waits for its first answer, with no deadline (no spinning on a past one).
        guard case .wait(until: nil) = s.step(for: 0, now: t0), case .wait(until: nil) = s.step(for: 1, now: t0) else {
            Issue.record("one request out until a piece is delivered"); return
        }
        // Holder 0 delivers in 10 ms: the first cost of all opens its window; four requests go out.
        _ = s.finish(a, by: 0, ok: true, bytes: 1, hedge: false, nanoseconds: 10_000_000)
        var out: [Int] = []
        while case .fetch(let piece, false) = s.step(for: 0, now: t0 + 10_000_000) { out.append(piece) }
        #expect(out.count == 4 && s.holders[0].inFlight == 4)
        // Holder 1 (a slow link) needs 900 ms for its one piece: 90× the median cost; it keeps one slot.
        _ = s.finish(b, by: 1, ok: true, bytes: 1, hedge: false, nanoseconds: 900_000_000)
        #expect(s.holders[1].slots == 1)
        guard case .fetch(_, _) = s.step(for: 1, now: t0 + 900_000_000) else { Issue.record("one more for the slow holder"); return }
        guard case .wait(until: nil) = s.step(for: 1, now: t0 + 900_000_000) else { Issue.record("and only one"); return }
        // Holder 0's four answers, 40 ms each with four out when asked, cost 10 ms a piece: its window stays open.
        for piece in out { _ = s.finish(piece, by: 0, ok: true, bytes: 1, hedge: false, nanoseconds: 40_000_000) }
        #expect(s.holders[0].slots == 4 && s.holders[0].inFlight == 0)
        // A holder whose pieces turn 4× dearer than the median drops back to one slot; a failure frees its slot.
        guard case .fetch(let c, false) = s.step(for: 0, now: t0 + 1_000_000_000) else { Issue.record("a piece"); return }
        _ = s.finish(c, by: 0, ok: true, bytes: 1, hedge: false, nanoseconds: 500_000_000)
        #expect(s.holders[0].slots == 1)
        guard case .fetch(let d, false) = s.step(for: 0, now: t0 + 1_500_000_000) else { Issue.record("a piece"); return }
        _ = s.finish(d, by: 0, ok: false, bytes: 0, hedge: false, nanoseconds: 1)
        #expect(s.holders[0].inFlight == 0)
    }

    @Test("samples kept sorted as they come give the median a full sort gives, duplicates and extremes included")
    func sortedSamples() {
        var generator = SystemRandomNumberGenerator()
        var samples = SortedSamples()
        var all: [UInt64] = []
        #expect(samples.median == nil)
        for n in 0..<500 {
            let value: UInt64 = n % 50 == 0 ? [0, .max][n / 50 % 2] : UInt64.random(in: 0...20, using: &generator)
            samples.insert(value)
            all.append(value)
            #expect(samples.median == all.sorted()[all.count / 2])
        }
        #expect(samples.values == all.sorted())
    }

    @Test("a failed piece goes back to another holder; with none left it is unreachable")
    func failures() {
        var s = Scheduler(holders: [(100, 0.1, [true, true]), (200, 0.1, [true, false])], wanted: [0, 1])
        guard case .fetch(let first, false) = s.step(for: 0, now: 1) else { Issue.record("a piece"); return }
        _ = s.finish(first, by: 0, ok: false, bytes: 0, hedge: false, nanoseconds: 1)
        if first == 0 {
            #expect(s.holders[1].queue == [0], "piece 0 moves to the other holder")
        } else {
            #expect(s.unreachable == [1], "only holder 0 had piece 1")
        }
    }
}

@Suite("Replication wire payloads")
struct ReplicationWireTests {
    static let id = ContentID(hashing: Array("resource".utf8))
    static let piece = ContentID(hashing: Array("piece".utf8))
    static let owner = NodeIdentity.ephemeral()

    @Test("an owner ticket is valid only as signed, before its expiry, by the key it carries")
    func tickets() throws {
        let now = Date()
        let ticket = OwnerTicket(resource: Self.id, size: 5_000_000, budget: 50, owner: Self.owner, validity: 3600, now: now)
        let seconds = UInt64(now.timeIntervalSince1970)
        #expect(ticket.problem(now: seconds) == nil)
        #expect(ticket.problem(now: seconds + 3601) == "the owner ticket expired")
        var altered = ticket
        altered.budget = 5_000
        #expect(altered.problem(now: seconds) == "the owner ticket's signature is not valid", "a raised budget breaks the signature")
        var stolen = ticket
        stolen.ownerKey = NodeIdentity.ephemeral().publicKey
        #expect(stolen.problem(now: seconds) != nil, "another key cannot claim the owner's signature")
        let (decoded, rest) = try #require(OwnerTicket.decode(ticket.encoded[...]))
        #expect(decoded == ticket && rest.isEmpty)
        #expect(OwnerTicket.decode(ticket.encoded.dropLast()[...]) == nil)
        let later = OwnerTicket(resource: Self.id, size: 5_000_000, budget: 500, owner: Self.owner, now: now.addingTimeInterval(1))
        #expect(later.issued > ticket.issued, "a newer ticket orders after the older one")
    }

    @Test("payloads round-trip")
    func roundTrip() throws {
        let ticket = OwnerTicket(resource: Self.id, size: 1 << 20, budget: 500, owner: Self.owner)
        let store = ReplicationWire.store(resource: Self.id, ticket: ticket, piece: Self.piece) + [1, 2, 3]
        let decoded = try #require(ReplicationWire.decodeStore(store))
        #expect(decoded.resource == Self.id && decoded.piece == Self.piece && decoded.ticket == ticket && Array(decoded.data) == [1, 2, 3])
        #expect(decoded.ticket?.policy == .init(budget: 500, size: 1 << 20))
        #expect(decoded.ticket?.owner == Self.owner.id)
        let holding = ReplicationWire.Holding(load: 0.25, demand: 3.5, pieces: [true, false, true, true, false, false, false, false, true])
        #expect(ReplicationWire.decodeHaveReply(ReplicationWire.haveReply(holding)) == holding)
        let release = try #require(ReplicationWire.decodeRelease(ReplicationWire.release(Self.id, pieces: [false, true, true])))
        #expect(release.0 == Self.id && release.1 == [false, true, true] && release.holders.isEmpty)
        let census = try #require(ReplicationWire.decodeRelease(ReplicationWire.release(Self.id, pieces: [true], holders: [0, 7, .max])))
        #expect(census.holders == [0, 7, .max])
        #expect(ReplicationWire.decodeRelease(ReplicationWire.release(Self.id, pieces: [true], holders: [1]).dropLast()) == nil)
        #expect(ReplicationWire.decodeStored(ReplicationWire.stored(.mismatch, "no"))! == (.mismatch, "no"))
    }

    @Test("malformed and random payloads are refused, never trap")
    func hostile() {
        var generator = SystemRandomNumberGenerator()
        let valid = ReplicationWire.store(resource: Self.id, ticket: OwnerTicket(resource: Self.id, size: 1, budget: 1, owner: Self.owner), piece: Self.piece) + [9]
        for n in 0..<20_000 {
            var bytes: [UInt8]
            if n % 2 == 0 {
                bytes = (0..<Int.random(in: 0...80, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes = valid
                for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            }
            _ = ReplicationWire.decodeStore(bytes)
            _ = ReplicationWire.decodeHave(bytes)
            _ = ReplicationWire.decodeHaveReply(bytes)
            _ = ReplicationWire.decodeRelease(bytes)
            _ = ReplicationWire.decodeStored(bytes)
        }
        #expect(ReplicationWire.decodeStore([3] + valid.dropFirst()) == nil, "unknown flags")
        #expect(ReplicationWire.decodeStore([0] + valid.dropFirst())?.ticket == nil, "a STORE in the old format carries no ticket")
        #expect(ReplicationWire.decodeHaveReply(Array(ReplicationWire.haveReply(.init(load: .nan, demand: 0, pieces: [])))) == nil)
        var huge = ReplicationWire.haveReply(.init(load: 0, demand: 0, pieces: [true]))
        huge[16] = 0xFF; huge[17] = 0xFF; huge[18] = 0xFF; huge[19] = 0x7F
        #expect(ReplicationWire.decodeHaveReply(huge) == nil, "a count the bytes do not back")
    }
}

extension Scheduler {
    /// Holders as (round trip µs, load, pieces held), all in the reader's region.
    init(holders: [(Double, Double, [Bool])], wanted: [Int], window: Int = 4) {
        self.init(holders: holders.map { Input(rtt: $0.0, load: $0.1, has: $0.2) }, wanted: wanted, window: window)
    }
}
