// SPDX-License-Identifier: Apache-2.0
import Content
import Identity
import Testing
import WorkAllocation

@testable import Replication

/// Replication and job payloads come from any peer: every integer at 0, 1, max − 1 and max, and every claimed
/// count against the bytes present (docs/wire.md, "Values from peers").
@Suite("Replication and job payloads at their bounds")
struct WireDecodingTests {
    static let resource = ContentID(hashing: [1, 2, 3])
    static let piece = ContentID(hashing: [4, 5])
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    @Test("STORE: ticket budgets, sizes, issue and expiry times 0, 1, max − 1 and max decode; a cut ticket is malformed")
    func store() {
        let owner = NodeIdentity.ephemeral()
        for value in [UInt64(0), 1, .max - 1, .max] {
            var ticket = OwnerTicket(resource: Self.resource, size: value, budget: value, owner: owner)
            ticket.issued = value
            ticket.expiry = value
            let payload = ReplicationWire.store(resource: Self.resource, ticket: ticket, piece: Self.piece) + [7, 7]
            let decoded = ReplicationWire.decodeStore(payload)
            #expect(decoded?.ticket == ticket && decoded?.piece == Self.piece && decoded.map { Array($0.data) } == [7, 7])
            // Times changed after signing: the ticket decodes (decoding never judges it), the holder refuses it.
            #expect(ticket.problem(now: 1) != nil)
        }
        let full = ReplicationWire.store(resource: Self.resource, ticket: OwnerTicket(resource: Self.resource, size: 1, budget: 1, owner: owner), piece: Self.piece)
        for cut in [45, 100, full.count - Self.piece.bytes.count - 1] {
            #expect(ReplicationWire.decodeStore(Array(full.prefix(cut))) == nil, "cut at \(cut)")
        }
        #expect(ReplicationWire.decodeStore([2] + ReplicationWire.have(Self.resource)) == nil)
        #expect(ReplicationWire.decodeStore([0, 0]) == nil && ReplicationWire.decodeStore([0, 255]) == nil)
    }

    @Test("RELEASE: holder lists of 0, 1 and 256 members decode; 257, or a count past the bytes, do not")
    func releaseHolders() {
        for count in [0, 1, 256] {
            let holders = (0..<count).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
            #expect(ReplicationWire.decodeRelease(ReplicationWire.release(Self.resource, pieces: [true], holders: holders))?.holders == holders)
        }
        let base = ReplicationWire.release(Self.resource, pieces: [true])
        #expect(ReplicationWire.decodeRelease(base + Self.le(UInt16(257)) + Array(repeating: 0, count: 8 * 257)) == nil)
        #expect(ReplicationWire.decodeRelease(base + Self.le(UInt16(2)) + Array(repeating: 0, count: 8)) == nil)
        #expect(ReplicationWire.decodeRelease(base + [1]) == nil)
    }

    @Test("HAVE_REPLY and RELEASE: piece counts 0, 1, 2^24 decode; 2^24 + 1, max − 1 and max, or counts past the bytes, do not")
    func pieceCounts() {
        for count in [0, 1, 9, 1 << 24] {
            let pieces = (0..<count).map { $0 % 3 == 0 }
            #expect(ReplicationWire.decodeHaveReply(ReplicationWire.haveReply(.init(load: 0.5, demand: 1, pieces: pieces)))?.pieces == pieces)
            #expect(ReplicationWire.decodeRelease(ReplicationWire.release(Self.resource, pieces: pieces))?.1 == pieces)
        }
        let head = Self.le(Double(0).bitPattern) + Self.le(Double(0).bitPattern)
        for claimed in [UInt32(1 << 24) + 1, .max - 1, .max] {
            let bytes = Array(repeating: UInt8(0), count: (Int(claimed) + 7) / 8 > 1 << 22 ? 16 : (Int(claimed) + 7) / 8)
            #expect(ReplicationWire.decodeHaveReply(head + Self.le(claimed) + bytes) == nil)
            #expect(ReplicationWire.decodeRelease(ReplicationWire.have(Self.resource) + Self.le(claimed) + bytes) == nil)
        }
        #expect(ReplicationWire.decodeHaveReply(head + Self.le(UInt32(9)) + [0]) == nil)  // 9 bits need 2 bytes
        #expect(ReplicationWire.decodeHaveReply(head + Self.le(UInt32(9)) + [0, 0, 0]) == nil)
        let nan = Self.le(Double.nan.bitPattern) + Self.le(Double(0).bitPattern) + Self.le(UInt32(0))
        #expect(ReplicationWire.decodeHaveReply(nan) == nil)
    }

    @Test("JOB_RUN: chunk indices 0, 1, max − 1 and max (u32) decode; a chunk count past the bytes or above 2^20 does not")
    func jobRun() {
        let chunks = [0, 1, Int(UInt32.max) - 1, Int(UInt32.max)]
        let run = JobWire.Run(resource: Self.resource, function: "f", parameters: "p", chunks: chunks)
        #expect(JobWire.decodeRun(JobWire.encode(run)) == run)
        let empty = JobWire.Run(resource: Self.resource, function: "", parameters: "", chunks: [])
        let prefix = Array(JobWire.encode(empty).dropLast(4))
        for claimed in [UInt32(1), UInt32(JobWire.maximumChunks) + 1, .max - 1, .max] {
            #expect(JobWire.decodeRun(prefix + Self.le(claimed)) == nil)
        }
        #expect(JobWire.decodeRun(prefix + Self.le(UInt32(JobWire.maximumChunks) + 1) + Array(repeating: 0, count: 4 * (JobWire.maximumChunks + 1))) == nil)
        #expect(JobWire.decodeRun(prefix + Self.le(UInt32(1)) + [1, 0, 0, 0])?.chunks == [1])
        #expect(JobWire.decodeRun([0]) == nil && JobWire.decodeRun([]) == nil)
    }

    @Test("JOB_DONE: outcome counts and result lengths past the bytes are malformed; chunks 0 … max round-trip")
    func jobDone() {
        let outcomes = [0, 1, Int(UInt32.max) - 1, Int(UInt32.max)].map { JobWire.Outcome(chunk: $0, result: .success([UInt8($0 & 0xFF)])) }
            + [JobWire.Outcome(chunk: 3, result: .failure(.init("no", retryable: true)))]
        #expect(JobWire.decodeDone(JobWire.encode(outcomes)) == outcomes)
        #expect(JobWire.decodeDone(JobWire.encode([])) == [])
        for claimed in [UInt32(1), UInt32(JobWire.maximumChunks) + 1, .max - 1, .max] {
            #expect(JobWire.decodeDone(Self.le(claimed)) == nil)
        }
        for length in [UInt32(2), .max - 1, .max] {  // one outcome claiming more result bytes than follow
            #expect(JobWire.decodeDone(Self.le(UInt32(1)) + Self.le(UInt32(0)) + [0] + Self.le(length) + [9]) == nil)
        }
        #expect(JobWire.decodeDone(Self.le(UInt32(1)) + Self.le(UInt32(0)) + [3] + Self.le(UInt32(0))) == nil)  // status 3
    }
}
