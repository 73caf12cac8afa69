// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization
import Testing

@testable import Replication

/// Repair's bandwidth limit on virtual time: the token bucket and the loop that waits on it, as repair runs them.
@Suite("Repair rate limit")
struct RepairRateTests {
    static let second: UInt64 = 1_000_000_000

    @Test("a full bucket lets a burst through; an empty one says how long to wait; it refills at the rate")
    func bucket() {
        var bucket = TokenBucket(rate: 1000, now: 0)
        #expect(bucket.take(600, now: 0) == 0)
        #expect(bucket.take(400, now: 0) == 0)
        let wait = bucket.take(500, now: 0)
        #expect(abs(wait - 0.5) < 1e-9, "500 units at 1000/s after an empty bucket: 0.5 s, not \(wait)")
        #expect(bucket.take(500, now: Self.second / 4) > 0, "a quarter second refills 250, not 500")
        #expect(bucket.take(500, now: Self.second / 2) == 0)
        // Refill stops at the burst: a long idle time does not bank more than one burst.
        #expect(bucket.take(1000, now: 100 * Self.second) == 0)
        #expect(bucket.take(1, now: 100 * Self.second) > 0)
        // A request larger than the burst waits for a full bucket, then goes into debt rather than never passing.
        #expect(bucket.take(5000, now: 200 * Self.second) == 0)
        #expect(bucket.take(1, now: 201 * Self.second) > 0, "the debt of 4000 is paid back first")
        // A clock that goes backwards takes nothing away and adds nothing.
        var steady = TokenBucket(rate: 10, now: 50 * Self.second)
        #expect(steady.take(10, now: 10 * Self.second) == 0)
        #expect(steady.take(1, now: 10 * Self.second) > 0)
    }

    @Test("pushing 64 MiB at 4 MiB/s takes at least 15 s of (virtual) time, and not much more", arguments: [1 << 20, 256 << 10, 3 << 20])
    func limiterWaits(piece: Int) async {
        let rate = Double(4 << 20)
        let clock = Mutex<UInt64>(0)
        let bucket = Mutex(TokenBucket(rate: rate, now: 0))
        var pushed = 0
        var slept = 0.0
        while pushed < 64 << 20 {
            await RateLimiter.acquire(
                Double(piece), bucket: { body in bucket.withLock { body(&$0) } }, clock: { clock.withLock { $0 } },
                sleep: { seconds in
                    slept += seconds
                    clock.withLock { $0 += UInt64(seconds * 1e9) + 1 }
                })
            pushed += piece
        }
        let elapsed = Double(clock.withLock { $0 }) / 1e9
        // One burst (1 s of rate) is free; the rest is paid at the rate.
        let least = (Double(pushed) - rate) / rate
        #expect(elapsed >= least * 0.999, "pushed \(pushed) bytes in \(elapsed) s: over the 4 MiB/s limit")
        #expect(elapsed <= least + 2, "pushed \(pushed) bytes in \(elapsed) s: the limiter waited far longer than it must")
        #expect(slept > 0)
    }
}
