// SPDX-License-Identifier: Apache-2.0
// The seed generator: writes Fuzz/Corpus/<target>/<name> from the node's real encoders and a real exchange
// (a handshake between two identities, SWIM and gossip nodes talking, signed records), so the fuzzer starts
// from traffic a node sees instead of from nothing. Run from the repository root:
//
//     swift run InosFuzzSeeds            (rewrites Fuzz/Corpus; the committed corpus is its output, minimized)
import Content
import Foundation
import Host
import Identity
import InosFuzzTargets
import Mesh
import MeshCore
import Replication
import Session
import Wire
import WorkAllocation

let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Fuzz/Corpus")
nonisolated(unsafe) var written = 0

func seed(_ target: String, _ name: String, _ bytes: [UInt8]) {
    precondition(FuzzTargets.named(target) != nil, "no target \(target)")
    let folder = root.appendingPathComponent(target)
    try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try! Data(bytes).write(to: folder.appendingPathComponent(name))
    written += 1
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
let records = FuzzInput.records

// MARK: Identities and signed things, as nodes make them

let owner = NodeIdentity.ephemeral(), holder = NodeIdentity.ephemeral()
let resourceBytes = Array("the resource's bytes: mesh chunk replica node gossip ".utf8)
let resource = ContentID(hashing: resourceBytes, codec: .manifest), piece = ContentID(hashing: resourceBytes)
let ticket = OwnerTicket(resource: resource, size: 1 << 20, budget: 5_000, owner: owner)
var ledgerEntry = LedgerEntry(payer: owner.id.bytes, payee: holder.id.bytes, lamport: 1_700_000_000_000_000, amount: 42, resource: resource.digest,
                              bytes: 1 << 20, payerKey: owner.publicKey)
ledgerEntry.signature = owner.sign(ledgerEntry.signedBytes)
let providerKey = piece.digest
let providerRecord = ProviderRecord(signing: providerKey, address: "tcp://10.0.0.7:7400", ttl: 3600, lamport: 77, by: holder)

// MARK: SWIM and gossip nodes talking (real messages, real simulated signatures)

var swimMessages: [(MemberID, SwimMessage)] = []
do {
    let a = SwimNode(simulated: 2, seed: 1, now: 0, address: "tcp://10.0.0.2:7400"), b = SwimNode(simulated: 3, seed: 2, now: 0, address: "tcp://10.0.0.3:7400")
    var pending = a.join(seeds: [3], now: 0).map { (2 as MemberID, $0) }
    var now: UInt64 = 0
    for round in 0..<12 {
        now += 700_000_000
        pending += a.tick(now: now).map { (2, $0) } + b.tick(now: now).map { (3, $0) }
        var next: [(MemberID, SwimNode.Outbound)] = []
        for (from, outbound) in pending {
            swimMessages.append((from, outbound.message))
            let node = outbound.to == 2 ? a : outbound.to == 3 ? b : nil
            if let node { next += node.receive(outbound.message, from: from, now: now).map { (node.id, $0) } }
        }
        pending = next
        if round == 6 { pending += b.join(seeds: [2], now: now).map { (3, $0) } }
    }
}
let swimBodies = swimMessages.map { SwimCodec.encode($0.1) }

let status = NodeStatus(load: 0.25, capacityBytes: 1 << 40, freeBytes: 1 << 39, regionName: "r3")
let gossiper = GossipNode(simulated: 2, seed: 3)
gossiper.members = [1, 3, 4]
let gossipMessages = [
    gossiper.publish(NodeStatus.topic, status.encoded), gossiper.publish("signaling", MeshFrameCodecs.encodeOffer(target: 1, address: "tcp://10.0.0.2:7400")),
    gossiper.publish("anti-entropy", le(UInt64(0xDEAD_BEEF))),
].compactMap { $0.first?.message }

// MARK: wire — every frame type with a real body

let run = JobWire.Run(resource: resource, function: "word_count", parameters: "{\"min\": 2}", chunks: [0, 1, 5])
let bodies: [(String, FrameType, [UInt8])] = [
    ("ping", .ping, []), ("close", .close, []),
    ("error-busy", .error, ErrorPayload(.busy, "lane full").encoded), ("error-old", .error, Array("text only".utf8)),
    ("chunk-get", .chunkGet, WirePayload.key(piece.bytes)), ("chunk-data", .chunkData, WirePayload.key(piece.bytes, then: resourceBytes)),
    ("find-node", .findNode, WirePayload.key(providerKey)),
    ("membership-join", .membership, swimBodies.first!), ("membership-last", .membership, swimBodies.last!),
    ("gossip-status", .gossip, GossipCodec.encode(gossipMessages[0])),
    ("provide", .provide, MeshFrameCodecs.encodeProviderRecord(key: providerKey, providerRecord)),
    ("providers", .providers, MeshFrameCodecs.encodeProviderRecord(key: providerKey, providerRecord) + MeshFrameCodecs.encodeProviderRecord(key: providerKey, providerRecord)),
    ("nodes", .nodes, le(UInt64(7)) + [13] + Array("tcp://a:7400".utf8) + le(UInt64(9)) + [0]),
    ("members-reply", .membersReply, MemberInfo.encodeList([MemberInfo(member: 7, address: "tcp://10.0.0.7:7400", status: status), MemberInfo(member: 8, address: "", status: nil)])),
    ("merkle-reply", .merkleReply, (0..<16).flatMap { le(UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }),
    ("store", .store, ReplicationWire.store(resource: resource, ticket: ticket, piece: piece) + resourceBytes),
    ("stored", .stored, ReplicationWire.stored(.noSpace, "no space")),
    ("have", .have, ReplicationWire.have(resource)),
    ("have-reply", .haveReply, ReplicationWire.haveReply(.init(load: 0.5, demand: 3, pieces: [true, false, true, true, false, false, false, false, true]))),
    ("release", .release, ReplicationWire.release(resource, pieces: [false, true, true], holders: [7, 8])),
    ("ledger", .ledger, ledgerEntry.encoded),
    ("challenge", .challenge, ReplicationWire.challenge(piece, nonce: Array(repeating: 7, count: ReplicationWire.nonceSize))),
    ("proof", .proof, ReplicationWire.proof(ReplicationWire.proofDigest(nonce: Array(repeating: 7, count: 32), stored: resourceBytes))),
    ("job-run", .jobRun, JobWire.encode(run)),
    ("job-done", .jobDone, JobWire.encode([JobWire.Outcome(chunk: 0, result: .success([1, 2, 3])), JobWire.Outcome(chunk: 5, result: .failure(.init("missing", retryable: true)))])),
]
for (name, type, body) in bodies { seed("wire", name, WireMessage(type, requestID: 7, payload: body).encoded) }

// MARK: session — a real handshake's frames, and real messages behind the session

do {
    var initiator = Handshake(identity: owner, role: .initiator(expecting: nil))
    var responder = Handshake(identity: holder, role: .responder)
    let initFrame = initiator.start()
    guard case .send(let response) = try responder.receive(initFrame), case .established(_, let finish?) = try initiator.receive(response) else { fatalError("handshake") }
    seed("session", "open-init-response-finish", [0] + records([initFrame, response, finish]))
    let key = MeshKey(bytes: Array(repeating: 0x5A, count: MeshKey.size))!
    var keyed = Handshake(identity: owner, role: .initiator(expecting: nil), admission: Admission(keys: [key]))
    seed("session", "keyed-init", [1] + records([keyed.start()]))
    let plaintexts = bodies.map { WireMessage($0.1, requestID: 1, payload: $0.2).encoded }
    seed("session", "finish-then-messages", [2] + records([[]] + plaintexts.prefix(6)))
    seed("session", "finish-patched", [2] + records([[5, 0x40, 60, 1]]))
    seed("session", "keyed-finish", [3] + records([[]]))
    seed("session", "response-patched", [4] + records([[97, 0x01]]))
    seed("session", "sealed-messages", [5] + records(plaintexts))
    seed("session", "sealed-framing", [5] + records([WireMessage(.handshakeInit, payload: initFrame).encoded, [1, 0x10]]))
}

// MARK: swim, gossip

func swimSeed(_ messages: ArraySlice<(MemberID, SwimMessage)>, resign: Bool) -> [UInt8] {
    records(messages.flatMap { from, message in [[resign ? 0x80 : 0, UInt8(truncatingIfNeeded: from)] + SwimCodec.encode(message), [1] + le(UInt32(400))] })
}
seed("swim", "join-and-probes", swimSeed(swimMessages.prefix(8), resign: false))
seed("swim", "later-rounds", swimSeed(swimMessages.suffix(12), resign: false))
seed("swim", "resigned", swimSeed(swimMessages.prefix(20), resign: true))
seed("swim", "join-ticks-address", records([[2, 2, 2, 3], [1] + le(UInt32(1500)), [3, 4] + Array("tcp://10.0.0.4:7400".utf8), [1] + le(UInt32(9000))]))

seed("gossip", "status-offer-root", records(gossipMessages.map { [0, 2] + GossipCodec.encode($0) }))
seed("gossip", "resigned-forward", records([[2, 3, 1, 2, 3, 4, 5]] + gossipMessages.map { [0x80, 3] + GossipCodec.encode($0) }))
seed("gossip", "publish", records([[1, 11] + Array("node-status".utf8) + status.encoded, [0, 4] + GossipCodec.encode(gossipMessages[0])]))

// MARK: kademlia — answers as NODES bodies and as whole keys

do {
    let sim = DHTSimulator(nodes: 64, k: 8, seed: 5)
    let target = sim.randomKey()
    func keyBytes(_ key: Key256) -> [UInt8] { [key.words.0, key.words.1, key.words.2, key.words.3].flatMap { withUnsafeBytes(of: $0.bigEndian) { Array($0) } } }
    let start = sim.ids.prefix(3).flatMap(keyBytes)
    let answers = (0..<12).map { i in sim.ids.dropFirst(3 + i * 4).prefix(4).flatMap(keyBytes) }
    seed("kademlia", "whole-keys", [1] + keyBytes(target) + records([start] + answers + [[]]))
    func nodesBody(_ members: [UInt64]) -> [UInt8] {
        var body: [UInt8] = []
        for member in members { body += le(member) + [12] + Array("tcp://x:7400".utf8) }
        return body
    }
    let later: [[UInt8]] = (0..<9).map { (i: Int) -> [UInt8] in nodesBody([UInt64(i) * 977, UInt64(i) << 40]) }
    seed("kademlia", "nodes-bodies", [0] + keyBytes(target) + records([nodesBody([1, 2, 3])] + later))
    let silent: [[UInt8]] = [nodesBody([5, 6, 7, 8]), [], [], [], []]
    seed("kademlia", "silent-contacts", [0] + keyBytes(target) + records(silent))
}

// MARK: merkle

let items = (0..<40).flatMap { le(UInt64($0) &* 0x0123_4567_89AB_CDEF) + [UInt8($0)] }
let otherItems = (20..<60).flatMap { le(UInt64($0) &* 0x0123_4567_89AB_CDEF) + [UInt8($0 * 3)] }
seed("merkle", "honest-depth-2", [0, 1] + records([items, otherItems]))
seed("merkle", "honest-depth-3", [0, 2] + records([items, otherItems]))
seed("merkle", "replies", [1, 1] + records([items, le(UInt64(1))] + (0..<17).map { i in (0..<16).flatMap { le(UInt64($0 + i)) } }))
seed("merkle", "questions", [2, 2] + records([items] + [(0, 0), (1, 15), (2, 255), (3, 0), (-1, 0), (1, 16)].map { le(UInt64(bitPattern: Int64($0.0))) + le(UInt64(bitPattern: Int64($0.1))) }))

// MARK: manifest — real manifests, with and without erasure

func chunks(_ size: UInt64, _ chunkSize: UInt64) -> [ResourceManifest.Chunk] {
    stride(from: UInt64(0), to: size, by: Int(chunkSize)).map { offset in
        let length = min(chunkSize, size - offset)
        return ResourceManifest.Chunk(id: ContentID(hashing: le(offset)), length: length, encoding: offset % 2 == 0 ? .raw : .lz4Frame, storedLength: length / 2 + 1)
    }
}
seed("manifest", "plain", ResourceManifest(size: 10_000, chunkSize: 4096, chunks: chunks(10_000, 4096), erasure: nil).encoded())
seed("manifest", "empty", ResourceManifest(size: 0, chunkSize: 1 << 20, chunks: [], erasure: nil).encoded())
do {
    let data = chunks(9 * 1024, 1024)
    let parity = (0..<6).map { ResourceManifest.Chunk(id: ContentID(hashing: le(UInt64($0) + 99)), length: 1024, encoding: .raw, storedLength: 1024) }
    seed("manifest", "erasure-4-2", ResourceManifest(size: 9 * 1024, chunkSize: 1024, chunks: data, erasure: .init(dataShards: 4, parityShards: 2, parity: parity)).encoded())
}

// MARK: ledger

seed("ledger", "one-entry", [0] + records([ledgerEntry.encoded]))
do {
    var entries: [LedgerEntry] = []
    for i in 0..<4 {
        var entry = ledgerEntry
        entry.lamport += UInt64(i)
        entry.amount = UInt64(i) * 1000
        entry.signature = owner.sign(entry.signedBytes)
        entries.append(entry)
    }
    seed("ledger", "leaf", [0] + records([entries.flatMap(\.encoded)]))
    seed("ledger", "resigned", [1] + records(entries.map(\.encoded) + [entries.flatMap(\.encoded)]))
    var saturating = ledgerEntry
    saturating.amount = .max
    seed("ledger", "resigned-saturating", [3] + records([saturating.encoded, { var e = saturating; e.lamport += 1; return e.encoded }()]))
}

// MARK: toml — the manifests the docs and the tests show, and a mesh key file

do {
    var manifests: [String] = []
    for file in ["README.md", "docs/plugin-abi.md"] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        for block in text.components(separatedBy: "```toml\n").dropFirst() { manifests.append(block.components(separatedBy: "```")[0]) }
    }
    if let tests = try? String(contentsOfFile: "Tests/HostTests/ManifestTests.swift", encoding: .utf8),
        let start = tests.range(of: "static let complete = \"\"\"\n"), let end = tests.range(of: "\"\"\"", range: start.upperBound..<tests.endIndex)
    {
        manifests.append(String(tests[start.upperBound..<end.lowerBound]).split(separator: "\n", omittingEmptySubsequences: false).map { $0.drop { $0 == " " } }.joined(separator: "\n"))
    }
    precondition(manifests.count >= 3, "the docs' TOML manifests were not found: run from the repository root")
    for (index, text) in manifests.enumerated() { seed("toml", "manifest-\(index)", Array(text.utf8)) }
    seed("toml", "mesh-key", Array(MeshKeyFile.encode(Array(repeating: 0xA5, count: 32), id: "0123456789abcdef").utf8))
}

// MARK: lz4, erasure

let text = Array(String(repeating: "mesh chunk replica node gossip\n", count: 40).utf8)
seed("lz4", "frame", [0x00, 0x10, 0x00] + PluginSeeds.lz4Frame(text)!)
seed("lz4", "frame-short-capacity", [0x40, 0x00, 0x00] + PluginSeeds.lz4Frame(text)!)
seed("lz4", "raw-text", [0x00, 0x04, 0x00] + text.prefix(300))
seed("erasure", "honest-4-2", [0, 3, 1] + le(UInt16(63)) + [0x05] + text.prefix(256))
seed("erasure", "honest-10-4-lose-4", [0, 9, 3] + le(UInt16(200)) + [0x0F, 0x30] + text.prefix(512))
seed("erasure", "hostile-255", [1, 200, 100] + le(UInt16(7)) + Array(repeating: 0xFF, count: 38))
seed("erasure", "hostile-zero", [1, 0, 0] + le(UInt16(0)))

print("wrote \(written) seeds under \(root.path)")
