// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import Mesh
import PluginABI
import Testing

@Suite("Peer manager")
struct PeerManagerTests {
    @Test("backoff doubles from the base up to the cap, within the jitter, the same for the same seed")
    func backoff() {
        var a = Backoff(base: 0.5, cap: 30, jitter: 0.2, seed: 9), b = Backoff(base: 0.5, cap: 30, jitter: 0.2, seed: 9)
        let delays = (0..<12).map { a.delay(attempt: $0) }
        #expect(delays == (0..<12).map { b.delay(attempt: $0) })
        for (attempt, delay) in delays.enumerated() {
            let plain = min(30, 0.5 * Double(1 << attempt))
            #expect(delay >= plain * 0.8 && delay <= plain * 1.2, "attempt \(attempt): \(delay)")
        }
        #expect(delays.last! <= 36)
        var other = Backoff(seed: 10)
        #expect((0..<12).map { other.delay(attempt: $0) } != delays)
    }

    @Test("a bootstrap peer that is not up yet is retried until it is, and redialed when it drops")
    func redial() throws {
        let node = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport)]),
            logger: quietLogger)
        try node.start()
        defer { node.shutdown() }
        let peers = PeerManager(transport: TransportHandle(slot: node.slot("transport")!), logger: quietLogger, seed: 3)
        let name = "mem://later-\(UUID().uuidString.prefix(8))"
        _ = try peers.start(listen: [], bootstrap: [name])
        let pump = Thread {
            while !Thread.current.isCancelled {
                _ = node.inbox.drain { type, payload in
                    if let record = TransportRecord(type: type, payload: payload) {
                        peers.handle(record, now: DispatchTime.now().uptimeNanoseconds) { _, offset, _ in _ = node.arena.heap.free(offset) }
                    }
                }
                usleep(1_000)
            }
        }
        pump.start()
        defer { pump.cancel(); peers.stop() }
        usleep(300_000)
        #expect(peers.peers.isEmpty)  // nobody listens yet: retrying

        let server = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport)]),
            logger: quietLogger)
        try server.start()
        try TransportHandle(slot: server.slot("transport")!).listen(name)
        let deadline = Date().addingTimeInterval(15)
        while peers.peers.isEmpty && Date() < deadline { usleep(10_000) }
        #expect(peers.peers.map(\.address) == [name])
        let first = peers.peers.first?.connection

        server.shutdown()  // the peer goes away...
        let back = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport)]),
            logger: quietLogger)
        try back.start()
        defer { back.shutdown() }
        try TransportHandle(slot: back.slot("transport")!).listen(name)  // ...and comes back
        let again = Date().addingTimeInterval(15)
        while (peers.peers.first?.connection ?? first) == first && Date() < again { usleep(10_000) }
        #expect(peers.peers.count == 1)
        #expect(peers.peers.first?.connection != first)
    }
}
