// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import Testing

@testable import Host

@Suite("Watermarks, backpressure and switchboard signals")
struct BackpressureTests {
    @Test("hysteresis: pause at the high mark, stay paused in between, resume only at the low mark")
    func hysteresis() {
        var marks = Watermarks(highPermille: 750, lowPermille: 250)
        let fills: [UInt32] = [100, 500, 749, 750, 900, 600, 300, 251, 250, 600, 749, 800, 100]
        let actions = fills.map { marks.update(fillPermille: $0) }
        #expect(actions == [nil, nil, nil, .pause, nil, nil, nil, nil, .resume, nil, nil, .pause, .resume])
    }

    @Test("the inbox fill drives the switchboard flag transports read")
    func inboxDrivesFlag() throws {
        let arena = try Arena(configuration: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 4096, outboxCapacity: 4096))
        let board = arena.switchboard
        let record = [UInt8](repeating: 7, count: 56)  // 64-byte records
        for _ in 0..<48 { #expect(record.withUnsafeBytes { arena.inbox.tryWrite(type: 1, $0) } == .ok) }  // 75%
        #expect(board.updateBackpressure(fill: arena.inbox.fill) == .pause)
        #expect(board.isBackpressured)
        arena.inbox.drain(limit: 20) { _, _ in }  // 43%: still paused
        #expect(board.updateBackpressure(fill: arena.inbox.fill) == nil)
        #expect(board.isBackpressured)
        arena.inbox.drain(limit: 12) { _, _ in }  // 25%: resume
        #expect(board.updateBackpressure(fill: arena.inbox.fill) == .resume)
        #expect(!board.isBackpressured)
        #expect(board.backpressureCounts == (1, 1))
    }

    @Test("the host's reactor pauses producers while its handler is slower than they are")
    func reactorSetsBackpressure() throws {
        let host = try HostRuntime(
            manifest: Manifest(arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 8192, outboxCapacity: 4096)))
        let reactor = Thread {
            host.run(tickNanoseconds: 10_000_000, onInbox: { _, _ in usleep(200) })
        }
        reactor.start()
        var sawPause = false
        let record = [UInt8](repeating: 1, count: 56)
        // A transport delivering 600 frames: it stops reading while the flag is up.
        var delivered = 0
        while delivered < 600 {
            if host.arena.switchboard.isBackpressured {
                sawPause = true
                usleep(100)
                continue
            }
            if record.withUnsafeBytes({ host.inbox.push(type: 1, $0) }) == INOS_OK { delivered += 1 } else { usleep(10) }
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && (host.arena.inbox.usedBytes > 0 || host.arena.switchboard.isBackpressured) { usleep(1000) }
        host.requestStop()
        while !reactor.isFinished { usleep(1000) }
        #expect(sawPause)
        #expect(!host.arena.switchboard.isBackpressured)
        #expect(host.arena.switchboard.backpressureCounts.pauses >= 1)
        #expect(host.arena.switchboard.backpressureCounts.pauses == host.arena.switchboard.backpressureCounts.resumes)
    }

    @Test("a signal from another thread wakes a waiting host with its bits; bits coalesce")
    func signalAndWait() throws {
        let arena = try Arena(configuration: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 4096, outboxCapacity: 4096))
        let board = arena.switchboard
        #expect(board.wait(timeoutNanoseconds: 1_000_000) == 0)  // nothing raised: times out
        board.signal(UInt32(INOS_SIGNAL_INBOX))
        board.signal(UInt32(INOS_SIGNAL_CONTROL))
        #expect(board.wait(timeoutNanoseconds: 0) == UInt32(INOS_SIGNAL_INBOX | INOS_SIGNAL_CONTROL))
        Thread {
            usleep(20_000)
            board.signal(UInt32(INOS_SIGNAL_OUTBOX))
        }.start()
        #expect(board.wait(timeoutNanoseconds: 5_000_000_000) == UInt32(INOS_SIGNAL_OUTBOX))
        #expect(board.pendingBits == 0)
    }
}
