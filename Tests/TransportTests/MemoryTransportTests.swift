// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Synchronization
import Testing

@Suite("In-memory transport")
struct MemoryTransportTests {
    @Test("dial, frames both ways in order and intact, close: records on both sides")
    func exchange() throws {
        let a = try TransportNode.memory(), b = try TransportNode.memory()
        defer { a.stop(); b.stop() }
        let name = TransportNode.uniqueName("a")
        try a.transport().listen(name)
        #expect(try a.transport().localAddress() == name)
        let toA = try b.transport().dial(name)
        #expect(a.probe.wait { $0.openedConnections.count == 1 })
        #expect(b.probe.wait { !$0.isEmpty })
        #expect(b.probe.all.first == .opened(connection: toA, inbound: false, peer: name))
        guard case .opened(let fromB, true, _) = a.probe.all.first else {
            Issue.record("no inbound OPENED record: \(a.probe.all)")
            return
        }
        let sizes = [0, 1, 7, 4096, 65_536, 100_000]
        for i in 0..<300 { try b.transport().send(toA, TransportNode.payload(i, size: sizes[i % sizes.count])) }
        try a.transport().send(fromB, Array("pong".utf8))
        #expect(a.probe.wait { $0.frameCount == 300 })
        #expect(b.probe.wait { $0.frameCount == 1 })
        let received = a.probe.frames
        #expect(received.allSatisfy { $0.connection == fromB })
        #expect(received.enumerated().allSatisfy { $0.element.bytes == TransportNode.payload($0.offset, size: sizes[$0.offset % sizes.count]) })
        #expect(b.probe.frames.first?.bytes == Array("pong".utf8))

        b.transport().close(toA)
        #expect(a.probe.wait { $0.closedConnections.count == 1 })
        #expect(a.probe.all.last == .closed(connection: fromB, reason: INOS_OK, inbound: true, peer: "mem://anonymous"))
        #expect(b.probe.wait { $0.closedConnections.map(\.0) == [toA] })
        #expect(throws: TransportCallError.self) { try b.transport().send(toA, [1]) }
        // Every frame's arena block was freed by the probe: nothing leaked.
        #expect(a.probe.wait { _ in a.host.arena.heap.statistics.bytesInUse == 0 })
    }

    @Test("backpressure: frames wait in the transport, senders get INOS_ERR_FULL, nothing is lost or reordered")
    func backpressure() throws {
        let a = try TransportNode.memory(), b = try TransportNode.memory(["send_limit_kib": "256"])
        defer { a.stop(); b.stop() }
        let name = TransportNode.uniqueName("bp")
        try a.transport().listen(name)
        let toA = try b.transport().dial(name)
        #expect(a.probe.wait { $0.openedConnections.count == 1 })
        // The host asks transports to pause, as the reactor does above the high watermark.
        _ = a.host.arena.switchboard.updateBackpressure(fill: 1.0)
        var accepted = 0
        var full: TransportCallError?
        while full == nil && accepted < 1000 {
            do throws(TransportCallError) {
                try b.transport().send(toA, TransportNode.payload(accepted, size: 10_000))
                accepted += 1
            } catch { full = error }
        }
        #expect(full?.status.rawValue == INOS_ERR_FULL)
        #expect(accepted >= 25 && accepted < 1000)
        usleep(20_000)
        #expect(a.probe.all.frameCount == 0)  // nothing crossed into the paused host
        #expect(b.probe.all.writableConnections.isEmpty, "no WRITABLE while the peer's host takes nothing")
        _ = a.host.arena.switchboard.updateBackpressure(fill: 0.0)
        #expect(a.probe.wait { $0.frameCount == accepted })
        #expect(a.probe.frames.enumerated().allSatisfy { $0.element.bytes == TransportNode.payload($0.offset, size: 10_000) })
        // The refused sender is told, once, that it may send again (ABI 1.3), and it can.
        #expect(b.probe.wait { $0.writableConnections == [toA] })
        try b.transport().send(toA, TransportNode.payload(accepted, size: 10_000))
        #expect(a.probe.wait { $0.frameCount == accepted + 1 })
        #expect(b.probe.all.writableConnections == [toA])
    }

    @Test("bad addresses, unknown peers and connections are clear errors; a stopped node's peers see CLOSED")
    func errorsAndShutdown() throws {
        let a = try TransportNode.memory(), b = try TransportNode.memory()
        defer { b.stop() }
        let refused = #expect(throws: TransportCallError.self) { try b.transport().dial("mem://nobody-here") }
        #expect(refused?.status.rawValue == INOS_ERR_IO)
        #expect(refused?.message.contains("connection refused") == true)
        let scheme = #expect(throws: TransportCallError.self) { try b.transport().dial("tcp://127.0.0.1:1") }
        #expect(scheme?.status.rawValue == INOS_ERR_INVALID_ARGUMENT)
        #expect(throws: TransportCallError.self) { try b.transport().send(42, [1]) }
        let name = TransportNode.uniqueName("stop")
        try a.transport().listen(name)
        let twice = #expect(throws: TransportCallError.self) { try b.transport().listen(name) }
        #expect(twice?.message.contains("already in use") == true)
        let toA = try b.transport().dial(name)
        a.stop()
        #expect(b.probe.wait { $0.closedConnections.map(\.0) == [toA] })
        #expect(b.probe.all.closedConnections.first?.1 == INOS_ERR_CLOSED)
        #expect(throws: TransportCallError.self) { try b.transport().dial(name) }  // no longer listening
    }

    @Test("a frame sent the moment the dialer sees OPENED still reaches the acceptor after the acceptor's OPENED")
    func openedBeforeFirstFrame() throws {
        let acceptor = try TransportNode.memory()
        defer { acceptor.stop() }
        let dialer = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 8 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosMemoryTransport")), kind: .transport)]),
            logger: quietLogger)
        try dialer.start()
        defer { dialer.shutdown() }
        let transport = TransportHandle(slot: dialer.slot("transport")!)
        let name = TransportNode.uniqueName("order")
        try acceptor.transport().listen(name)
        // The dialer's side answers its own OPENED at once, on another thread, as a node's reactor does.
        let running = Atomic<Bool>(true)
        let reactor = Thread {
            while running.load(ordering: .acquiring) {
                _ = dialer.inbox.drain { type, payload in
                    if case .opened(let connection, false, _)? = TransportRecord(type: type, payload: payload) {
                        try? transport.send(connection, [1])
                    }
                }
            }
        }
        reactor.start()
        for _ in 0..<200 { _ = try transport.dial(name) }
        #expect(acceptor.probe.wait { $0.frameCount == 200 })
        running.store(false, ordering: .releasing)
        var opened: Set<UInt64> = []
        for event in acceptor.probe.all {
            switch event {
            case .opened(let connection, _, _): opened.insert(connection)
            case .frame(let connection, _): #expect(opened.contains(connection), "a frame on \(connection) came before its OPENED")
            default: break
            }
        }
    }
}
