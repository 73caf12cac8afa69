// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Synchronization
import Testing
import Wire

@testable import Mesh

/// Issue 15's receive path: a handler that reads in place gets the received arena block itself — moved to its
/// lane within the lane's byte budget, copied past it — and the block is freed when the handler is done.
@Suite("Zero-copy receive")
struct ZeroCopyReceiveTests {
    typealias MeshNode = PeerManagerTests.MeshNode

    /// Whether `payload` lies in `arena`'s mapping (read in place) rather than in a copy.
    static func inArena(_ payload: UnsafeRawBufferPointer, _ arena: Arena) -> Bool {
        guard let start = payload.baseAddress else { return false }
        return start >= UnsafeRawPointer(arena.base) && start + payload.count <= UnsafeRawPointer(arena.base + arena.size)
    }

    @Test("a 1 MiB request served in place on the bulk lane is read in its arena block, not copied, and the block is freed after")
    func readInPlace() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let request = FrameType(rawValue: 0xF7), answer = FrameType(rawValue: 0xF8)
        let arena = server.host.arena
        let seen = Mutex<[Bool]>([])
        server.peers.serveInPlace(request, "TEST_IN_PLACE", owner: "test", lane: .bulk) { payload, _, _ in
            seen.withLock { $0.append(Self.inArena(payload, arena)) }
            return (answer, [payload.allSatisfy { $0 == 0x42 } ? 1 : 0])
        }
        client.peers.register([.response(answer, "TEST_IN_PLACE_ANSWER", owner: "test")])
        let name = "mem://in-place-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try client.peers.connect(name)
        let live = arena.heap.statistics.liveBlocks
        let payload = [UInt8](repeating: 0x42, count: 1 << 20)
        for _ in 0..<4 {
            #expect(try client.peers.request(request, payload: payload, on: connection, timeout: 20).payload == [1])
            // The answer leaves before the lane's job lets go of the block: wait for the budget to come back, so
            // the next frame is not copied for want of it (that path has its own test below).
            let released = Date().addingTimeInterval(10)
            while server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld != 0 && Date() < released { usleep(1_000) }
        }
        #expect(seen.withLock { $0 } == [true, true, true, true], "every request was read in the server's arena")
        // The lane's job let go of the box (after the reply) and with it the block and its budget.
        let deadline = Date().addingTimeInterval(10)
        while server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld != 0 && Date() < deadline { usleep(1_000) }
        #expect(server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld == 0)
        #expect(arena.heap.statistics.liveBlocks <= live, "no received block outlived its handler")
    }

    @Test("a fetched chunk is read where it arrived: the reader's body sees it in its own arena, nothing is copied out, and the block is freed after")
    func chunkAnswerInPlace() async throws {
        let key = [UInt8](repeating: 0xC4, count: 32)
        let chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let server = try MeshNode(chunks: [key: chunk]), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://chunk-in-place-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try await client.peers.connect(name)
        let arena = client.host.arena
        let live = arena.heap.statistics.liveBlocks
        let copies = client.peers.layer.router.copiedAnswers
        for _ in 0..<3 {
            let seen = try await client.peers.withFetchedChunk(key, from: connection) { bytes in
                (Self.inArena(bytes, arena), bytes.elementsEqual(chunk))
            }
            #expect(seen?.0 == true, "the chunk was handed over in the client's arena")
            #expect(seen?.1 == true)
        }
        // A chunk the server lacks: nil, and the body never runs.
        let missing = try await client.peers.withFetchedChunk([UInt8](repeating: 1, count: 32), from: connection) { _ in true }
        #expect(missing == nil)
        #expect(client.peers.layer.router.copiedAnswers == copies, "no answer was copied out of its block")
        #expect(arena.heap.statistics.liveBlocks <= live, "every answer's block was freed once read")
    }

    @Test("past the lane's budget a frame is copied and its block freed at once: queued work cannot drain the arena")
    func budgetSpillsToCopies() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let request = FrameType(rawValue: 0xF9), answer = FrameType(rawValue: 0xFA)
        let arena = server.host.arena
        let release = DispatchSemaphore(value: 0)
        let seen = Mutex<[Bool]>([])
        server.peers.serveInPlace(request, "TEST_HELD", owner: "test", lane: .bulk) { payload, _, _ in
            seen.withLock { $0.append(Self.inArena(payload, arena)) }
            _ = release.wait(timeout: .now() + 20)
            return (answer, [1])
        }
        client.peers.register([.response(answer, "TEST_HELD_ANSWER", owner: "test")])
        let name = "mem://budget-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try client.peers.connect(name)
        // A 16 MiB arena: the bulk lane may hold a quarter of its heap, so one 1 MiB frame (a 2 MiB block) and
        // not a second.
        let budget = arena.heap.capacity / PeerLayer.inPlaceBudgetFraction
        #expect(budget >= 2 << 20 && budget < 4 << 20)
        let answered = DispatchGroup()
        let payload = [UInt8](repeating: 7, count: 1 << 20)
        for _ in 0..<3 {
            answered.enter()
            client.peers.request(request, payload: payload, on: connection, timeout: 20) { _ in answered.leave() }
        }
        let deadline = Date().addingTimeInterval(20)
        while seen.withLock({ $0.count }) < 3 && Date() < deadline { usleep(1_000) }
        #expect(server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld == 2 << 20)
        for _ in 0..<3 { release.signal() }
        #expect(answered.wait(timeout: .now() + 20) == .success)
        #expect(seen.withLock { $0.filter { $0 }.count } == 1 && seen.withLock { $0.count } == 3, "one in place, two copied")
        while server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld != 0 && Date() < deadline { usleep(1_000) }
        #expect(server.peers.layer.lanes.blockBudgets[.bulk]!.bytesHeld == 0)
    }
}
