// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Primitives
import Synchronization
import Testing

@Suite("Lamport clocks: the value and a node's shared one")
struct NodeLamportTests {
    @Test("tick(atLeast:) is max(time + 1, floor), and saturates at LamportClock.maximum (2^62)")
    func floor() {
        var clock = LamportClock(10)
        #expect(clock.tick(atLeast: 5) == 11)
        #expect(clock.tick(atLeast: 100) == 100)
        #expect(clock.tick(atLeast: 100) == 101)
        var top = LamportClock(.max)
        #expect(top.tick(atLeast: 3) == LamportClock.maximum)
        #expect(top.tick(atLeast: .max) == LamportClock.maximum)
    }

    @Test("a node's clock ticks, witnesses (max + 1) and lends itself to a state machine's clock")
    func shared() {
        let lamport = NodeLamport(100)
        #expect(lamport.tick() == 101)
        #expect(lamport.witness(50) == 102)
        #expect(lamport.witness(500) == 501)
        #expect(lamport.tick(atLeast: 1_000) == 1_000)
        var machine = LamportClock(7)
        lamport.withClock { shared in
            machine = LamportClock(max(machine.time, shared.time))
            machine.tick()
            shared = machine
        }
        #expect(lamport.time == 1_001)
        // A machine behind the node is raised to it; the node takes the machine's time after the call.
        struct Machine { var clock = LamportClock(3) }
        var behind = Machine()
        let stamped = lamport.stamping(&behind, clock: \.clock) { $0.clock.tick() }
        #expect(stamped == 1_002 && lamport.time == 1_002)
        #expect(NodeLamport().time == 0)
    }

    @Test("a remote time above the ceiling is not witnessed but counted; a state machine's clock takes the node's ceiling and count")
    func ceiling() {
        var clock = LamportClock(10)
        clock.ceiling = 1_000
        #expect(clock.witness(1_000) == 1_001)
        #expect(clock.witness(5_000) == 1_002 && clock.refused == 1, "ticks, does not jump")
        #expect(clock.witness(LamportClock.maximum) == 1_003 && clock.refused == 2)
        // The node's ceiling follows its source (a wall clock in a node); a machine stamping with it refuses too.
        let ceiling = Mutex<UInt64>(500)
        let lamport = NodeLamport(100, ceiling: { ceiling.withLock { $0 } })
        #expect(lamport.witness(400) == 401)
        #expect(lamport.witness(600) == 402 && lamport.refused == 1)
        ceiling.withLock { $0 = 10_000 }
        #expect(lamport.witness(600) == 601 && lamport.refused == 1)
        struct Machine { var clock = LamportClock(3) }
        var machine = Machine()
        lamport.stamping(&machine, clock: \.clock) { _ = $0.clock.witness(1 << 40) }
        #expect(lamport.refused == 2 && lamport.time == 602, "the machine's refusal reaches the node's count; its time does not jump")
        lamport.stamping(&machine, clock: \.clock) { _ = $0.clock.witness(9_000) }
        #expect(lamport.time == 9_001 && lamport.refused == 2)
        // Without a ceiling source, everything up to the maximum is witnessed (saturating there).
        #expect(NodeLamport(0).witness(LamportClock.maximum) == LamportClock.maximum)
    }

    @Test("ticks from many threads at once are all different and end at their count")
    func concurrent() {
        let lamport = NodeLamport()
        let results = Mutex<[UInt64]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine = [UInt64]()
            for _ in 0..<1_000 { mine.append(lamport.tick()) }
            results.withLock { $0 += mine }
        }
        let all = results.withLock { $0 }
        #expect(Set(all).count == 8_000)
        #expect(lamport.time == 8_000)
    }
}
