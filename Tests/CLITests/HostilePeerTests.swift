// SPDX-License-Identifier: Apache-2.0
import APIModel
import Content
import Foundation
import Host
import HostTestSupport
import Identity
import MeshCore
import Replication
import Synchronization
import Testing
import Wire
import WorkAllocation

@testable import Mesh

#if canImport(Glibc)
import Glibc
#endif

/// Real `inos node` processes against an attacker: a fresh Ed25519 identity with a session built on the node's
/// own code (HostRuntime + TCP transport + PeerManager in this process), sending frames crafted to crash,
/// freeze, fill, empty or mislead the node. After each attack the node is still running, an honest peer is
/// answered, and the owner's data reads back whole (docs/security.md).
@Suite("Hostile peers against node processes", .serialized)
struct HostilePeerTests {
    typealias NodeProcess = NodeProcessTests.NodeProcess

    /// A peer in this process: its own host, TCP transport and peer manager, and a reactor it can stop (to stop
    /// reading, as a slow or malicious peer does).
    final class Peer: Sendable {
        let host: HostRuntime
        let peers: PeerManager
        let identity = NodeIdentity.ephemeral()

        init() throws {
            host = try HostRuntime(
                manifest: Manifest(
                    arena: ArenaConfiguration(totalSize: 64 << 20, inboxCapacity: 256 << 10, outboxCapacity: 64 << 10),
                    plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosTCPTransport")), kind: .transport)]),
                logger: quietLogger)
            try host.start()
            peers = PeerManager(host: host, transport: TransportHandle(slot: host.slot("transport")!), identity: identity, logger: quietLogger)
            // The attacker speaks replication and compute: it expects their answers.
            peers.register(ReplicationFrames.responses + [ComputeService.jobDone])
            // As the node's reactor does: transport records to the peer manager, and its tick (deadlines,
            // keepalives, membership timers).
            Thread { [host, peers] in peers.runReactor(host, tickNanoseconds: 50_000_000) }.start()
        }

        var member: MemberID { Membership.member(identity.id) }

        func stop() {
            peers.stop()
            host.requestStop()
            usleep(20_000)
            host.shutdown()
        }
    }

    struct Mesh {
        let node: NodeProcess
        let address: String
        let root: String
        /// The owner's resource and its bytes.
        let id: String
        let content: Data

        /// Whether the node still answers an honest peer quickly and serves the owner's data whole.
        func healthy(_ comment: Comment) throws {
            #expect(node.process.isRunning, "\(comment): the node died\n\(node.output.text.suffix(3000))")
            let honest = try Peer()
            defer { honest.stop() }
            let started = Date()
            let (connection, _) = try honest.peers.connect(address, timeout: 5)
            let pong = try honest.peers.request(.ping, payload: [42], on: connection, timeout: 5)
            #expect(pong.payload == [42], comment)
            // The bound is one second; on a loaded CI machine the whole session setup stays well within 3.
            #expect(Date().timeIntervalSince(started) < 3, "\(comment): an honest peer waited \(Date().timeIntervalSince(started)) s")
            let out = root + "/read-\(UUID().uuidString.prefix(6))"
            let get = try CLITests.run(["get", id, "--mesh", address, "-o", out, "--data-dir", root + "/reader-\(UUID().uuidString.prefix(6))"])
            #expect(get.status == 0, "\(comment): \(get.output)")
            #expect((try? Data(contentsOf: URL(fileURLWithPath: out))) == content, "\(comment): the owner's data changed")
        }
    }

    /// One node on embedded defaults, holding a resource its owner (`root/owner`) put.
    static func mesh(bytes: Int = 3_000_000, arguments: [String] = []) throws -> Mesh {
        let root = PluginFixtures.directory.appendingPathComponent("hostile-\(UUID().uuidString.prefix(8))").path
        let node = try NodeProcess(
            manifest: nil, arguments: ["--data-dir", root + "/node", "--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5"] + arguments)
        let address = try node.address()
        #expect(node.output.waitFor("status: members", seconds: 20))
        let input = root + "/input.bin"
        try MeshProcessTests.ReplicationProcessTests.randomFile(input, bytes: bytes, seed: 5)
        var put = try CLITests.run(["put", input, "--mesh", address, "--data-dir", root + "/owner"])
        // The node publishes its status every 2 s; a put before the first one finds no usable member.
        for _ in 0..<10 where put.status != 0 {
            usleep(500_000)
            put = try CLITests.run(["put", input, "--mesh", address, "--data-dir", root + "/owner"])
        }
        #expect(put.status == 0, "\(put.output)")
        let id = try #require(put.output.split(separator: "\n").last.map(String.init))
        return Mesh(node: node, address: address, root: root, id: id, content: try Data(contentsOf: URL(fileURLWithPath: input)))
    }

    @Test("values that used to trap: Lamport 2^64−1 in MEMBERSHIP, GOSSIP and PROVIDE, 'you are dead at incarnation 2^32−1', a self-made manifest of 2^45 chunks — the node stays up, also after a restart")
    func valuesThatTrapped() throws {
        let mesh = try Self.mesh()
        defer { _ = mesh.node.stop(SIGKILL) }
        let attacker = try Peer()
        defer { attacker.stop() }
        // A malformed frame closes its connection (the rule for anything that does not decode): each crafted
        // frame goes on a fresh session, and the node must take them all without trapping.
        func session() throws -> (UInt64, NodeID) { try attacker.peers.connect(mesh.address, timeout: 5) }
        let (first, node) = try session()
        let victim = Membership.member(node)
        let slander = SwimMessage(
            .ping(sequence: .max), lamport: .max,
            updates: [MemberUpdate(member: victim, status: .dead, incarnation: .max, lamport: .max, address: "tcp://127.0.0.1:1")])
        try attacker.peers.send(WireMessage(.membership, payload: SwimCodec.encode(slander)), on: first)
        let suspicion = SwimMessage(.ack(sequence: 0), lamport: 1, updates: [MemberUpdate(member: victim, status: .suspect, incarnation: .max - 1, lamport: 1 << 62)])
        try attacker.peers.send(WireMessage(.membership, payload: SwimCodec.encode(suspicion)), on: try session().0)
        let gossip = GossipMessage(origin: attacker.member, sequence: .max, topic: "status", payload: [], lamport: .max, hops: 1)
        try attacker.peers.send(WireMessage(.gossip, payload: GossipCodec.encode(gossip)), on: try session().0)
        let record = ProviderRecord(member: attacker.member, address: "tcp://127.0.0.1:9", ttl: .max, lamport: .max)
        try attacker.peers.send(WireMessage(.provide, payload: ProviderRecord.encode(key: Array(repeating: 7, count: 32), record)), on: try session().0)

        // A manifest the attacker owns (so the ticket is valid) claiming 2^45 one-byte chunks.
        var forged = Array("INOSMAN".utf8)
        for value in [UInt64(1), 1 << 45, 1, 1 << 45] { appendVarint(value, to: &forged) }
        let resource = ContentID(hashing: forged, codec: .manifest)
        let ticket = OwnerTicket(resource: resource, size: 1 << 45, budget: .max, owner: attacker.identity)
        let stored = try attacker.peers.request(
            .store, payload: ReplicationWire.store(resource: resource, ticket: ticket, piece: resource) + forged, on: try session().0, timeout: 10)
        #expect(stored.header.type == .stored && ReplicationWire.decodeStored(stored.payload)?.0 != .stored, "a manifest that cannot be decoded is not stored")
        try mesh.healthy("after the crafted values")

        // A restart reads whatever was kept: it must start.
        _ = mesh.node.stop(SIGTERM)
        let again = try NodeProcess(manifest: nil, arguments: ["--data-dir", mesh.root + "/node", "--listen", "tcp://127.0.0.1:0"])
        defer { _ = again.stop(SIGKILL) }
        #expect(again.output.waitFor("listening on tcp://", seconds: 20), "the node starts again: \(again.output.text.suffix(2000))")
        usleep(500_000)
        #expect(again.process.isRunning, "\(again.output.text.suffix(2000))")
    }

    @Test("a peer's Lamport times a day past the node's wall clock are not witnessed: its clock stays where honest times are, the refusals are counted, and the messages are still handled")
    func lamportFromTheFuture() throws {
        let mesh = try Self.mesh(bytes: 100_000)
        defer { _ = mesh.node.stop(SIGKILL) }
        let attacker = try Peer()
        defer { attacker.stop() }
        let (connection, _) = try attacker.peers.connect(mesh.address, timeout: 5)
        let future = WireLimits.maximumLamport - 1  // valid on the wire: it decodes
        try attacker.peers.send(WireMessage(.membership, payload: SwimCodec.encode(SwimMessage(.ping(sequence: 1), lamport: future))), on: connection)
        let gossip = GossipMessage(origin: attacker.member, sequence: 1, topic: "status", payload: [], lamport: future, hops: 1)
        try attacker.peers.send(WireMessage(.gossip, payload: GossipCodec.encode(gossip)), on: connection)
        var status: StatusReport?
        let counted = try OperatorProcessTests.eventually(20) {
            status = try OperatorProcessTests.json(StatusReport.self, ["status", "--data-dir", mesh.root + "/node"])
            return (status?.lamport?.refusedRemoteTimes ?? 0) >= 2
        }
        #expect(counted, "the node counts both refusals: \(String(describing: status?.lamport))")
        let wall = UInt64(Date().timeIntervalSince1970 * 1e6)
        let time = try #require(status?.lamport?.time)
        #expect(time < wall + LamportClock.wallAllowance, "the node's clock went to \(time), wall clock \(wall)")
        // The ping itself was a peer's word like any other: the attacker is a member now, and the node serves.
        #expect(try OperatorProcessTests.eventually(20) {
            try OperatorProcessTests.json([MemberReport].self, ["members", "--data-dir", mesh.root + "/node"]).contains { $0.id == String(format: "%016llx", attacker.member) }
        })
        try mesh.healthy("after Lamport times from the future")
    }

    @Test("strangers: silent connections past the per-address budget are refused and the rest closed at the handshake deadline; a 1 MiB frame before the handshake closes only its connection; members still get sessions")
    func strangers() throws {
        let mesh = try Self.mesh(bytes: 100_000)
        defer { _ = mesh.node.stop(SIGKILL) }
        let port = try #require(mesh.address.split(separator: ":").last.flatMap { UInt16($0) })
        // 12 silent connections from 127.0.0.5: 8 are kept in their handshake, 4 are refused at once.
        let silent = (0..<12).map { _ in rawConnection(port: port, from: "127.0.0.5") }
        #expect(silent.allSatisfy { $0 >= 0 })
        defer { for fd in silent where fd >= 0 { close(fd) } }
        usleep(1_000_000)
        let refused = silent.filter { closedByPeer($0, waiting: 0.2) }.count
        #expect(refused == 12 - PeerManager.Limits.strangersPerAddress, "\(refused) refused\n\(mesh.node.output.text.suffix(2000))")
        // A frame claiming 1 MiB before any handshake: the connection is closed without it being buffered.
        let big = rawConnection(port: port, from: "127.0.0.6")
        defer { close(big) }
        var header = UInt32(1 << 20).littleEndian
        _ = withUnsafeBytes(of: &header) { send(big, $0.baseAddress, 4, Int32(MSG_NOSIGNAL)) }
        _ = [UInt8](repeating: 0xEE, count: 64 << 10).withUnsafeBytes { send(big, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(closedByPeer(big, waiting: 5), "the connection with an oversized pre-handshake frame is closed")
        // An honest peer (another address) is served meanwhile.
        try mesh.healthy("with 8 silent strangers connected")
        // The handshake deadline closes the silent ones that were kept.
        let deadline = Date().addingTimeInterval(PeerManager.Limits.handshakeSeconds + 10)
        var open = silent.filter { !closedByPeer($0, waiting: 0) }
        while !open.isEmpty && Date() < deadline {
            usleep(500_000)
            open = open.filter { !closedByPeer($0, waiting: 0) }
        }
        #expect(open.isEmpty, "\(open.count) silent connections still open after the handshake deadline")
    }

    @Test("a stranger cannot empty, overwrite or fill: RELEASE, STORE without a ticket or with its own ticket for the owner's resource, and JOB_RUN over it are refused; the data stays whole")
    func authorization() throws {
        let mesh = try Self.mesh()
        defer { _ = mesh.node.stop(SIGKILL) }
        let attacker = try Peer()
        defer { attacker.stop() }
        let (connection, _) = try attacker.peers.connect(mesh.address, timeout: 5)
        let resource = try ContentID(mesh.id)
        let holding = try attacker.peers.holding(resource, on: connection).holding
        #expect(holding.pieces.count > 1 && holding.pieces.allSatisfy { $0 })

        @Sendable func status(_ answer: WireMessage) -> ReplicationWire.Status? { ReplicationWire.decodeStored(answer.payload)?.0 }
        // RELEASE of every piece, with a census naming only the attacker.
        let release = try attacker.peers.request(
            .release, payload: ReplicationWire.release(resource, pieces: holding.pieces, holders: [attacker.member]), on: connection, timeout: 20)
        #expect(status(release) == .unauthorized, "\(String(decoding: release.payload.dropFirst(), as: UTF8.self))")
        // A flood of them at once: each refused, or told busy past the RELEASE handler's bounds; none is let through.
        let answers = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 24) { _ in
            let outcome: String
            do throws(MeshError) {
                let answer = try attacker.peers.request(
                    .release, payload: ReplicationWire.release(resource, pieces: holding.pieces, holders: [attacker.member]), on: connection, timeout: 20)
                outcome = status(answer) == .unauthorized ? "refused" : "answered \(String(describing: status(answer)))"
            } catch {
                outcome = error.code == .busy ? "busy" : "failed: \(error)"
            }
            answers.withLock { $0.append(outcome) }
        }
        let flood = answers.withLock { $0 }
        #expect(flood.count == 24 && flood.allSatisfy { $0 == "refused" || $0 == "busy" }, "\(flood)")
        // STORE in the format without a ticket: refused.
        let bare = [UInt8(0)] + ReplicationWire.have(resource) + ReplicationWire.have(ContentID(hashing: [1])) + [1]
        #expect(status(try attacker.peers.request(.store, payload: bare, on: connection, timeout: 10)) == .unauthorized)
        // STORE of the owner's manifest under the attacker's own ticket (a budget of 1: overwriting the policy).
        let ticket = OwnerTicket(resource: resource, size: 1, budget: 1, owner: attacker.identity)
        let manifest = try #require(try attacker.peers.fetchChunk(resource.bytes, from: connection))
        let overwrite = try attacker.peers.request(.store, payload: ReplicationWire.store(resource: resource, ticket: ticket, piece: resource) + manifest, on: connection, timeout: 10)
        #expect(status(overwrite) == .unauthorized, "\(String(decoding: overwrite.payload.dropFirst(), as: UTF8.self))")
        // STORE of junk under a ticket for a resource of its own: only pieces its manifest lists.
        let own = ContentID(hashing: Array("attacker's".utf8), codec: .manifest)
        let junk = ReplicationWire.store(resource: own, ticket: OwnerTicket(resource: own, size: 1, budget: 1, owner: attacker.identity), piece: ContentID(hashing: [9, 9])) + [9, 9]
        #expect(status(try attacker.peers.request(.store, payload: junk, on: connection, timeout: 10)) == .unauthorized)
        // JOB_RUN over the owner's data: only its owner may.
        let run = JobWire.Run(resource: resource, function: "word-count", parameters: "", chunks: [0, 1])
        let done = try attacker.peers.request(.jobRun, payload: JobWire.encode(run), on: connection, timeout: 10)
        let outcomes = try #require(JobWire.decodeDone(done.payload))
        #expect(outcomes.allSatisfy { if case .failure(let failure) = $0.result { failure.message.contains("owner") } else { false } }, "\(outcomes)")
        // Everything is still held.
        #expect(try attacker.peers.holding(resource, on: connection).holding.pieces == holding.pieces)
        try mesh.healthy("after RELEASE, STORE and JOB_RUN from a stranger")
    }

    @Test("claims about another node are not believed: a forged SWIM alive claim (new address), forged status gossip and a provider record naming it change nothing")
    func forgedClaims() throws {
        let root = PluginFixtures.directory.appendingPathComponent("claims-\(UUID().uuidString.prefix(8))").path
        let common = ["--listen", "tcp://127.0.0.1:0", "--status-interval", "0.5"]
        let a = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/a"] + common)
        defer { _ = a.stop(SIGKILL) }
        let aAddress = try a.address()
        let b = try NodeProcess(manifest: nil, arguments: ["--data-dir", root + "/b", "--bootstrap", aAddress] + common)
        defer { _ = b.stop(SIGKILL) }
        let bAddress = try b.address()
        #expect(a.output.waitFor("members 1 alive, 0 suspect, 0 dead, status from 1,", seconds: 30), "\(a.output.text.suffix(2000))")

        let attacker = try Peer(), honest = try Peer()
        defer { attacker.stop(); honest.stop() }
        let (honestSession, _) = try honest.peers.connect(aAddress, timeout: 5)
        let before = try #require(try honest.peers.members(on: honestSession).first { $0.address == bAddress }, "A lists B")
        let victim = before.member
        func session() throws -> UInt64 { try attacker.peers.connect(aAddress, timeout: 5).0 }
        func signed(_ bytes: [UInt8]) -> MemberSignature { MemberSignature(publicKey: attacker.identity.publicKey, signature: attacker.identity.sign(bytes)) }

        // "B is alive at incarnation 7 at tcp://127.0.0.1:1", signed with the attacker's key.
        var claim = MemberUpdate(member: victim, status: .alive, incarnation: 7, lamport: 1, address: "tcp://127.0.0.1:1")
        claim.signature = signed(claim.claimBytes)
        try attacker.peers.send(WireMessage(.membership, payload: SwimCodec.encode(SwimMessage(.ping(sequence: 1), lamport: 1, updates: [claim]))), on: try session())
        // Status gossip in B's name: fully loaded, another region.
        var status = GossipMessage(
            origin: victim, sequence: 999_999, topic: NodeStatus.topic,
            payload: NodeStatus(load: 0.99, capacityBytes: 1, freeBytes: 0, regionName: "r77").encoded, lamport: 1, hops: 1)
        status.signature = signed(status.signedBytes)
        try attacker.peers.send(WireMessage(.gossip, payload: GossipCodec.encode(status)), on: try session())
        // A provider record naming B (signed by the attacker): refused, and the connection closed.
        let key = [UInt8](repeating: 0x5A, count: 32)
        let record = ProviderRecord(member: victim, address: "tcp://127.0.0.1:1", ttl: 600, lamport: 1)
        try attacker.peers.send(WireMessage(.provide, payload: ProviderRecord.encode(key: key, record)), on: try session())
        usleep(2_000_000)  // time for anything accepted to spread (gossip is immediate, status lines every 0.5 s)

        let after = try #require(try honest.peers.members(on: honestSession).first { $0.member == victim })
        #expect(after.address == bAddress, "B's address moved to \(after.address)")
        #expect(after.status?.region != 77 && (after.status?.load ?? 0) < 0.9, "a forged status was believed: \(String(describing: after.status))")
        #expect(try honest.peers.findProviders(key, on: honestSession, recursive: false).isEmpty, "a provider record naming B was kept")
        #expect(a.process.isRunning && b.process.isRunning)
    }

    @Test("a peer that asks for chunks and stops reading is disconnected; the node answers others meanwhile")
    func slowReader() throws {
        let mesh = try Self.mesh(bytes: 1_000_000)  // one chunk: the resource ID is the chunk's
        defer { _ = mesh.node.stop(SIGKILL) }
        let attacker = try Peer()
        defer { attacker.stop() }
        let (connection, _) = try attacker.peers.connect(mesh.address, timeout: 5)
        let chunk = try ContentID(mesh.id)
        attacker.host.requestStop()  // its reactor stops: its transport stops reading the socket
        usleep(100_000)
        // Ask for the 1 MB chunk 400 times (≈ 400 MB of answers nobody reads), a few at a time.
        for _ in 0..<400 {
            try? attacker.peers.send(WireMessage(.chunkGet, requestID: 1, payload: WirePayload.key(chunk.bytes)), on: connection)
            usleep(2_000)
        }
        try mesh.healthy("while a peer does not read")
        #expect(mesh.node.output.waitFor("waiting to be sent (the peer does not read)", seconds: 30)
            || mesh.node.output.text.contains("the peer read nothing"), "\(mesh.node.output.text.suffix(3000))")
        try mesh.healthy("after the slow reader was disconnected")
    }
}

/// A TCP connection to 127.0.0.1:`port` from the local address `from` (any 127/8 address is this machine).
private func rawConnection(port: UInt16, from source: String) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, source, &local.sin_addr)
    var remote = sockaddr_in()
    remote.sin_family = sa_family_t(AF_INET)
    remote.sin_port = port.bigEndian
    inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
    let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0, connected == 0 else {
        close(fd)
        return -1
    }
    return fd
}

/// Whether the other side closed `fd` (EOF or reset), waiting up to `seconds`.
private func closedByPeer(_ fd: Int32, waiting seconds: Double) -> Bool {
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let ready = poll(&poller, 1, Int32(seconds * 1000))
    guard ready > 0 else { return false }
    var byte: UInt8 = 0
    let read = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
    return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
}

private func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
    var rest = value
    while rest >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
        rest >>= 7
    }
    bytes.append(UInt8(rest))
}
