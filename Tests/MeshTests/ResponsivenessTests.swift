// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import Mesh
import Synchronization
import Testing
import Wire

/// A node keeps answering while its workers are busy: slow requests from one peer queue in their own lane, up
/// to a per-peer limit, and small requests from others are answered meanwhile.
@Suite("Responsiveness under slow work")
struct ResponsivenessTests {
    typealias MeshNode = PeerManagerTests.MeshNode
    static let question = FrameType(rawValue: 0xF0), answer = FrameType(rawValue: 0xF1)

    @Test("a flood of slow chunk requests from one peer: past its limit it is answered busy, and another peer's HAVE is answered before the flood drains")
    func slowBulkDoesNotHoldSmallAnswers() throws {
        let slowKey: [UInt8] = [0x12, 0x20] + Array(repeating: 9, count: 32)
        let release = DispatchSemaphore(value: 0)
        // A chunk source as slow as a failing disk: every read waits until the test lets it go.
        let server = try MeshNode(source: { key in
            _ = release.wait(timeout: .now() + 20)
            return nil  // answered CHUNK_MISSING once the disk lets go
        })
        let flooder = try MeshNode(), honest = try MeshNode()
        defer {
            for _ in 0..<200 { release.signal() }
            honest.stop(); flooder.stop(); server.stop()
        }
        // A small question answered from memory in the control lane, as HAVE is (replication registers that one).
        server.peers.serve(Self.question, "TEST_QUESTION", owner: "test", lane: .control) { _, _, _ in (Self.answer, [42]) }
        let name = "mem://busy-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (flood, _) = try flooder.peers.connect(name)
        let (polite, _) = try honest.peers.connect(name)
        honest.peers.register([.response(Self.answer, "TEST_ANSWER", owner: "test")])

        let answers = Mutex((busy: 0, other: 0))
        let total = PeerManager.servingLimit + 36
        for _ in 0..<total {
            flooder.peers.request(.chunkGet, payload: WirePayload.key(slowKey), on: flood, timeout: 30) { outcome in
                answers.withLock { counts in
                    if case .failure(let error) = outcome, error.code == .busy {
                        counts.busy += 1
                    } else {
                        counts.other += 1
                    }
                }
            }
        }
        // The requests past the peer's limit are refused at once, not queued.
        let deadline = Date().addingTimeInterval(20)
        while answers.withLock({ $0.busy }) < total - PeerManager.servingLimit && Date() < deadline { usleep(2_000) }
        #expect(answers.withLock { $0.busy } == total - PeerManager.servingLimit)
        // Every admitted chunk read is still stuck on the slow disk; the honest peer's HAVE is answered anyway.
        let have = try honest.peers.request(Self.question, payload: [0], on: polite, timeout: 15)
        #expect(have.header.type == Self.answer && have.payload == [42])
        #expect(answers.withLock { $0.other } == 0, "no slow read had finished when the HAVE was answered")
        // Let the disk go: the admitted reads complete (the flood is served, just not ahead of everyone else).
        for _ in 0..<total { release.signal() }
        while answers.withLock({ $0.busy + $0.other }) < total && Date() < deadline.addingTimeInterval(20) { usleep(2_000) }
        #expect(answers.withLock { $0.busy + $0.other } == total)
    }

    @Test("a peer that stops reading: sends to it never wait, its connection closes after the stall deadline, other peers are served throughout")
    func slowReaderIsDisconnected() throws {
        let server = try MeshNode(source: { _ in nil }, sendLimitKiB: 256, stallSeconds: 3)
        let reader = try MeshNode(), honest = try MeshNode()
        defer { honest.stop(); reader.stop(); server.stop() }
        let name = "mem://stall-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        _ = try reader.peers.connect(name)
        let (polite, _) = try honest.peers.connect(name)
        let deadline = Date().addingTimeInterval(10)
        while server.peers.peers.filter({ $0.node != nil }).count < 2 && Date() < deadline { usleep(1_000) }
        let stalled = try #require(server.peers.peers.first { $0.node == reader.identity.id }?.connection)
        reader.host.requestStop()  // the reader's node stops reading its inbox: its transport stops taking frames

        // 16 MiB at a peer that takes 256 KiB: every send returns at once (queued), none waits for the reader.
        let chunk = [UInt8](repeating: 0xAB, count: 64 << 10)
        var sent = 0
        for _ in 0..<256 {
            do { try server.peers.send(WireMessage(.pong, payload: chunk), on: stalled); sent += 1 } catch { break }
        }
        // A send that waited for the reader would never return (it reads nothing): all 256 returned, queued.
        #expect(sent == 256, "every frame was accepted (queued behind the full transport)")
        // The honest peer is answered while the reader's frames wait.
        #expect(try honest.peers.request(.ping, payload: [7], on: polite, timeout: 5).payload == [7])
        // After the stall deadline (3 s here) the reader's connection is closed; the honest one stays.
        while server.peers.peers.contains(where: { $0.connection == stalled }) && Date() < deadline { usleep(5_000) }
        #expect(!server.peers.peers.contains { $0.connection == stalled }, "the connection of a peer that reads nothing is closed")
        #expect(try honest.peers.request(.ping, payload: [8], on: polite, timeout: 5).payload == [8])
    }
}
