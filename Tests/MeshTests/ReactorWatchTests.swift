// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import InosSystem
import Synchronization
import Testing
import Wire

@testable import Mesh

@Suite("Reactor watch and stall detector")
struct ReactorWatchTests {
    final class FakeClock: Sendable {
        let value = Atomic<UInt64>(1_000)
        func advance(_ seconds: Double) { value.add(UInt64(seconds * 1e9), ordering: .relaxed) }
    }

    @Test("the watch says where the reactor is, since when, and how long its last callback ran")
    func watch() {
        let clock = FakeClock()
        let watch = ReactorWatch { clock.value.load(ordering: .relaxed) }
        #expect(watch.snapshot().since == nil)
        watch.begin(.transportRecord)
        let started = clock.value.load(ordering: .relaxed)
        watch.enter(.frame, type: .membership)
        clock.advance(0.5)
        var snapshot = watch.snapshot()
        #expect(snapshot.since == started)
        #expect(snapshot.location == ReactorWatch.Location(.frame, type: .membership))
        #expect(snapshot.thread == sysThreadID())
        watch.end()
        snapshot = watch.snapshot()
        #expect(snapshot.since == nil)
        #expect(snapshot.lastSince == started && snapshot.lastLength == 500_000_000)
        // Every phase and every frame type survive the packing.
        for phase in ReactorWatch.Phase.allCases {
            for type in [nil, FrameType(rawValue: 0), FrameType(rawValue: 255)] {
                watch.enter(phase, type: type)
                #expect(watch.snapshot().location == ReactorWatch.Location(phase, type: type))
            }
        }
    }

    static func sample(_ at: Double, cpu: Double, wait: Double, _ activity: ThreadSample.Activity = .running) -> ThreadSample {
        ThreadSample(at: UInt64(at * 1e9), onCPU: UInt64(cpu * 1e9), waitingForCPU: UInt64(wait * 1e9), activity: activity)
    }

    static func snapshot(since: Double?, _ location: ReactorWatch.Location, lastSince: Double = 0, lastLength: Double = 0) -> ReactorWatch.Snapshot {
        ReactorWatch.Snapshot(since: since.map { UInt64($0 * 1e9) }, location: location, lastSince: UInt64(lastSince * 1e9), lastLength: UInt64(lastLength * 1e9))
    }

    @Test("a callback under the threshold is no stall; past it one 'began', and at its end one 'ended' with its exact length and CPU account")
    func detector() throws {
        var detector = StallDetector(thresholdSeconds: 1)
        let merkle = ReactorWatch.Location(.frame, type: FrameType(rawValue: 0x7E))
        // Busy 0.9 s: nothing.
        #expect(detector.check(now: 10_900_000_000, Self.snapshot(since: 10, merkle), sample: Self.sample(10.9, cpu: 1, wait: 0)).isEmpty)
        #expect(detector.check(now: 11_000_000_000, Self.snapshot(since: nil, .init(.idle), lastSince: 10, lastLength: 0.95), sample: nil).isEmpty)
        #expect(detector.stalls == 0 && detector.longest == 0)

        // A callback from 20 s: readings at 19.9 (before it), 21.2, 22.4; blocked in futex throughout.
        _ = detector.check(now: 19_900_000_000, Self.snapshot(since: nil, .init(.idle)), sample: Self.sample(19.9, cpu: 2, wait: 0.5))
        let began = detector.check(now: 21_200_000_000, Self.snapshot(since: 20, merkle), sample: Self.sample(21.2, cpu: 2.1, wait: 0.6, .inSyscall(202)))
        guard case .began(let first) = try #require(began.first) else { Issue.record("no began: \(began)"); return }
        #expect(began.count == 1)
        #expect(abs(first.seconds - 1.2) < 1e-9)
        #expect(first.location == merkle)
        #expect(detector.stalls == 1)
        #expect(detector.check(now: 22_400_000_000, Self.snapshot(since: 20, merkle), sample: Self.sample(22.4, cpu: 2.2, wait: 0.7, .inSyscall(202))).isEmpty)
        // It returned at 22.5 (the watch's last callback), seen at 22.6.
        let ended = detector.check(now: 22_600_000_000, Self.snapshot(since: nil, .init(.idle), lastSince: 20, lastLength: 2.5),
                                   sample: Self.sample(22.6, cpu: 2.3, wait: 0.8))
        guard case .ended(let stall) = try #require(ended.first) else { Issue.record("no ended: \(ended)"); return }
        #expect(abs(stall.seconds - 2.5) < 1e-9)
        #expect(abs(try #require(stall.onCPU) - 0.3) < 1e-9)
        #expect(abs(try #require(stall.waitingForCPU) - 0.3) < 1e-9)
        #expect(abs(try #require(stall.blocked) - 2.1) < 1e-9)
        #expect(stall.activities.map(\.0) == ["futex"] && stall.activities.map(\.1) == [2])
        #expect(stall.cause == "blocked (in futex)")
        #expect(detector.longest == 2.5)
        #expect(stall.description.contains("2.5 s in a frame (0x7E)"), "\(stall.description)")

        // Starved: runnable but not running for most of it; a later callback ends the stall, whose length is
        // then known only to the last check that saw it.
        _ = detector.check(now: 30_000_000_000, Self.snapshot(since: nil, .init(.idle)), sample: Self.sample(30, cpu: 3, wait: 1))
        _ = detector.check(now: 31_500_000_000, Self.snapshot(since: 30.1, .init(.membership)), sample: Self.sample(31.5, cpu: 3.1, wait: 2.3))
        let next = detector.check(now: 32_000_000_000, Self.snapshot(since: 31.9, .init(.transportRecord), lastSince: 31.8, lastLength: 0.01),
                                  sample: Self.sample(32, cpu: 3.2, wait: 2.8))
        guard case .ended(let starved) = try #require(next.first) else { Issue.record("no ended: \(next)"); return }
        #expect(abs(starved.seconds - 1.4) < 1e-9)
        #expect(starved.cause == "starved: runnable but waiting for a CPU")
        #expect(detector.stalls == 2)
    }

    @Test("without the kernel's account the stall is still reported, its cause unknown")
    func noSchedulerStatistics() throws {
        var detector = StallDetector(thresholdSeconds: 0.5)
        let began = detector.check(now: 2_000_000_000, Self.snapshot(since: 1, .init(.gossip)), sample: nil)
        guard case .began(let stall) = try #require(began.first) else { Issue.record("\(began)"); return }
        #expect(stall.onCPU == nil && stall.cause == "cause unknown (no scheduler statistics)")
    }

    @Test("a real thread blocked in a callback is reported blocked in futex; one that spins is on a CPU")
    func realThread() throws {
        let watch = ReactorWatch()
        let release = DispatchSemaphore(value: 0)
        let spin = Atomic<Bool>(false)
        let thread = Thread {
            watch.begin(.frame)
            watch.enter(.frame, type: FrameType(rawValue: 0x41))
            _ = release.wait(timeout: .now() + 10)
            watch.end()
            watch.begin(.tick)
            while !spin.load(ordering: .relaxed) {}
            watch.end()
        }
        thread.start()
        var detector = StallDetector(thresholdSeconds: 0.3)
        var events: [StallDetector.Event] = []
        func check() {
            let snapshot = watch.snapshot()
            let sample = snapshot.thread == 0 ? nil : ThreadSample.read(thread: snapshot.thread)
            events += detector.check(now: watch.now, snapshot, sample: sample)
        }
        for _ in 0..<8 { check(); usleep(100_000) }
        release.signal()
        for _ in 0..<8 { check(); usleep(100_000) }
        spin.store(true, ordering: .relaxed)
        for _ in 0..<3 { check(); usleep(100_000) }

        let ended = events.compactMap { if case .ended(let stall) = $0 { stall } else { nil } }
        #expect(ended.count == 2, "\(events)")
        let blocked = try #require(ended.first)
        #expect(blocked.location == ReactorWatch.Location(.frame, type: FrameType(rawValue: 0x41)))
        #expect(blocked.cause == "blocked (in futex)", "\(blocked)")
        #expect(blocked.seconds >= 0.7)
        let spun = try #require(ended.last)
        #expect(spun.location == ReactorWatch.Location(.tick))
        // On a CPU or waiting for one (a loaded machine), never blocked.
        #expect(spun.cause.hasPrefix("busy") || spun.cause.hasPrefix("starved"), "\(spun)")
    }
}
