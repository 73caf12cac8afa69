// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import Synchronization
import Testing

@testable import Host

@Suite("Switchboard events")
struct SwitchboardTests {
    static let inbox = UInt32(INOS_SIGNAL_INBOX)
    static let outbox = UInt32(INOS_SIGNAL_OUTBOX)
    static let control = UInt32(INOS_SIGNAL_CONTROL)

    /// A 32-bit word of the switchboard, read atomically.
    static func word(_ board: Switchboard, _ field: KeyPath<inos_switchboard, UInt32>) -> UInt32 {
        let offset = MemoryLayout<inos_switchboard>.offset(of: field)!
        return inos_atomic_load_u32((UnsafeMutableRawPointer(board.raw) + offset).assumingMemoryBound(to: UInt32.self))
    }

    /// Runs `wait(timeoutNanoseconds:)` on its own thread while `meanwhile` runs on this one, and returns
    /// what it took, or nil if it never returned (a lost wake-up: the watchdog then signals to free it).
    static func waitOnThread(
        _ board: Switchboard, timeoutNanoseconds: Int64? = nil, meanwhile: (JoinableThread) -> Void = { _ in }
    ) -> UInt32? {
        let result = Box<UInt32?>(nil)
        let waiter = JoinableThread { result.value = board.wait(timeoutNanoseconds: timeoutNanoseconds) }
        meanwhile(waiter)
        guard waiter.join(watchdogSeconds: 60) else {
            forceWake(board)
            waiter.join()
            return nil
        }
        return result.value
    }

    /// Raises CONTROL and wakes every sleeper with the C protocol directly, not through `signal`, so a test
    /// can free a stuck waiter even when `signal` is what is broken.
    static func forceWake(_ board: Switchboard) {
        let base = UnsafeMutableRawPointer(board.raw)
        let pending = (base + MemoryLayout<inos_switchboard>.offset(of: \.pending)!).assumingMemoryBound(to: UInt32.self)
        let seq = (base + MemoryLayout<inos_switchboard>.offset(of: \.event_seq)!).assumingMemoryBound(to: UInt32.self)
        _ = inos_atomic_fetch_or_u32(pending, control | 0x100 | 0x200)
        _ = inos_atomic_fetch_add_u32(seq, 1)
        sysFutexWake(seq)
    }

    /// Spins until a thread sleeps in `wait` (or `done` says it returned without sleeping).
    static func awaitSleeper(_ board: Switchboard, unless done: () -> Bool = { false }) {
        while word(board, \.waiters) == 0 && !done() { sched_yield() }
    }

    @Test("a signal from another thread wakes a sleeping waiter with exactly its bits, round after round")
    func signalWakesSleeper() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        let patterns: [UInt32] = [Self.inbox, Self.outbox, Self.control, Self.inbox | Self.outbox, 0x8000_0000, 0x7]
        for round in 0..<120 {
            let bits = patterns[round % patterns.count]
            let seq = Self.word(board, \.event_seq)
            let taken = Self.waitOnThread(board) { waiter in
                Self.awaitSleeper(board, unless: { waiter.isFinished })  // the waiter is registered: the signal must go through the futex
                board.signal(bits)
            }
            #expect(taken == bits, "round \(round)")
            if taken == nil { break }  // the watchdog fired: one hang is enough to know
            #expect(Self.word(board, \.event_seq) == seq &+ 1)
            #expect(Self.word(board, \.waiters) == 0, "a waiter that returned must deregister")
            #expect(board.pendingBits == 0)
        }
    }

    @Test("without a signal, wait times out and returns 0")
    func timeoutReturnsZero() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        for timeout: Int64 in [0, 1, 1_000_000, 20_000_000] {
            #expect(board.wait(timeoutNanoseconds: timeout) == 0, "timeout \(timeout) ns")
            #expect(Self.word(board, \.waiters) == 0)
        }
        #expect(Self.word(board, \.event_seq) == 0)
        #expect(board.pendingBits == 0)
    }

    @Test("bits raised before wait are returned at once, without sleeping")
    func bitsRaisedBeforeWait() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        board.signal(Self.outbox)
        #expect(board.pendingBits == Self.outbox)
        // No timeout and nobody left to signal: it returns only because the bits were already there.
        #expect(Self.waitOnThread(board, timeoutNanoseconds: nil) == Self.outbox)
        #expect(board.pendingBits == 0)
        board.signal(Self.inbox)
        #expect(board.wait(timeoutNanoseconds: 0) == Self.inbox, "a zero timeout still takes pending bits")
    }

    @Test("signals coalesce: bits OR together until taken, and each signal bumps the futex word")
    func signalsCoalesce() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        board.signal(Self.inbox)
        board.signal(Self.inbox)
        board.signal(Self.control)
        board.signal(0)
        #expect(board.pendingBits == Self.inbox | Self.control)
        #expect(Self.word(board, \.event_seq) == 4)
        #expect(board.wait(timeoutNanoseconds: 1_000_000) == Self.inbox | Self.control)
        #expect(board.pendingBits == 0)
        #expect(board.wait(timeoutNanoseconds: 1_000_000) == 0, "taken bits are not returned twice")
    }

    @Test("two signalling threads and one waiter: no bit and no wake-up is lost")
    func concurrentSignallers() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        let rounds = 20_000
        let seen = Box<(bits: UInt32, wakes: Int)>((0, 0))
        let finalBits: UInt32 = 0x100 | 0x200
        let waiter = JoinableThread {
            var bits: UInt32 = 0
            var wakes = 0
            while bits & finalBits != finalBits {  // sleeps with no timeout: a lost wake-up hangs here
                bits |= board.wait(timeoutNanoseconds: nil)
                wakes += 1
            }
            seen.value = (bits, wakes)
        }
        let signallers = [(UInt32(0x1), UInt32(0x100)), (0x2, 0x200)].map { pair in
            let (work, done) = pair
            return JoinableThread {
                for round in 0..<rounds {
                    board.signal(round % 3 == 0 ? work | 0x10 : work)
                    if round % 64 == 0 { sched_yield() }
                }
                board.signal(done)
            }
        }
        signallers.forEach { $0.join() }
        let finished = waiter.join(watchdogSeconds: 60)
        if !finished {
            Self.forceWake(board)
            waiter.join()
        }
        #expect(finished, "the waiter slept through a signal")
        #expect(seen.value.bits == 0x313)
        #expect(seen.value.wakes >= 1 && seen.value.wakes <= 2 * rounds + 2)
        #expect(Self.word(board, \.event_seq) == UInt32(2 * rounds + 2))
        #expect(Self.word(board, \.waiters) == 0)
    }

    @Test("a signal written through a second mapping of the arena (another process) wakes the waiter")
    func signalThroughSecondMapping() throws {
        let arena = try makeArena()
        let board = arena.switchboard
        let offset = Int(arena.header.switchboard_offset)
        try withSecondMapping(of: arena) { second in
            #expect(second != arena.base)
            let remote = (second + offset).assumingMemoryBound(to: inos_switchboard.self)
            func field(_ path: KeyPath<inos_switchboard, UInt32>) -> UnsafeMutablePointer<UInt32> {
                (UnsafeMutableRawPointer(remote) + MemoryLayout<inos_switchboard>.offset(of: path)!)
                    .assumingMemoryBound(to: UInt32.self)
            }
            let taken = Self.waitOnThread(board) { waiter in
                while inos_atomic_load_u32(field(\.waiters)) == 0 && !waiter.isFinished { sched_yield() }
                // The C protocol of inos_arena.h, as a plugin in another process would run it.
                _ = inos_atomic_fetch_or_u32(field(\.pending), Self.control)
                _ = inos_atomic_fetch_add_u32(field(\.event_seq), 1)
                sysFutexWake(field(\.event_seq))
            }
            #expect(taken == Self.control, "the futex must be shared, not process-private")
        }
    }

    @Test("switchboard layout matches inos_arena.h: events, backpressure and slots on their own lines")
    func layout() throws {
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.event_seq) == 0)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.waiters) == 4)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.pending) == 8)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.backpressure) == 128)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.high_watermark_permille) == 132)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.low_watermark_permille) == 136)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.pause_count) == 144)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.resume_count) == 152)
        #expect(MemoryLayout<inos_switchboard>.offset(of: \.slots) == 256)
        #expect(MemoryLayout<inos_manifest_slot>.size == 32)
        #expect(MemoryLayout<inos_switchboard>.size == 256 + Int(INOS_MANIFEST_SLOT_COUNT) * 32)

        let arena = try makeArena(high: 0.8, low: 0.3)
        let raw = arena.switchboard.raw.pointee
        #expect(UnsafeMutableRawPointer(arena.switchboard.raw) == arena.base + Int(arena.header.switchboard_offset))
        #expect(raw.high_watermark_permille == 800 && raw.low_watermark_permille == 300)
        #expect(raw.event_seq == 0 && raw.waiters == 0 && raw.pending == 0 && raw.backpressure == 0)
        #expect(raw.pause_count == 0 && raw.resume_count == 0)
    }
}
