// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import HostTestSupport
import Identity
import Mesh
import MeshCore
import Node
import Primitives
import NodeTestSupport
import Replication
import Testing
import WorkAllocation

/// Replication, repair and distributed jobs between real nodes in one process, on the memory transport and
/// virtual time: what ReplicationProcessTests and JobDistributionTests show with node processes over TCP, in a
/// fraction of a second per virtual minute and the same way each run.
@Suite("Mesh harness: replication, repair and jobs in virtual time")
struct ReplicationHarnessTests {
    /// `count` bytes of seeded text: words and lines (so word-count has something to count), compressible but
    /// not trivially.
    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let length = Int(random.next() % 9) + 1
            for _ in 0..<length { bytes.append(UInt8(0x61 + random.next() % 26)) }
            bytes.append(random.next() % 8 == 0 ? 0x0A : 0x20)
        }
        return Array(bytes.prefix(count))
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw InosError(.io, "cannot write \(path)") }
    }

    /// Client `reader` gets `id` through `entry` into `file`.out: every piece reached, the bytes `original`.
    static func readBack(_ id: ContentID, by reader: Int, in mesh: MeshHarness, entry: String, file: String, original: [UInt8]) throws {
        let (other, otherPins) = try mesh.meshClient(reader)
        let output = file + ".out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let got = try mesh.complete { try await other.get(id, entry: entry, output: output, pins: otherPins) }
        #expect(got.unreachable.isEmpty)
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: output))) == original)
    }

    /// A mesh of `members` storing nodes and two clients, converged on membership.
    static func mesh(members: Int, seed: UInt64, repairInterval: Double = 10) throws -> MeshHarness {
        let mesh = try MeshHarness(nodes: members, clients: 2, seed: seed, storage: true) { configuration, _ in
            configuration.replication.repairInterval = repairInterval
            configuration.provideInterval = 5
        }
        #expect(mesh.run(until: { $0.allSee(alive: members - 1) }, within: 60))
        return mesh
    }

    @Test("a put from a client is acknowledged with every piece on its planned holders; a killed holder's pieces are repaired to the target on the survivors; a second client reads the file back, verified")
    func putKillRepairGet() throws {
        let mesh = try Self.mesh(members: 9, seed: 61)
        defer { mesh.close() }
        let writer = mesh.clients.lowerBound
        let reader = writer + 1
        let (client, pins) = try mesh.meshClient(writer)
        let original = Self.text(3 * 1_048_576 + 12_345, seed: 61)
        let file = NSTemporaryDirectory() + "harness-put-\(UUID().uuidString)"
        try Self.write(original, to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]

        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 50, pins: pins) }
        #expect(report.acknowledgedAfter != nil)
        #expect(zip(report.copies, report.quorum).allSatisfy { $0 >= $1 }, "copies \(report.copies), quorum \(report.quorum)")
        let manifest = try #require(try client.store.manifest(for: report.id))
        #expect(manifest.chunks.count == 4)
        let pieces = ContentStore.pieces(of: report.id, manifest: manifest)
        // The put's own count is what the members hold: each copy it counted is in a member's store.
        for (i, piece) in pieces.enumerated() {
            #expect(mesh.holders(of: piece.id).count == report.copies[i], "piece \(i)")
        }
        let target = report.copies
        // Fewer holders than members: a dead holder leaves its pieces short until repair places them elsewhere.
        #expect(target.allSatisfy { $0 < 8 }, "copies \(target)")

        // Kill a member holding piece 0 (not the entry node); SWIM declares it dead everywhere.
        let victim = try #require(mesh.holders(of: pieces[0].id).first { $0 != 0 })
        mesh.kill(victim)
        #expect(mesh.run(until: { $0.allSee(alive: 7, dead: 1) }, within: 60))
        let short = pieces.indices.filter { mesh.holders(of: pieces[$0].id).count < target[$0] }
        #expect(!short.isEmpty, "the victim held piece 0, so at least it is short")

        // Provider records reach the resource's closest members; then each leader's round repairs what it leads.
        mesh.advance(seconds: 10)
        try mesh.repairRound()
        for (i, piece) in pieces.enumerated() {
            #expect(mesh.holders(of: piece.id).count >= min(target[i], mesh.aliveMembers.count), "piece \(i): \(mesh.holders(of: piece.id)) after repair")
        }
        let repaired = mesh.aliveMembers.map { mesh.nodes[$0]!.replicas!.summary.repairedPieces }.reduce(0, +)
        #expect(repaired >= short.count)

        // Another client, with none of it, reads it from the survivors: every piece checked against its ID.
        try Self.readBack(report.id, by: reader, in: mesh, entry: entry, file: file, original: original)
    }

    @Test("a put pays each holder one signed ledger entry, and anti-entropy spreads every entry to every member, also those paid nothing")
    func ledgerSpreads() throws {
        let mesh = try Self.mesh(members: 8, seed: 83)
        defer { mesh.close() }
        let (client, pins) = try mesh.meshClient(mesh.clients.lowerBound)
        let file = NSTemporaryDirectory() + "harness-ledger-\(UUID().uuidString)"
        try Self.write(Self.text(500_000, seed: 83), to: file)  // one chunk: 5 holders of 8 members
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]
        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 50, pins: pins) }
        let paid = report.holders.filter { $0.bytes > 0 }.count
        #expect(paid >= 5 && paid < mesh.memberCount, "holders paid: \(paid)")
        func known(_ index: Int) -> Int { mesh.nodes[index]!.replicas!.summary.ledgerEntries }
        // Right after the put only the payees hold their own entry; the rest learn them from anti-entropy.
        #expect(mesh.aliveMembers.contains { known($0) < paid })
        let spread = mesh.run(until: { mesh in mesh.aliveMembers.allSatisfy { known($0) == paid } }, within: 60)
        #expect(spread, "entries known per member after \(mesh.elapsedSeconds) s: \(mesh.aliveMembers.map(known))")
        // Every member holds the same entries, each signed by the client.
        let sets = mesh.aliveMembers.map { Set(mesh.nodes[$0]!.replicas!.ledgerEntries.map(\.key)) }
        #expect(Set(sets).count == 1)
    }

    @Test("where credits are enforced, holders release a resource its owner stored and never paid for once the grace period passed; a paid one stays")
    func unpaidReleased() throws {
        // Node 0 is the mesh's credit issuer: every member names its ID (read from its key file, written first).
        let mesh = try MeshHarness(nodes: 8, clients: 1, seed: 97, storage: true) { configuration, _ in
            Self.economy(&configuration)
        }
        defer { mesh.close() }
        #expect(mesh.run(until: { $0.allSee(alive: 7) }, within: 60))
        let owner = mesh.clients.lowerBound
        let (client, pins) = try mesh.meshClient(owner)
        let (issuer, _) = try mesh.meshClient(0)
        let entry = mesh.addresses[0], ownerID = mesh.ids[owner]
        _ = try mesh.complete { try await issuer.grant(10_000_000, to: ownerID, entry: entry) }
        func balance(_ index: Int) -> UInt64? { mesh.nodes[index]!.replicas!.available(to: ownerID) }
        #expect(mesh.run(until: { mesh in mesh.aliveMembers.allSatisfy { balance($0) == 10_000_000 } }, within: 60), "\(mesh.aliveMembers.map(balance))")

        let unpaidFile = NSTemporaryDirectory() + "harness-unpaid-\(UUID().uuidString)", paidFile = unpaidFile + "-paid"
        let unpaidBytes = Self.text(300_000, seed: 97), paidBytes = Self.text(300_000, seed: 98)
        try Self.write(unpaidBytes, to: unpaidFile)
        try Self.write(paidBytes, to: paidFile)
        defer { for file in [unpaidFile, paidFile] { try? FileManager.default.removeItem(atPath: file) } }
        // A hostile client: the holders take the resource (the balance covers it) but it never pays them.
        let unpaid = try mesh.complete { try await client.put(file: unpaidFile, entry: entry, budget: 1_000_000, pins: pins, paying: false) }
        let unpaidAt = mesh.clock.wallSeconds()
        mesh.advance(seconds: 20)
        let paid = try mesh.complete { try await client.put(file: paidFile, entry: entry, budget: 1_000_000, pins: pins) }
        let paidAt = mesh.clock.wallSeconds()
        let unpaidHolders = mesh.holders(of: unpaid.id), paidHolders = mesh.holders(of: paid.id)
        #expect(unpaidHolders.count >= 5 && paidHolders.count >= 5, "\(unpaidHolders) \(paidHolders)")
        func advance(to time: Double) { mesh.advance(seconds: max(0.25, time - mesh.clock.wallSeconds())) }
        // Within the first period (60 s) and its grace (30 s) nothing goes.
        advance(to: unpaidAt + 85)
        try mesh.repairRound()
        #expect(mesh.holders(of: unpaid.id) == unpaidHolders)
        #expect(mesh.holders(of: paid.id) == paidHolders)
        // Past them, every holder of the unpaid resource releases it; the paid one keeps its copies (its first
        // period was paid 20 s later).
        advance(to: unpaidAt + 95)
        try mesh.repairRound()
        #expect(mesh.holders(of: unpaid.id).isEmpty, "still held by \(mesh.holders(of: unpaid.id))")
        #expect(mesh.holders(of: paid.id) == paidHolders)
        let released = mesh.aliveMembers.reduce(0) { $0 + mesh.nodes[$1]!.replicas!.summary.unpaidReleases }
        #expect(released == unpaidHolders.count)
        try Self.readBack(paid.id, by: owner, in: mesh, entry: entry, file: paidFile, original: paidBytes)
        // A client process has no node to pay the next periods: its paid put goes too, once the period it paid and
        // the grace after it are over.
        advance(to: paidAt + 95)
        try mesh.repairRound()
        #expect(mesh.holders(of: paid.id).isEmpty, "still held by \(mesh.holders(of: paid.id))")
    }

    /// An economy for harness tests: node 0 is the credit issuer (every member names its ID, read from its key
    /// file, written first), periods of a minute with 30 s of grace, and prices a million times the seed's, so a
    /// resource of a few hundred kilobytes costs whole credits per copy per period.
    static func economy(_ configuration: inout MeshNode.Configuration) {
        let root = (configuration.dataDirectory as NSString).deletingLastPathComponent
        if let issuer = try? NodeIdentity.load(root + "/0/" + NodeIdentity.fileName) { configuration.replication.creditIssuers = [issuer.id] }
        configuration.replication.billingPeriod = 60
        configuration.replication.paymentGrace = 30
        configuration.replication.pricing = Pricing(baseRate: 20_000_000)
        configuration.replication.repairInterval = 10
        configuration.provideInterval = 5
    }

    @Test("charged per period: the owner's node pays its proven holders each period; a balance that pays fewer copies degrades the resource to them (new ticket, surplus released, data whole); a balance that pays none lets the holders release it after the grace")
    func chargedPerPeriod() throws {
        let mesh = try MeshHarness(nodes: 9, seed: 101, storage: true) { configuration, _ in Self.economy(&configuration) }
        defer { mesh.close() }
        #expect(mesh.run(until: { $0.allSee(alive: 8) }, within: 60))
        // The owner is a member: its node bills the periods after the first.
        let owner = 8, sink = 1
        let (client, pins) = try mesh.meshClient(owner)
        let (issuer, _) = try mesh.meshClient(0)
        let entry = mesh.addresses[0], ownerID = mesh.ids[owner]
        let sinkID = mesh.ids[sink], sinkAddress = mesh.addresses[sink]
        let ownerNode = try #require(mesh.nodes[owner]?.replicas)
        _ = try mesh.complete { try await issuer.grant(10_000_000, to: ownerID, entry: entry) }
        #expect(mesh.run(until: { mesh in mesh.aliveMembers.allSatisfy { mesh.nodes[$0]!.replicas!.available(to: ownerID) == 10_000_000 } }, within: 60))

        let file = NSTemporaryDirectory() + "harness-billed-\(UUID().uuidString)"
        let original = Self.text(1_048_576 + 300_000, seed: 101)
        try Self.write(original, to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 100_000_000, pins: pins) }
        let pieces = ContentStore.pieces(of: report.id, manifest: try client.store.manifest(for: report.id))
        let holders = mesh.holders(of: report.id).filter { $0 != owner }
        #expect(holders.count >= 5, "\(holders)")
        #expect(ownerNode.ownedResources.map(\.resource.resource) == [report.id])
        func spent() -> UInt64 { ownerNode.account(of: ownerID).spent }
        func lease(_ holder: Int) -> ReplicaService.Lease? { mesh.nodes[holder]?.replicas?.lease(for: report.id) }

        // Period 2: every holder proves a piece and is paid its share; each lease runs a period from now.
        mesh.advance(seconds: 50)
        let before = spent()
        try mesh.complete { await ownerNode.billingRound() }
        let first = try #require(ownerNode.ownedResources.first?.bill)
        #expect(first.replicas == holders.count && !first.degraded && first.amounts.allSatisfy { $0 > 0 }, "\(first)")
        #expect(spent() == before + first.total)
        let now = mesh.clock.wallSeconds()
        #expect(mesh.run(until: { _ in holders.allSatisfy { lease($0)?.paidAt.map { now - $0 < 5 } == true } }, within: 10),
                "\(holders.map { lease($0) as Any })")
        #expect(ownerNode.summary.billedCredits == first.total && ownerNode.summary.ownedResources == 1)

        // The owner spends all but half a period's bill elsewhere: the next bill pays fewer copies.
        let keep = first.total / 2
        let balance = try #require(ownerNode.available(to: ownerID))
        _ = try mesh.complete { try await client.grant(balance - keep, to: sinkID, entry: sinkAddress) }
        #expect(mesh.run(until: { _ in ownerNode.available(to: ownerID) == keep }, within: 60))
        mesh.advance(seconds: 50)
        try mesh.complete { await ownerNode.billingRound() }
        let degraded = try #require(ownerNode.ownedResources.first?.bill)
        #expect(degraded.degraded && degraded.replicas >= 1 && degraded.replicas < holders.count && degraded.total <= keep, "\(degraded)")
        #expect(ownerNode.summary.degradedResources == 1)
        // Only enough holders to keep that many copies are paid; they take the newer ticket with the lower budget.
        let paidHolders = holders.filter { holder in
            mesh.run(until: { _ in lease(holder)?.paidAt.map { mesh.clock.wallSeconds() - $0 < 10 } == true }, within: 2)
        }
        #expect(paidHolders.count >= degraded.replicas && paidHolders.count < holders.count, "\(paidHolders) of \(holders)")
        #expect(paidHolders.allSatisfy { mesh.nodes[$0]?.replicas?.ticket(for: report.id)?.budget == degraded.budget })
        // The others' leases end a period after the last full bill; past the grace they release their copies, and
        // repair does not restore them (the ticket's budget pays for no more).
        let unpaidLeases = holders.filter { !paidHolders.contains($0) }.compactMap { lease($0)?.paidThrough }
        mesh.advance(seconds: max(0.25, (unpaidLeases.max() ?? 0) + 31 - mesh.clock.wallSeconds()))
        try mesh.repairRound()
        mesh.advance(seconds: 10)
        try mesh.repairRound()
        #expect(Set(mesh.holders(of: report.id).filter { $0 != owner }) == Set(paidHolders))
        for (i, piece) in pieces.enumerated() {
            let copies = mesh.holders(of: piece.id).filter { $0 != owner }.count
            #expect(copies >= degraded.replicas, "piece \(i): \(copies) copies, \(degraded.replicas) paid")
        }
        try Self.readBack(report.id, by: owner, in: mesh, entry: entry, file: file, original: original)

        // Nothing left: the next bill pays no copy; the holders keep the data through their paid period and grace.
        let rest = try #require(ownerNode.available(to: ownerID))
        if rest > 0 {
            _ = try mesh.complete { try await client.grant(rest, to: sinkID, entry: sinkAddress) }
            #expect(mesh.run(until: { _ in ownerNode.available(to: ownerID) == 0 }, within: 60))
        }
        // (The degraded bill is 0.8 of a period old by now: this round bills again.)
        mesh.advance(seconds: 1)
        try mesh.complete { await ownerNode.billingRound() }
        #expect(ownerNode.ownedResources.first?.bill?.replicas == 0 && ownerNode.summary.unpaidOwnedResources == 1)
        let remaining = mesh.holders(of: report.id).filter { $0 != owner }
        #expect(!remaining.isEmpty)
        // Past the last paid period: lapsing, still held through the grace.
        let lastPaid = remaining.compactMap { lease($0)?.paidThrough }.max() ?? 0
        mesh.advance(seconds: max(0.25, lastPaid + 5 - mesh.clock.wallSeconds()))
        try mesh.repairRound()
        #expect(mesh.holders(of: report.id).filter { $0 != owner } == remaining)
        #expect(remaining.allSatisfy { (mesh.nodes[$0]?.replicas?.summary.lapsingResources ?? 0) == 1 })
        mesh.advance(seconds: 30)
        try mesh.repairRound()
        #expect(mesh.holders(of: report.id).filter { $0 != owner }.isEmpty, "still held by \(mesh.holders(of: report.id))")
        #expect(remaining.allSatisfy { (mesh.nodes[$0]?.replicas?.summary.unpaidReleases ?? 0) == 1 })
    }

    @Test("copies past the target are released in one round: the leader asks every surplus holder at once, each confirms the kept copies before it drops its own, and the data stays whole")
    func surplusReleased() throws {
        let mesh = try Self.mesh(members: 11, seed: 73)
        defer { mesh.close() }
        let writer = mesh.clients.lowerBound
        let (client, pins) = try mesh.meshClient(writer)
        let original = Self.text(1_048_576 + 4_321, seed: 73)
        let file = NSTemporaryDirectory() + "harness-surplus-\(UUID().uuidString)"
        try Self.write(original, to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]
        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 50, pins: pins) }
        let pieces = ContentStore.pieces(of: report.id, manifest: try client.store.manifest(for: report.id))
        let target = report.copies[0]
        let holders = mesh.holders(of: pieces[0].id)
        #expect(holders.count == target)
        // Three more members get piece 0 (with the manifest), as a demand spike's repair would have placed them.
        let source = try #require(mesh.nodes[holders[0]]?.replicas)
        let ticket = try #require(source.ticket(for: report.id))
        let store = try #require(mesh.nodes[holders[0]]?.store)
        let manifestBytes = try #require(try store.storedObject(report.id))
        let pieceBytes = try #require(try store.storedObject(pieces[0].id))
        let extra = Array(mesh.aliveMembers.filter { !holders.contains($0) }.prefix(3))
        try #require(extra.count == 3)
        for member in extra {
            let connection = try #require(mesh.connection(writer, to: member))
            let peers = client.peers
            let stored = try mesh.complete {
                _ = try await peers.storePiece(report.id, of: report.id, ticket: ticket, data: manifestBytes, on: connection)
                return try await peers.storePiece(pieces[0].id, of: report.id, ticket: ticket, data: pieceBytes, on: connection)
            }
            #expect(stored == .stored)
        }
        #expect(mesh.holders(of: pieces[0].id).count == target + 3)
        // Provider records of the new copies reach the leader; one round brings piece 0 back to its target.
        mesh.advance(seconds: 10)
        try mesh.repairRound()
        let released = mesh.aliveMembers.map { mesh.nodes[$0]!.replicas!.summary.releasedPieces }.reduce(0, +)
        #expect(mesh.holders(of: pieces[0].id).count == target, "\(mesh.holders(of: pieces[0].id)) after the round; \(released) released")
        #expect(released == 3)
        for (i, piece) in pieces.enumerated() where i > 0 {
            #expect(mesh.holders(of: piece.id).count >= report.copies[i], "piece \(i) untouched")
        }
        try Self.readBack(report.id, by: writer + 1, in: mesh, entry: entry, file: file, original: original)
    }

    @Test("repair loops sleep on the virtual clock: after a holder dies, the next rounds bring every piece back to its copies without a test calling them")
    func repairLoopsOnVirtualTime() throws {
        let mesh = try Self.mesh(members: 9, seed: 52)
        defer { mesh.close() }
        let (client, pins) = try mesh.meshClient(mesh.clients.lowerBound)
        let file = NSTemporaryDirectory() + "harness-loop-\(UUID().uuidString)"
        try Self.write(Self.text(2 * 1_048_576, seed: 52), to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]
        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 50, pins: pins) }
        let pieces = ContentStore.pieces(of: report.id, manifest: try client.store.manifest(for: report.id))
        #expect(report.copies.allSatisfy { $0 < 8 }, "copies \(report.copies)")
        let victim = try #require(mesh.holders(of: pieces[0].id).first { $0 != 0 })
        mesh.startRepairLoops()
        mesh.kill(victim)
        // Restored, and by repair pushes the leaders counted (a leader that fetched a copy to push keeps it, so
        // the holder count alone can be reached a moment before the push is acknowledged).
        func repaired(_ mesh: MeshHarness) -> Int { mesh.aliveMembers.map { mesh.nodes[$0]!.replicas!.summary.repairedPieces }.reduce(0, +) }
        let restored = mesh.run(until: { mesh in
            repaired(mesh) > 0
                && pieces.indices.allSatisfy { mesh.holders(of: pieces[$0].id).count >= min(report.copies[$0], mesh.aliveMembers.count) }
        }, within: 90)
        #expect(restored, "\(pieces.indices.map { mesh.holders(of: pieces[$0].id) }) against \(report.copies), \(repaired(mesh)) repaired")
    }

    @Test("a failure brings the next repair round forward: with rounds every 60 s, a killed holder's pieces are back within seconds of SWIM suspecting it, not at the next periodic round")
    func failureBringsRepairForward() throws {
        let mesh = try Self.mesh(members: 9, seed: 47, repairInterval: 60)
        defer { mesh.close() }
        let (client, pins) = try mesh.meshClient(mesh.clients.lowerBound)
        let file = NSTemporaryDirectory() + "harness-forward-\(UUID().uuidString)"
        try Self.write(Self.text(2 * 1_048_576, seed: 47), to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]
        let report = try mesh.complete { try await client.put(file: file, entry: entry, budget: 50, pins: pins) }
        let pieces = ContentStore.pieces(of: report.id, manifest: try client.store.manifest(for: report.id))
        mesh.advance(seconds: 10)  // provider records reach the leaders
        mesh.startRepairLoops()
        // Past the half interval a round must wait after the loop starts (30 s); the first periodic round comes
        // 48–72 s after the start, so 17–41 s after the kill.
        mesh.advance(seconds: 31)
        let victim = try #require(mesh.holders(of: pieces[0].id).first { $0 != 0 })
        mesh.kill(victim)
        let killed = mesh.elapsedSeconds
        func restored(_ mesh: MeshHarness) -> Bool {
            pieces.indices.allSatisfy { mesh.holders(of: pieces[$0].id).count >= min(report.copies[$0], mesh.aliveMembers.count) }
        }
        #expect(!restored(mesh), "the victim held piece 0")
        let back = mesh.run(until: restored, within: 15)
        #expect(back, "not restored \(mesh.elapsedSeconds - killed) s after the kill")
        let rounds = mesh.aliveMembers.map { mesh.nodes[$0]!.replicas!.summary.repairRounds }.reduce(0, +)
        #expect(rounds > 0)
    }

    @Test("a job over a stored resource runs where its chunks are, through the example runner in process, and reduces to what the file gives locally; a client that does not own the resource is refused")
    func distributedJob() throws {
        let mesh = try Self.mesh(members: 4, seed: 44)
        defer { mesh.close() }
        let (owner, pins) = try mesh.meshClient(mesh.clients.lowerBound)
        let original = Self.text(3 * 1_048_576, seed: 44)
        let file = NSTemporaryDirectory() + "harness-job-\(UUID().uuidString)"
        try Self.write(original, to: file)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entry = mesh.addresses[0]
        let report = try mesh.complete { try await owner.put(file: file, entry: entry, budget: 50, pins: pins) }
        mesh.advance(seconds: 5)  // provider records out

        let id = report.id
        let submitter = JobSubmitter(client: owner)
        let job = try mesh.complete {
            try await submitter.submit(id, function: "word-count", parameters: "", reduce: .sum, entry: entry, timeout: 30)
        }
        // Per chunk, summed (a word cut by a chunk boundary counts in both chunks, as the job counts it).
        let chunks = stride(from: 0, to: original.count, by: 1_048_576).map { original[$0..<min($0 + 1_048_576, original.count)] }
        let lines = original.filter { $0 == 0x0A }.count
        let words = chunks.map { $0.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A }).count }.reduce(0, +)
        #expect(String(decoding: job.result, as: UTF8.self).split(separator: " ").map(String.init) == ["\(lines)", "\(words)", "\(original.count)\n"])
        #expect(job.parts.allSatisfy { $0.failed == nil })
        #expect(job.parts.map(\.chunks.count).reduce(0, +) == 3)

        // The other client is not the owner: the holders' policy (owners) refuses it.
        let (stranger, _) = try mesh.meshClient(mesh.clients.lowerBound + 1)
        let refused = JobSubmitter(client: stranger)
        #expect(throws: (any Error).self) {
            try mesh.complete { try await refused.submit(id, function: "word-count", parameters: "", reduce: .sum, entry: entry, timeout: 30) }
        }
    }
}
