// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import HostTestSupport
import Identity
import Synchronization
import Testing
import Wire

@testable import Mesh

/// Each module registers the frame types it serves; a type nobody registered is answered, not fatal.
@Suite("Frame registry and request router")
struct FrameRegistryTests {
    typealias MeshNode = PeerManagerTests.MeshNode

    @Test("a member node's registry holds the link's and every mesh service's types, once each, with their owners")
    func registrations() throws {
        let node = try MeshNode()
        defer { node.stop() }
        let table = Dictionary(uniqueKeysWithValues: node.peers.registry.registrations.map { ($0.type.rawValue, ($0.name, $0.owner)) })
        let expected: [UInt8: (String, String)] = [
            0x20: ("PING", "link"), 0x21: ("PONG", "link"), 0x3F: ("ERROR", "link"), 0x40: ("CLOSE", "link"),
            0x30: ("CHUNK_GET", "chunks"), 0x31: ("CHUNK_DATA", "chunks"), 0x32: ("CHUNK_MISSING", "chunks"),
            0x50: ("MEMBERSHIP", "membership"), 0x66: ("MEMBERS", "membership"), 0x67: ("MEMBERS_REPLY", "membership"),
            0x51: ("GOSSIP", "gossip"),
            0x52: ("PROVIDE", "providers"), 0x53: ("FIND_PROVIDERS", "providers"), 0x54: ("PROVIDERS", "providers"),
            0x57: ("FIND_NODE", "providers"), 0x58: ("NODES", "providers"),
            0x55: ("MERKLE", "anti-entropy"), 0x56: ("MERKLE_REPLY", "anti-entropy"),
        ]
        #expect(table.count == expected.count)
        for (value, (name, owner)) in expected {
            #expect(table[value]?.0 == name && table[value]?.1 == owner, "0x\(String(value, radix: 16))")
        }
        #expect(FrameType.chunkGet.description == "CHUNK_GET")
        // Declaring the same response again is fine (a client and a server of one protocol on one node).
        node.peers.register([.response(.chunkData, "CHUNK_DATA", owner: "chunks")])
        #expect(node.peers.registry.registrations.count == expected.count)
    }

    @Test("a request of a type nobody registered gets ERROR unknownType and the session stays; a one-way one is dropped")
    func unknownType() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://unknown-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try client.peers.connect(name)
        let probe = FrameType(rawValue: 0xE7)
        let refused = #expect(throws: MeshError.self) { _ = try client.peers.request(probe, payload: [1, 2, 3], on: connection, timeout: 10) }
        #expect(refused?.code == .unknownType, "\(String(describing: refused))")
        try client.peers.send(WireMessage(probe, requestID: 0, payload: [9]), on: connection)  // one-way: nothing comes back
        // The session is still up: a ping is answered on the same connection.
        #expect(try client.peers.request(.ping, payload: [7], on: connection, timeout: 10).payload == [7])
        #expect(server.peers.registry.unknownFrames == 2)
        #expect(server.peers.peers.count == 1)
    }

    @Test("framing inside a sealed frame still closes the connection")
    func framingInsideSealed() throws {
        let server = try MeshNode(), client = try MeshNode()
        defer { client.stop(); server.stop() }
        let name = "mem://framing-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try client.peers.connect(name)
        try client.peers.send(WireMessage(.handshakeInit, requestID: 1, payload: [0]), on: connection)
        let deadline = Date().addingTimeInterval(20)
        while !client.peers.peers.isEmpty && Date() < deadline { usleep(2_000) }
        #expect(client.peers.peers.isEmpty, "the server closed the connection")
    }

    @Test("an answer counts only from the connection its request went to: another peer cannot finish it by guessing the id")
    func answersFromTheRightConnection() throws {
        let server = try MeshNode(), other = try MeshNode()
        let release = DispatchSemaphore(value: 0)
        let slow = FrameType(rawValue: 0xF2), slowAnswer = FrameType(rawValue: 0xF3)
        server.peers.serve(slow, "TEST_SLOW", owner: "test", lane: .control) { _, _, _ in
            _ = release.wait(timeout: .now() + 20)
            return (slowAnswer, [1])
        }
        let client = try MeshNode()
        client.peers.register([.response(slowAnswer, "TEST_SLOW_ANSWER", owner: "test")])
        defer { release.signal(); client.stop(); other.stop(); server.stop() }
        let serverName = "mem://router-\(UUID().uuidString.prefix(8))", otherName = "mem://forger-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [serverName], bootstrap: [])
        _ = try other.peers.start(listen: [otherName], bootstrap: [])
        let (toServer, _) = try client.peers.connect(serverName)
        _ = try client.peers.connect(otherName)
        // connect returns once the client's side is up; the forger's side comes up when the client's last
        // handshake message reaches it, which on a loaded machine can be later.
        let up = Date().addingTimeInterval(10)
        while other.peers.peers.first(where: { $0.node == client.identity.id }) == nil && Date() < up { usleep(1_000) }
        let outcome = Mutex<Result<WireMessage, MeshError>?>(nil)
        client.peers.request(slow, payload: [], on: toServer, timeout: 30) { result in outcome.withLock { $0 = result } }
        // The forger answers every id around the pending one on its own session with the client.
        let forgedOn = try #require(other.peers.peers.first { $0.node == client.identity.id }?.connection)
        for id in UInt64(1)...64 { try other.peers.send(WireMessage(slowAnswer, requestID: id, payload: [66]), on: forgedOn) }
        #expect(try other.peers.request(.ping, payload: [], on: forgedOn, timeout: 10).header.type == .pong)  // the forgeries arrived first
        #expect(outcome.withLock { $0 } == nil, "no forged answer finished the request")
        release.signal()
        let deadline = Date().addingTimeInterval(20)
        while outcome.withLock({ $0 }) == nil && Date() < deadline { usleep(2_000) }
        #expect(try outcome.withLock { $0 }?.get().payload == [1])
    }

    @Test("an async handler runs in a task of its own, bounded per peer: past the bound a request is told busy at once, and the bound frees as handlers answer")
    // Async, so that its waits give back the cooperative thread the handlers' tasks run on (a sync test that polls
    // holds one of two on a 2-core machine while other sync tests hold the other).
    func asyncHandlersBounded() async throws {
        let server = try MeshNode(), client = try MeshNode()
        let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])
        let open = Mutex(false)
        let slow = FrameType(rawValue: 0xF6), slowAnswer = FrameType(rawValue: 0xF7)
        server.peers.serveAsync(slow, "TEST_ASYNC", owner: "test", limit: 8, perPeer: 3) { payload, _, _ in
            await withCheckedContinuation { continuation in
                let resumeNow = open.withLock { open in
                    if !open { waiting.withLock { $0.append(continuation) } }
                    return open
                }
                if resumeNow { continuation.resume() }
            }
            return (slowAnswer, payload)
        }
        func openGate() {
            let held = open.withLock { open in
                open = true
                return waiting.withLock { waiting in defer { waiting = [] }; return waiting }
            }
            for continuation in held { continuation.resume() }
        }
        client.peers.register([.response(slowAnswer, "TEST_ASYNC_ANSWER", owner: "test")])
        defer { openGate(); client.stop(); server.stop() }
        let name = "mem://async-bound-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, _) = try await client.peers.connect(name)
        let outcomes = Mutex<[UInt8: Result<WireMessage, MeshError>]>([:])
        for i in UInt8(0)..<5 {
            client.peers.request(slow, payload: [i], on: connection, timeout: 30) { result in outcomes.withLock { $0[i] = result } }
        }
        func wait(until condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() && Date() < deadline { try await Task.sleep(for: .milliseconds(2)) }
        }
        // Three held by the handler; the other two answered busy while those wait.
        try await wait { outcomes.withLock { $0.count } == 2 && waiting.withLock { $0.count } == 3 }
        let early = outcomes.withLock { $0 }
        #expect(early.count == 2 && early.values.allSatisfy { if case .failure(let error) = $0 { error.code == .busy } else { false } }, "\(early)")
        #expect(waiting.withLock { $0.count } == 3)
        #expect(try await client.peers.request(.ping, payload: [9], on: connection, timeout: 10).payload == [9], "the session still answers")
        openGate()
        try await wait { outcomes.withLock { $0.count } == 5 }
        let answered = outcomes.withLock { $0 }.compactMap { key, result in (try? result.get()).map { (key, $0.payload) } }
        #expect(answered.count == 3 && answered.allSatisfy { [$0.0] == $0.1 }, "\(answered)")
        // The bound is free again once the handlers answered.
        #expect(try await client.peers.request(slow, payload: [42], on: connection, timeout: 10).payload == [42])
    }

    @Test("async requests: the answer resumes the task, an ERROR throws its code, cancelling fails the request at once")
    func asyncRequests() async throws {
        let server = try MeshNode(), client = try MeshNode()
        let release = DispatchSemaphore(value: 0)
        let slow = FrameType(rawValue: 0xF4), slowAnswer = FrameType(rawValue: 0xF5)
        server.peers.serve(slow, "TEST_SLOW", owner: "test", lane: .control) { _, _, _ in
            _ = release.wait(timeout: .now() + 20)
            return (slowAnswer, [1])
        }
        client.peers.register([.response(slowAnswer, "TEST_SLOW_ANSWER", owner: "test")])
        defer { release.signal(); client.stop(); server.stop() }
        let name = "mem://async-\(UUID().uuidString.prefix(8))"
        _ = try server.peers.start(listen: [name], bootstrap: [])
        let (connection, node) = try await client.peers.connect(name)
        #expect(node == server.identity.id)
        #expect(try await client.peers.request(.ping, payload: [5], on: connection, timeout: 10).payload == [5])
        do {
            _ = try await client.peers.request(FrameType(rawValue: 0xE8), payload: [], on: connection, timeout: 10)
            Issue.record("an unknown type was answered")
        } catch {
            #expect(error.code == .unknownType)
        }
        // A request the server holds on to: cancelling its task ends it long before its 60 s deadline.
        let started = Date()
        let pending = Task { () async throws(MeshError) -> WireMessage in
            try await client.peers.request(slow, payload: [], on: connection, timeout: 60)
        }
        try await Task.sleep(for: .milliseconds(200))
        pending.cancel()
        let outcome = await pending.result
        #expect(throws: MeshError.self) { try outcome.get() }
        #expect(Date().timeIntervalSince(started) < 30)
    }
}
