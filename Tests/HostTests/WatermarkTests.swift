// SPDX-License-Identifier: Apache-2.0
import Foundation
import HostTestSupport
import PluginABI
import Testing

@testable import Host

@Suite("Watermarks and backpressure")
struct WatermarkTests {
    // MARK: The hysteresis value type

    @Test("pause at the high mark, stay paused in between, resume only at the low mark")
    func hysteresis() {
        var marks = Watermarks(highPermille: 750, lowPermille: 250)
        let fills: [UInt32] = [0, 100, 500, 749, 750, 1000, 900, 600, 300, 251, 250, 0, 600, 749, 800, 251, 100]
        let actions = fills.map { marks.update(fillPermille: $0) }
        #expect(actions == [nil, nil, nil, nil, .pause, nil, nil, nil, nil, nil, .resume, nil, nil, nil, .pause, nil, .resume])
        #expect(!marks.paused)
    }

    @Test("fill oscillating anywhere between the marks, or around one mark, never flaps")
    func noFlapping() {
        var marks = Watermarks(highPermille: 800, lowPermille: 200)
        for fill in (0..<1000).map({ UInt32(201 + $0 % 599) }) {  // 201...799, over and over
            #expect(marks.update(fillPermille: fill) == nil)
        }
        #expect(!marks.paused)
        let aroundHigh = (0..<100).map { _ in [UInt32(799), 800] }.joined().map { marks.update(fillPermille: $0) }
        #expect(aroundHigh.compactMap { $0 } == [.pause], "only the first touch of the high mark pauses")
        let aroundLow = (0..<100).map { _ in [UInt32(201), 200] }.joined().map { marks.update(fillPermille: $0) }
        #expect(aroundLow.compactMap { $0 } == [.resume], "only the first touch of the low mark resumes")
    }

    @Test("a seeded random walk of fills matches the hysteresis model; pauses and resumes alternate")
    func randomWalk() {
        var random = SeededRandom(seed: 42)
        for (high, low) in [(UInt32(750), UInt32(250)), (1000, 999), (1, 0), (501, 500)] {
            var marks = Watermarks(highPermille: high, lowPermille: low)
            var paused = false
            var fill = 0
            var transitions: [Watermarks.Transition] = []
            for _ in 0..<20_000 {
                fill = max(0, min(1000, fill + Int(random.next() % 61) - 30))
                let expected: Watermarks.Transition? =
                    !paused && fill >= high ? .pause : paused && fill <= low ? .resume : nil
                if let expected { paused = expected == .pause }
                let action = marks.update(fillPermille: UInt32(fill))
                #expect(action == expected, "high \(high) low \(low) fill \(fill)")
                #expect(marks.paused == paused)
                if let action { transitions.append(action) }
            }
            #expect(zip(transitions, transitions.dropFirst()).allSatisfy { $0 != $1 })
            #expect(transitions.first == .pause || transitions.isEmpty)
        }
    }

    @Test("a state that starts paused resumes at the low mark")
    func startsPaused() {
        var marks = Watermarks(highPermille: 600, lowPermille: 400, paused: true)
        #expect(marks.update(fillPermille: 900) == nil)
        #expect(marks.update(fillPermille: 401) == nil)
        #expect(marks.update(fillPermille: 400) == .resume)
    }

    @Test("watermarks with low not below high are refused")
    func invalidMarksTrap() async {
        await #expect(processExitsWith: .failure) { _ = Watermarks(highPermille: 500, lowPermille: 500) }
    }

    // MARK: The switchboard's flag

    @Test("updateBackpressure publishes the flag and counts each transition once")
    func switchboardFlagAndCounts() throws {
        let arena = try makeArena(high: 0.75, low: 0.25)
        let board = arena.switchboard
        #expect(board.watermarksPermille == (750, 250))
        #expect(!board.isBackpressured && board.backpressureCounts == (0, 0))

        let steps: [(fill: Double, transition: Watermarks.Transition?, paused: Bool)] = [
            (0.5, nil, false), (0.7499, nil, false), (0.75, .pause, true), (0.99, nil, true), (1.0, nil, true),
            (0.5, nil, true), (0.26, nil, true), (0.25, .resume, false), (0.1, nil, false), (0.0, nil, false),
            (0.9, .pause, true), (0.0, .resume, false),
        ]
        for step in steps {
            #expect(board.updateBackpressure(fill: step.fill) == step.transition, "fill \(step.fill)")
            #expect(board.isBackpressured == step.paused, "fill \(step.fill)")
            #expect(board.raw.pointee.backpressure == (step.paused ? 1 : 0))
        }
        #expect(board.backpressureCounts == (2, 2))
        #expect(board.raw.pointee.pause_count == 2 && board.raw.pointee.resume_count == 2)
    }

    @Test("filling the arena inbox past the high mark sets the flag; draining under the low mark clears it")
    func inboxFillDrivesFlag() throws {
        let arena = try makeArena(inbox: 8192, high: 0.75, low: 0.25)
        let inbox = arena.inbox
        let board = arena.switchboard
        let record = [UInt8](repeating: 7, count: 56)  // 64 bytes with its header
        var written = 0
        while inbox.fill < 0.75 {
            #expect(board.updateBackpressure(fill: inbox.fill) == nil, "paused too early at \(inbox.fill)")
            #expect(record.withUnsafeBytes { inbox.tryWrite(type: 1, $0) } == .ok)
            written += 1
        }
        #expect(written == 96)  // 96 × 64 = 6144 = 75% of 8192
        #expect(board.updateBackpressure(fill: inbox.fill) == .pause)
        #expect(board.isBackpressured)

        while inbox.fill > 0.25 {
            #expect(inbox.drain(limit: 1) { _, _ in } == 1)
            let transition = board.updateBackpressure(fill: inbox.fill)
            #expect(transition == (inbox.fill <= 0.25 ? .resume : nil), "at \(inbox.fill)")
            #expect(board.isBackpressured == (inbox.fill > 0.25))
        }
        #expect(!board.isBackpressured)
        #expect(inbox.usedBytes == 2048)
        #expect(board.backpressureCounts == (1, 1))
    }

    @Test("the host reactor pauses producers when its inbox backs up and resumes them once it catches up")
    func reactorBackpressure() throws {
        let host = try HostRuntime(
            manifest: Manifest(arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 8192, outboxCapacity: 4096)),
            logger: quietLogger)
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let handled = Box(0)
        let reactor = JoinableThread {
            host.run(
                tickNanoseconds: 1_000_000_000,
                onInbox: { _, _ in
                    if handled.update({ $0 += 1; return $0 }) == 1 {
                        entered.signal()
                        release.wait()  // the handler is stuck on the first record while producers go on
                    }
                })
        }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(host.inbox.push(type: 1, empty).rawValue == INOS_OK)
        entered.wait()
        var pushed = 1
        while host.inbox.push(type: 1, empty).rawValue == INOS_OK { pushed += 1 }  // 8-byte records, until full
        #expect(pushed == 8192 / 8, "the first record is consumed but its space not yet released")
        #expect(!host.arena.switchboard.isBackpressured, "the reactor has not looked at the fill yet")
        release.signal()

        // The reactor now drains 1024 records in batches, judging the fill between batches.
        var watchdog = 0
        while handled.value < pushed || host.arena.switchboard.isBackpressured {
            usleep(1000)
            watchdog += 1
            if watchdog > 60_000 { break }  // a hang, not slowness: fail rather than block forever
        }
        host.requestStop()
        reactor.join()
        #expect(handled.value == pushed)
        #expect(!host.arena.switchboard.isBackpressured)
        #expect(host.arena.switchboard.backpressureCounts == (1, 1))
        #expect(host.arena.inbox.usedBytes == 0)
    }

    @Test("watermarks that differ by less than 1/1000 are refused, not accepted to trap later")
    func watermarksCloserThanOnePermille() async {
        // The switchboard stores the marks in per mille; 0.7504 and 0.7496 both round to 750, so they are
        // refused up front instead of failing Watermarks' low < high precondition at the first update.
        #expect(throws: ArenaError.self) { _ = try makeArena(high: 0.7504, low: 0.7496) }
        await #expect(processExitsWith: .success) {
            if let arena = try? Arena(
                configuration: ArenaConfiguration(
                    totalSize: 4 << 20, inboxCapacity: 4096, outboxCapacity: 4096, highWatermark: 0.7504,
                    lowWatermark: 0.7496))
            {
                arena.switchboard.updateBackpressure(fill: 0.5)
            }
        }
        #expect((try? makeArena(high: 0.751, low: 0.750)) != nil)  // one per mille apart is enough
    }
}
