// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

/// The fault strategy wraps the in-memory transport (slot "transport.base"); senders use slot "transport".
@Suite("Fault-injecting transport strategy")
struct FaultTransportTests {
    static func sender(_ faults: [String: String]) throws -> TransportNode {
        try TransportNode([
            ("InosMemoryTransport", "transport.base", nil, [:]),
            ("InosFaultTransport", "transport", "transport.base", faults),
        ])
    }

    /// A receiver listening on a fresh name, a sender with `faults` dialed to it, and the connection ids.
    static func pair(_ faults: [String: String]) throws -> (sender: TransportNode, receiver: TransportNode, connection: UInt64, name: String) {
        let receiver = try TransportNode.memory()
        let name = TransportNode.uniqueName("fault")
        try receiver.transport().listen(name)
        let sender = try sender(faults)
        let connection = try sender.transport().dial(name)
        return (sender, receiver, connection, name)
    }

    static func send(_ count: Int, from node: TransportNode, on connection: UInt64) throws {
        for i in 0..<count { try node.transport().send(connection, withUnsafeBytes(of: UInt32(i).littleEndian, Array.init)) }
    }

    static func indices(_ probe: TransportProbe) -> [UInt32] {
        probe.frames.map { $0.bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
    }

    @Test("no faults configured: a transparent wrapper")
    func transparent() throws {
        let (sender, receiver, connection, name) = try Self.pair([:])
        defer { sender.stop(); receiver.stop() }
        #expect(throws: TransportCallError.self) { try sender.transport().localAddress() }  // it listens nowhere
        try Self.send(500, from: sender, on: connection)
        #expect(receiver.probe.wait { $0.frameCount == 500 })
        #expect(Self.indices(receiver.probe).elementsEqual(0..<500))
    }

    @Test("drop: about the configured share is lost, reproducibly for a seed")
    func drop() throws {
        var survivors: [[UInt32]] = []
        for _ in 0..<2 {
            let (sender, receiver, connection, _) = try Self.pair(["drop": "0.3", "seed": "7"])
            try Self.send(2000, from: sender, on: connection)
            receiver.probe.wait(seconds: 1) { $0.frameCount == 2000 }  // never: some are dropped
            survivors.append(Self.indices(receiver.probe))
            sender.stop(); receiver.stop()
        }
        #expect(survivors[0].elementsEqual(survivors[1]))  // same seed, same losses
        #expect((1200...1600).contains(survivors[0].count))
        #expect(survivors[0].elementsEqual(survivors[0].sorted()))  // what arrives stays in order
    }

    @Test("duplicate and reorder: every frame arrives, twice or out of order, none lost")
    func duplicateAndReorder() throws {
        do {
            let (sender, receiver, connection, _) = try Self.pair(["duplicate": "1"])
            defer { sender.stop(); receiver.stop() }
            try Self.send(300, from: sender, on: connection)
            #expect(receiver.probe.wait { $0.frameCount == 600 })
            #expect(Self.indices(receiver.probe).elementsEqual((0..<300).flatMap { [UInt32($0), UInt32($0)] }))
        }
        do {
            let (sender, receiver, connection, _) = try Self.pair(["reorder": "1"])
            defer { sender.stop(); receiver.stop() }
            try Self.send(300, from: sender, on: connection)
            #expect(receiver.probe.wait { $0.frameCount == 300 })
            let got = Self.indices(receiver.probe)
            #expect(got.sorted().elementsEqual(0..<300))
            #expect(!got.elementsEqual(0..<300))
            #expect(got.prefix(4) == [1, 0, 3, 2])  // each held frame goes after the next one
        }
    }

    @Test("delay holds frames back at least that long; partition and isolate cut traffic")
    func delayAndPartition() throws {
        do {
            let (sender, receiver, connection, _) = try Self.pair(["delay_ms": "150"])
            defer { sender.stop(); receiver.stop() }
            let start = Date()
            try Self.send(10, from: sender, on: connection)
            usleep(50_000)
            #expect(receiver.probe.all.frameCount == 0)
            #expect(receiver.probe.wait { $0.frameCount == 10 })
            #expect(Date().timeIntervalSince(start) >= 0.15)
            #expect(Self.indices(receiver.probe).elementsEqual(0..<10))
        }
        let receiver = try TransportNode.memory()
        defer { receiver.stop() }
        let name = TransportNode.uniqueName("cut")
        try receiver.transport().listen(name)
        for faults in [["partition": "mem://elsewhere, \(name)"], ["isolate": "true"]] {
            let sender = try Self.sender(faults)
            let connection = try sender.transport().dial(name)
            try Self.send(50, from: sender, on: connection)
            sender.stop()
        }
        receiver.probe.wait(seconds: 0.3) { $0.frameCount > 0 }
        #expect(receiver.probe.all.frameCount == 0)
    }

    @Test("bad settings and a wrap without its inner slot are clear load errors")
    func badConfiguration() throws {
        let bad = #expect(throws: PluginLoadError.self) { _ = try Self.sender(["drop": "2"]) }
        #expect(bad?.message.contains("must be a probability") == true)
        let orphan = #expect(throws: PluginLoadError.self) {
            _ = try TransportNode([("InosFaultTransport", "transport", "transport.base", [:])])
        }
        #expect(orphan?.message.contains("no enabled plugin serves") == true)
        let base = #expect(throws: PluginLoadError.self) {
            _ = try TransportNode([
                ("InosFaultTransport", "transport.base", "transport", [:]),
                ("InosMemoryTransport", "transport", "transport.base", [:]),
            ])
        }
        #expect(base?.message.contains("base transport") == true)
    }

    @Test("hot swap of the strategy while frames flow: the connection stays up, every frame arrives once, in order")
    func hotSwap() throws {
        let (sender, receiver, connection, _) = try Self.pair([:])
        defer { sender.stop(); receiver.stop() }
        let total = 4000
        let swapped = DispatchSemaphore(value: 0)
        Thread {
            usleep(2_000)
            // Plain pass-through → a strategy that delays every frame by 2 ms → back to pass-through.
            let fault = PluginSpec(location: .path(try! PluginFixtures.builtPlugin("InosFaultTransport")), kind: .transport,
                                   config: ["delay_ms": "2"], explicitSlot: "transport", wraps: "transport.base")
            _ = try! sender.host.swap(slot: "transport", to: fault)
            usleep(2_000)
            var plain = fault
            plain.config = ["seed": "2"]
            _ = try! sender.host.swap(slot: "transport", to: plain)
            swapped.signal()
        }.start()
        try Self.send(total, from: sender, on: connection)
        swapped.wait()
        #expect(sender.host.slot("transport")!.generation >= 3)
        #expect(receiver.probe.wait { $0.frameCount == total })
        let got = Self.indices(receiver.probe)
        let firstOutOfPlace = zip(got, 0...).first { $0.0 != UInt32($0.1) }
        #expect(got.count == total && firstOutOfPlace == nil, "\(got.count) frames; first out of place: \(String(describing: firstOutOfPlace))")
        #expect(receiver.probe.all.closedConnections.isEmpty)
    }
}
