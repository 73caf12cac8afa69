// SPDX-License-Identifier: Apache-2.0
//
// Ring one-way throughput and latency for 64-byte records (8-byte header + 56-byte payload), one producer
// thread and one consumer thread, against a Mutex<Deque> queue measured in the same run; and the CPU an
// idle node uses. Median of 5 runs for throughput. Goals (issue 2): ≥ 20 M records/s, ≥ 10× the locked
// queue, idle CPU < 1%.
import DequeModule
import Foundation
import Host
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func processCPU() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The payload of one record: 56 bytes, so that with the ring's 8-byte header a record is 64 bytes.
struct Payload {
    var sequence: UInt64
    var stamp: UInt64
    var rest: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
}

let payloadSize = MemoryLayout<Payload>.size
precondition(payloadSize == 56)

func runThread(_ body: @escaping @Sendable () -> Void) -> Thread {
    let thread = Thread(block: body)
    thread.start()
    return thread
}

func join(_ thread: Thread) { while !thread.isFinished { usleep(100) } }

// MARK: Throughput

func ringThroughput(records: Int, publishEvery batch: Int) throws -> Double {
    let arena = try Arena(configuration: ArenaConfiguration(totalSize: 8 << 20))
    let ring = arena.inbox
    let start = now()
    let producer = runThread {
        // A batching producer (like a transport handing over every frame of one socket read): records are
        // published once per 32, and at once when the ring is full.
        var n = 0
        while n < records {
            let status = ring.tryWrite(type: 1, length: payloadSize, publish: n % batch == batch - 1) { buffer in
                buffer.storeBytes(of: Payload(sequence: UInt64(n), stamp: 0), as: Payload.self)
            }
            if status == .ok { n += 1 }
        }
        ring.publish()
    }
    var received = 0
    var checksum: UInt64 = 0
    while received < records {
        received += ring.drain { _, bytes in checksum &+= bytes.loadUnaligned(as: UInt64.self) }
    }
    let elapsed = now() - start
    join(producer)
    precondition(checksum == UInt64(records) * UInt64(records - 1) / 2, "ring lost or reordered records")
    return Double(records) / (Double(elapsed) / 1e9)
}

func lockedThroughput(records: Int) -> Double {
    let queue = Mutex(Deque<(Int32, Payload)>(minimumCapacity: 8192))
    let capacity = 8192  // 512 KiB of 64-byte records, like the ring
    let start = now()
    let producer = runThread {
        var n = 0
        while n < records {
            let accepted = queue.withLock { deque -> Bool in
                guard deque.count < capacity else { return false }
                deque.append((1, Payload(sequence: UInt64(n), stamp: 0)))
                return true
            }
            if accepted { n += 1 }
        }
    }
    var received = 0
    var checksum: UInt64 = 0
    var batch: [(Int32, Payload)] = []
    batch.reserveCapacity(64)
    while received < records {
        queue.withLock { deque in  // take a batch per lock, as the ring's consumer releases per batch
            while batch.count < 64, let item = deque.popFirst() { batch.append(item) }
        }
        for (_, payload) in batch { checksum &+= payload.sequence }
        received += batch.count
        batch.removeAll(keepingCapacity: true)
    }
    let elapsed = now() - start
    join(producer)
    precondition(checksum == UInt64(records) * UInt64(records - 1) / 2, "queue lost records")
    return Double(records) / (Double(elapsed) / 1e9)
}

// MARK: Latency (ping-pong: one-way = round trip / 2)

func ringLatency(roundTrips: Int) throws -> [Double] {
    let arena = try Arena(configuration: ArenaConfiguration(totalSize: 8 << 20))
    let ping = arena.inbox, pong = arena.outbox
    let echo = runThread {
        var done = 0
        while done < roundTrips {
            done += ping.drain { _, bytes in
                let payload = bytes.loadUnaligned(as: Payload.self)
                while pong.tryWrite(type: 2, length: payloadSize, { $0.storeBytes(of: payload, as: Payload.self) }) != .ok {}
            }
        }
    }
    var samples: [Double] = []
    samples.reserveCapacity(roundTrips)
    for n in 0..<roundTrips {
        let sent = now()
        while ping.tryWrite(type: 1, length: payloadSize, { $0.storeBytes(of: Payload(sequence: UInt64(n), stamp: sent), as: Payload.self) }) != .ok {}
        var got = 0
        while got == 0 { got = pong.drain { _, _ in } }
        samples.append(Double(now() - sent) / 2)
    }
    join(echo)
    return samples.sorted()
}

func lockedLatency(roundTrips: Int) -> [Double] {
    let ping = Mutex(Deque<Payload>()), pong = Mutex(Deque<Payload>())
    let echo = runThread {
        var done = 0
        while done < roundTrips {
            if let item = ping.withLock({ $0.popFirst() }) {
                pong.withLock { $0.append(item) }
                done += 1
            }
        }
    }
    var samples: [Double] = []
    samples.reserveCapacity(roundTrips)
    for n in 0..<roundTrips {
        let sent = now()
        ping.withLock { $0.append(Payload(sequence: UInt64(n), stamp: sent)) }
        while pong.withLock({ $0.popFirst() }) == nil {}
        samples.append(Double(now() - sent) / 2)
    }
    join(echo)
    return samples.sorted()
}

// MARK: Idle CPU

func idleCPU(seconds: Double) throws -> Double {
    let host = try HostRuntime(manifest: Manifest())
    let reactor = runThread { host.run() }
    usleep(200_000)  // let it settle into its futex wait
    let cpu0 = processCPU(), wall0 = now()
    usleep(UInt32(seconds * 1e6))
    let cpu = processCPU() - cpu0, wall = now() - wall0
    host.requestStop()
    join(reactor)
    return Double(cpu) / Double(wall) * 100
}

// MARK: Report

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

let records = Int(ProcessInfo.processInfo.environment["RING_BENCH_RECORDS"] ?? "") ?? 20_000_000
let runs = 5
print("INOS ring benchmark — \(records) records of 64 bytes per run, median of \(runs) runs, \(ProcessInfo.processInfo.activeProcessorCount) cores")
var ringRates: [Double] = [], singleRates: [Double] = [], lockedRates: [Double] = []
for _ in 0..<runs {
    ringRates.append(try ringThroughput(records: records, publishEvery: 32))
    singleRates.append(try ringThroughput(records: records / 4, publishEvery: 1))
    lockedRates.append(lockedThroughput(records: records / 4))
}
let ringRate = median(ringRates), singleRate = median(singleRates), lockedRate = median(lockedRates)
let ringLat = try ringLatency(roundTrips: 200_000), lockedLat = lockedLatency(roundTrips: 200_000)
let idle = try idleCPU(seconds: 5)

print("")
print("| measure | SPSC ring | Mutex<Deque> | ratio |")
print("|---|---|---|---|")
print("| one-way throughput, M records/s, publish per 32 records | \(format(ringRate / 1e6)) | \(format(lockedRate / 1e6)) | \(format(ringRate / lockedRate))× |")
print("| one-way throughput, M records/s, publish per record | \(format(singleRate / 1e6)) | \(format(lockedRate / 1e6)) | \(format(singleRate / lockedRate))× |")
print("| one-way latency p50, ns | \(format(percentile(ringLat, 0.5), 0)) | \(format(percentile(lockedLat, 0.5), 0)) | \(format(percentile(lockedLat, 0.5) / percentile(ringLat, 0.5)))× |")
print("| one-way latency p99, ns | \(format(percentile(ringLat, 0.99), 0)) | \(format(percentile(lockedLat, 0.99), 0)) | \(format(percentile(lockedLat, 0.99) / percentile(ringLat, 0.99)))× |")
print("| idle node CPU, % of one core | \(format(idle, 3)) | | |")
print("")
print("all runs, M records/s: ring/32 \(ringRates.map { format($0 / 1e6) }.joined(separator: " ")); ring/1 \(singleRates.map { format($0 / 1e6) }.joined(separator: " ")); locked \(lockedRates.map { format($0 / 1e6) }.joined(separator: " "))")
let goals = [
    ("ring ≥ 20 M records/s (batched publish)", ringRate >= 20e6),
    ("ring ≥ 10× the locked queue (batched publish)", ringRate >= 10 * lockedRate),
    ("ring ≥ 20 M records/s (publish per record)", singleRate >= 20e6),
    ("idle CPU < 1%", idle < 1),
]
for (goal, met) in goals { print("goal: \(goal): \(met ? "met" : "NOT met")") }
