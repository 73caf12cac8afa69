// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Testing

@Suite("Kademlia")
struct KademliaTests {
    @Test("XOR distance: zero to itself, symmetric, and the bucket of a key is 255 − its distance's leading zeros")
    func distance() {
        let a = Key256(1, 2, 3, 4), b = Key256(0x8000_0000_0000_0000, 2, 3, 4), c = Key256(1, 2, 3, 5)
        #expect(a.distance(to: a) == Key256(0, 0, 0, 0))
        #expect(a.distance(to: b) == b.distance(to: a))
        let table = RoutingTable(owner: a)
        #expect(table.bucket(of: b) == 255)  // differs in the top bit
        #expect(table.bucket(of: c) == 0)  // differs in the lowest bit only (4 ^ 5 = 1)
        #expect(table.bucket(of: a) == nil)
        #expect(Key256(bytes: Array(repeating: 0xFF, count: 32)) == Key256(.max, .max, .max, .max))
        #expect(Key256(bytes: [1]) == nil)
    }

    @Test("a full bucket keeps its old contacts; a failed contact is replaced by the newest candidate")
    func buckets() {
        let owner = Key256(0, 0, 0, 0)
        var table = RoutingTable(owner: owner, k: 2)
        let far = (1...4).map { Key256(0x8000_0000_0000_0000, 0, 0, UInt64($0)) }  // all in bucket 255
        for contact in far { table.seen(contact) }
        #expect(table.closest(to: far[0], count: 10) == [far[0], far[1]])
        table.failed(far[0])
        #expect(Set(table.closest(to: far[0], count: 10)) == [far[1], far[3]])
        #expect(table.count == 2)
    }

    /// 500 nodes are enough for routing tables with many buckets and lookups of several hops; the 2,000- and
    /// 100,000-node figures are `inos sim dht` benchmarks (docs/benchmarks.md), not tests.
    @Test("lookups in 500 nodes find the truly closest node, in few hops, also with 10% of the nodes down")
    func lookups() {
        let sim = DHTSimulator(nodes: 500, seed: 7)
        var hops: [Int] = []
        for i in 0..<100 {
            let from = sim.ids[(i * 37) % sim.ids.count], target = sim.randomKey()
            let lookup = sim.lookup(from: from, target: target)
            #expect(lookup.result.first == sim.trulyClosest(to: target).first)
            #expect(Set(lookup.result).count == 20)
            hops.append(lookup.hops)
        }
        hops.sort()
        #expect(hops[hops.count / 2] <= 4 && hops[hops.count * 99 / 100] <= 6, "hops \(hops)")
        for i in stride(from: 0, to: sim.ids.count, by: 10) { sim.fail(sim.ids[i]) }
        for i in 0..<40 {
            let target = sim.randomKey()
            let lookup = sim.lookup(from: sim.ids[i * 10 + 1], target: target)
            #expect(lookup.result.first == sim.trulyClosest(to: target).first)
        }
    }
}

@Suite("Kademlia keys at their bounds")
struct KademliaBoundsTests {
    @Test("keys 0, 1, max − 1 and max: distances and buckets stay in 0…255, and 31 or 33 bytes are not a key")
    func bounds() {
        let zero = Key256(0, 0, 0, 0), one = Key256(0, 0, 0, 1)
        let max = Key256(.max, .max, .max, .max), belowMax = Key256(.max, .max, .max, .max - 1)
        #expect(zero.leadingZeroBits == 256 && one.leadingZeroBits == 255 && max.leadingZeroBits == 0)
        let table = RoutingTable(owner: zero)
        #expect(table.bucket(of: zero) == nil)
        #expect(table.bucket(of: one) == 0)
        #expect(table.bucket(of: belowMax) == 255)
        #expect(table.bucket(of: max) == 255)
        #expect(RoutingTable(owner: max).bucket(of: belowMax) == 0)
        #expect(max.distance(to: zero) == max)
        #expect(Key256(bytes: Array(repeating: 0, count: 32)) == zero)
        #expect(Key256(bytes: Array(repeating: 0, count: 31)) == nil)
        #expect(Key256(bytes: Array(repeating: 0, count: 33)) == nil)
    }
}
