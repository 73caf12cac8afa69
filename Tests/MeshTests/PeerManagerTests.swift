// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import Identity
import MeshCore
import PluginABI
import Testing
import Wire

@testable import Mesh

@Suite("Peer manager")
struct PeerManagerTests {
    /// A host with only the in-memory transport, not started.
    static func memoryHost(arenaMiB: Int = 8, sendLimitKiB: Int? = nil) throws -> HostRuntime {
        try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: arenaMiB << 20, inboxCapacity: 128 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(
                    location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport,
                    config: sendLimitKiB.map { ["send_limit_kib": String($0)] } ?? [:])]),
            logger: quietLogger)
    }

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

    /// A host with the in-memory transport, a peer manager on it and a thread pumping its inbox into it.
    final class MeshNode: Sendable {
        let host: HostRuntime
        let peers: PeerManager
        let identity = NodeIdentity.ephemeral()

        convenience init(chunks: [[UInt8]: [UInt8]] = [:]) throws {
            try self.init(source: { chunks[$0] })
        }

        init(source: @escaping PeerManager.ChunkSource, sendLimitKiB: Int? = nil, stallSeconds: Double = 10) throws {
            host = try PeerManagerTests.memoryHost(arenaMiB: 16, sendLimitKiB: sendLimitKiB)
            try host.start()
            peers = PeerManager(
                host: host, transport: TransportHandle(slot: host.slot("transport")!), identity: identity, logger: quietLogger,
                chunkSource: source, stallSeconds: stallSeconds)
            Thread { [host, peers] in
                host.run(tickNanoseconds: 50_000_000, onInbox: { type, payload in
                    if let record = TransportRecord(type: type, payload: payload) { peers.handle(record, now: DispatchTime.now().uptimeNanoseconds) }
                })
            }.start()
        }

        func stop() {
            peers.stop()
            host.requestStop()
            usleep(20_000)
            host.shutdown()
        }
    }

    @Test("a secure session on every connection: ping, chunk fetch, a missing chunk, the peer's node ID")
    func sessions() throws {
        let key: [UInt8] = [0x12, 0x20] + Array(repeating: 7, count: 32)
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        let server = try MeshNode(chunks: [key: data]), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://server-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, node) = try client.peers.connect(name, expecting: server.identity.id)
        #expect(node == server.identity.id)
        let pong = try client.peers.request(.ping, payload: [1, 2, 3], on: connection)
        #expect(pong.header.type == .pong && pong.payload == [1, 2, 3])
        #expect(try client.peers.fetchChunk(key, from: connection) == data)
        #expect(try client.peers.fetchChunk([0x12, 0x20] + Array(repeating: 8, count: 32), from: connection) == nil)
        let deadline = Date().addingTimeInterval(5)
        while server.peers.peers.first?.node == nil && Date() < deadline { usleep(1_000) }
        #expect(server.peers.peers.first?.node == client.identity.id)
    }

    @Test("a peer that is not the expected node is refused; garbage and plaintext after the handshake close only that connection")
    func hostilePeers() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://guarded-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let refused = #expect(throws: MeshError.self) { _ = try client.peers.connect(name, expecting: NodeIdentity.ephemeral().id) }
        #expect(refused?.message.contains("not the expected") == true)

        // A raw connection that skips the handshake and sends junk: the server hangs up on it.
        let (good, _) = try client.peers.connect(name)
        let raw = try client.peers.transport.dial(name)
        try client.peers.transport.send(raw, [UInt8](repeating: 0xEE, count: 40))
        let deadline = Date().addingTimeInterval(20)  // generous: the full suite runs many tests in parallel on 2 cores
        // The server's tick runs its deadlines too: if the junk is ever dropped unread (it arrived before the
        // connection was announced), the raw connection is still closed at the handshake deadline.
        // First until the server has hung up on the raw connection (sending on it fails): the server may not have
        // even seen it open yet when the loop below first looks.
        while (try? client.peers.transport.send(raw, [0xEE])) != nil && Date() < deadline {
            server.peers.tick(now: DispatchTime.now().uptimeNanoseconds)
            usleep(1_000)
        }
        while server.peers.peers.count > 1 && Date() < deadline {
            server.peers.tick(now: DispatchTime.now().uptimeNanoseconds)
            usleep(1_000)
        }
        #expect(server.peers.peers.count == 1, "\(server.peers.peers)")  // the junk connection is gone...
        #expect(try client.peers.request(.ping, payload: [9], on: good).payload == [9])  // ...the good one works on
    }

    @Test("a bootstrap peer that is not up yet is retried until it is, and redialed when it drops")
    func redial() throws {
        let node = try Self.memoryHost()
        try node.start()
        defer { node.shutdown() }
        let peers = PeerManager(
            host: node, transport: TransportHandle(slot: node.slot("transport")!), identity: NodeIdentity.ephemeral(), logger: quietLogger, seed: 3)
        let name = "mem://later-\(UUID().uuidString.prefix(8))"
        _ = try peers.start(listen: [], bootstrap: [name])
        let pump = Thread {
            while !Thread.current.isCancelled {
                _ = node.inbox.drain { type, payload in
                    if let record = TransportRecord(type: type, payload: payload) { peers.handle(record, now: DispatchTime.now().uptimeNanoseconds) }
                }
                usleep(1_000)
            }
        }
        pump.start()
        defer { pump.cancel(); peers.stop() }
        usleep(300_000)
        #expect(peers.peers.isEmpty)  // nobody listens yet: retrying

        let server = try Self.memoryHost()
        try server.start()
        try TransportHandle(slot: server.slot("transport")!).listen(name)
        let deadline = Date().addingTimeInterval(15)
        while peers.peers.isEmpty && Date() < deadline { usleep(10_000) }
        #expect(peers.peers.map(\.address) == [name])
        let first = peers.peers.first?.connection

        server.shutdown()  // the peer goes away...
        let back = try Self.memoryHost()
        try back.start()
        defer { back.shutdown() }
        try TransportHandle(slot: back.slot("transport")!).listen(name)  // ...and comes back
        let again = Date().addingTimeInterval(15)
        while (peers.peers.first?.connection ?? first) == first && Date() < again { usleep(10_000) }
        #expect(peers.peers.count == 1)
        #expect(peers.peers.first?.connection != first)
    }

    /// 32-byte keys spread over the key space.
    static func recordKey(_ i: Int) -> [UInt8] {
        var x = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
        return (0..<32).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }

    @Test("anti-entropy of provider records: a node pulls only what differs; later announcements win; equal trees cost one question")
    func providerAntiEntropy() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://records-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let key = Self.recordKey
        let providers = (0..<7).map { _ in NodeIdentity.ephemeral() }
        func record(_ i: Int, address: String? = nil, lamport: UInt64 = 1) -> ProviderRecord {
            ProviderRecord(signing: key(i), address: address ?? "tcp://10.0.0.\(i % 7):7400", ttl: 600, lamport: lamport, by: providers[i % 7])
        }
        for i in 0..<300 { #expect(server.peers.providerStore.add(key(i), record(i), now: 0)) }
        for i in 0..<297 { client.peers.providerStore.add(key(i), record(i), now: 0) }  // the client already has all but three
        let (connection, _) = try client.peers.connect(name)
        #expect(try client.peers.syncProviders(on: connection) == 3)
        #expect(client.peers.providerStore.count == 300)
        #expect(try client.peers.syncProviders(on: connection) == 0)  // the roots agree now

        // A later announcement replaces the kept one; an older one does not.
        server.peers.providerStore.add(key(5), record(5, address: "tcp://10.9.9.9:7400", lamport: 9), now: 0)
        #expect(try client.peers.syncProviders(on: connection) == 1)
        let now = DispatchTime.now().uptimeNanoseconds
        #expect(client.peers.providerStore.providers(of: key(5), now: now).first?.address == "tcp://10.9.9.9:7400")
        #expect(client.peers.providerStore.providers(of: key(5), now: now).first?.problem(key: key(5)) == nil, "relayed with its signature")
        #expect(!client.peers.providerStore.add(key(5), record(5, address: "tcp://old:1", lamport: 2), now: now))
    }

    /// Forgeries a hostile member's store may hold for `key`: a record naming `victim` signed with another key,
    /// and `victim`'s genuine record with its address changed (so its signature no longer holds).
    static func forgeries(of victim: NodeIdentity, key: [UInt8]) -> [ProviderRecord] {
        let attacker = NodeIdentity.ephemeral()
        var impersonation = ProviderRecord(member: Membership.member(victim.id), address: "tcp://evil:1", ttl: 600, lamport: 50, publicKey: attacker.publicKey)
        impersonation.signature = attacker.sign(impersonation.signedBytes(key: key))
        var moved = ProviderRecord(signing: key, address: "tcp://victim:1", ttl: 600, lamport: 60, by: victim)
        moved.address = "tcp://evil:2"
        return [impersonation, moved]
    }

    @Test("a forged provider record in a member's store does not spread by anti-entropy: the peer that pulls it drops it")
    func forgedRecordsDoNotSpread() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://forged-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let genuine = NodeIdentity.ephemeral(), victims = [NodeIdentity.ephemeral(), NodeIdentity.ephemeral()]
        for (i, victim) in victims.enumerated() {
            for forged in Self.forgeries(of: victim, key: Self.recordKey(i)) {
                server.peers.providerStore._insertUnverified(Self.recordKey(i), forged, now: 0)
            }
        }
        // The member's own record for a key the victims' forgeries name too, which is genuine and spreads.
        server.peers.providerStore.add(Self.recordKey(0), ProviderRecord(signing: Self.recordKey(0), address: "tcp://good:1", ttl: 600, lamport: 1, by: genuine), now: 0)
        #expect(server.peers.providerStore.count == 3)  // one key per forged member (the two forgeries of a victim share its slot)
        let (connection, _) = try client.peers.connect(name)
        #expect(try client.peers.syncProviders(on: connection) == 1)
        let now = DispatchTime.now().uptimeNanoseconds
        #expect(client.peers.providerStore.count == 1)
        #expect(client.peers.providerStore.providers(of: Self.recordKey(0), now: now).map(\.member) == [Membership.member(genuine.id)])
        #expect(client.peers.providerStore.providers(of: Self.recordKey(1), now: now).isEmpty)
        #expect(try client.peers.syncProviders(on: connection) == 0, "offered again, still refused")
    }

    @Test("FIND_PROVIDERS answers with forged records are dropped by the asker; the genuine ones are kept")
    func forgedProviderAnswers() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://answers-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let key = Self.recordKey(3), genuine = NodeIdentity.ephemeral(), now = DispatchTime.now().uptimeNanoseconds
        let victim = NodeIdentity.ephemeral(), other = NodeIdentity.ephemeral()
        for forged in Self.forgeries(of: victim, key: key).prefix(1) { server.peers.providerStore._insertUnverified(key, forged, now: now) }
        // Signed correctly, but for another key: filed under this one by the hostile store.
        server.peers.providerStore._insertUnverified(key, ProviderRecord(signing: Self.recordKey(4), address: "tcp://other:1", ttl: 600, lamport: 1, by: other), now: now)
        server.peers.providerStore.add(key, ProviderRecord(signing: key, address: "tcp://good:1", ttl: 600, lamport: 1, by: genuine), now: now)
        #expect(server.peers.localProviders(key).count == 3)
        let (connection, _) = try client.peers.connect(name)
        let found = try client.peers.findProviders(key, on: connection, recursive: false)
        #expect(found.map(\.member) == [Membership.member(genuine.id)])
        #expect(found.first?.address == "tcp://good:1")
    }

    @Test("PROVIDE: a record its sender did not sign is refused (and the connection closed); a signed one is kept")
    func provideVerifies() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://provide-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let key = Self.recordKey(7)
        var tampered = ProviderRecord(signing: key, address: "tcp://client:1", ttl: 600, lamport: 3, by: client.identity)
        tampered.ttl = 3600  // changed after signing
        var (connection, _) = try client.peers.connect(name)
        try client.peers.send(WireMessage(.provide, payload: ProviderRecord.encode(key: key, tampered)), on: connection)
        let closed = Date().addingTimeInterval(5)
        while client.peers.peers.contains(where: { $0.connection == connection }) && Date() < closed { usleep(10_000) }
        #expect(!client.peers.peers.contains(where: { $0.connection == connection }), "the server closed the connection")
        #expect(server.peers.providerStore.count == 0)
        (connection, _) = try client.peers.connect(name)
        let signed = ProviderRecord(signing: key, address: "tcp://client:1", ttl: 600, lamport: 3, by: client.identity)
        try client.peers.send(WireMessage(.provide, payload: ProviderRecord.encode(key: key, signed)), on: connection)
        let kept = Date().addingTimeInterval(5)
        while server.peers.providerStore.count == 0 && Date() < kept { usleep(10_000) }
        #expect(server.peers.localProviders(key) == [signed])
    }
}
