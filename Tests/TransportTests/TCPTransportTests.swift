// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import PluginABI
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("TCP transport")
struct TCPTransportTests {
    static func node(_ config: [String: String] = [:]) throws -> TransportNode {
        try TransportNode([("InosTCPTransport", "transport", nil, config)])
    }

    /// A node listening on a free loopback port, and its address.
    static func listening(_ config: [String: String] = [:]) throws -> (TransportNode, String) {
        let node = try node(config)
        try node.transport().listen("tcp://127.0.0.1:0")
        return (node, try node.transport().localAddress())
    }

    /// A plain socket to `address`, for speaking raw bytes at a node.
    static func rawSocket(_ address: String) throws -> Int32 {
        let port = UInt16(address.split(separator: ":").last!)!
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(status == 0)
        return fd
    }

    @Test("listen on port 0, dial, frames up to 4 MiB both ways in order, close: records on both sides")
    func exchange() throws {
        let (a, address) = try Self.listening()
        let b = try Self.node()
        defer { a.stop(); b.stop() }
        #expect(address.hasPrefix("tcp://127.0.0.1:") && !address.hasSuffix(":0"))
        let toA = try b.transport().dial(address)
        #expect(b.probe.wait { !$0.isEmpty })
        #expect(b.probe.all.first == .opened(connection: toA, inbound: false, peer: address))
        #expect(a.probe.wait { $0.openedConnections.count == 1 })
        let fromB = a.probe.all.openedConnections[0]
        let sizes = [0, 1, 100, 65_536, 1 << 20, 4 << 20]
        for i in 0..<24 { try b.transport().send(toA, TransportNode.payload(i, size: sizes[i % sizes.count])) }
        try a.transport().send(fromB, Array("pong".utf8))
        #expect(a.probe.wait { $0.frameCount == 24 })
        #expect(b.probe.wait { $0.frameCount == 1 })
        #expect(a.probe.frames.enumerated().allSatisfy {
            $0.element.connection == fromB && $0.element.bytes == TransportNode.payload($0.offset, size: sizes[$0.offset % sizes.count])
        })
        b.transport().close(toA)
        #expect(a.probe.wait { $0.closedConnections.map(\.0) == [fromB] })
        #expect(a.probe.all.closedConnections.first?.1 == INOS_OK)
        #expect(b.probe.wait { $0.closedConnections.map(\.0) == [toA] })
        #expect(a.probe.wait { _ in a.host.arena.heap.statistics.bytesInUse == 0 })
    }

    @Test("an oversized length closes only that connection (INOS_ERR_CORRUPT); random bytes never hurt the node")
    func hostileBytes() throws {
        let (a, address) = try Self.listening(["max_frame_kib": "1024"])
        defer { a.stop() }
        let hostile = try Self.rawSocket(address)
        var huge = UInt32(100 << 20).littleEndian
        _ = withUnsafeBytes(of: &huge) { write(hostile, $0.baseAddress, 4) }
        #expect(a.probe.wait { $0.closedConnections.count == 1 })
        #expect(a.probe.all.closedConnections.first?.1 == INOS_ERR_CORRUPT)
        close(hostile)

        var random = SeededRandom(seed: 99)
        for _ in 0..<20 {
            let fd = try Self.rawSocket(address)
            let junk = (0..<Int(random.next() % 4096)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        #expect(a.probe.wait { $0.closedConnections.count == 21 })
        // Still serving: a well-behaved peer gets through.
        let b = try Self.node()
        defer { b.stop() }
        let toA = try b.transport().dial(address)
        try b.transport().send(toA, Array("still here".utf8))
        #expect(a.probe.wait { _ in a.probe.frames.contains { $0.bytes == Array("still here".utf8) } })
    }

    @Test("backpressure stops reading: the sender's queue fills to INOS_ERR_FULL, then everything arrives in order")
    func backpressure() throws {
        let (a, address) = try Self.listening()
        let b = try Self.node(["send_limit_mib": "8"])
        defer { a.stop(); b.stop() }
        let toA = try b.transport().dial(address)
        #expect(a.probe.wait { $0.openedConnections.count == 1 })
        _ = a.host.arena.switchboard.updateBackpressure(fill: 1.0)
        var accepted = 0
        var full: TransportCallError?
        let deadline = Date().addingTimeInterval(20)
        while full == nil && Date() < deadline {
            do throws(TransportCallError) {
                try b.transport().send(toA, TransportNode.payload(accepted, size: 256 << 10))
                accepted += 1
            } catch {
                full = error
            }
            if accepted % 64 == 0 { usleep(1_000) }  // let the kernel buffers fill
        }
        #expect(full?.status.rawValue == INOS_ERR_FULL)
        #expect(a.probe.all.frameCount == 0)  // the paused node took nothing off the socket into its host
        #expect(b.probe.all.writableConnections.isEmpty, "no WRITABLE while the peer reads nothing")
        _ = a.host.arena.switchboard.updateBackpressure(fill: 0.0)
        #expect(a.probe.wait(seconds: 20) { $0.frameCount == accepted })
        // Its queue written out, the refused sender gets one WRITABLE record (ABI 1.3).
        #expect(b.probe.wait(seconds: 20) { $0.writableConnections == [toA] })
        #expect(a.probe.frames.enumerated().allSatisfy { $0.element.bytes == TransportNode.payload($0.offset, size: 256 << 10) })
    }

    @Test("the connection limit refuses extra peers; dialing nothing and bad settings are clear errors")
    func limitsAndErrors() throws {
        let (a, address) = try Self.listening(["max_connections": "2"])
        let b = try Self.node()
        defer { a.stop(); b.stop() }
        let first = try b.transport().dial(address), second = try b.transport().dial(address)
        #expect(a.probe.wait { $0.openedConnections.count == 2 })
        let third = try b.transport().dial(address)  // accepted by the kernel, then closed by the node
        #expect(b.probe.wait { $0.closedConnections.map(\.0).contains(third) })
        #expect(!b.probe.all.closedConnections.map(\.0).contains(first) && !b.probe.all.closedConnections.map(\.0).contains(second))
        #expect(a.probe.all.openedConnections.count == 2)

        let refused = #expect(throws: TransportCallError.self) { try b.transport().dial("tcp://127.0.0.1:1") }
        #expect(refused?.status.rawValue == INOS_ERR_IO)
        let bad = #expect(throws: TransportCallError.self) { try b.transport().dial("tcp://127.0.0.1") }
        #expect(bad?.status.rawValue == INOS_ERR_INVALID_ARGUMENT)
        let config = #expect(throws: PluginLoadError.self) { _ = try Self.node(["max_frame_kib": "0"]) }
        #expect(config?.message.contains("max_frame_kib") == true)
    }
}
