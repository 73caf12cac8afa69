// SPDX-License-Identifier: Apache-2.0
import HostTestSupport
import Testing
import Wire

@Suite("Wire protocol")
struct WireTests {
    /// Every type byte: the link's own and those other modules declare parse alike.
    static let everyType = (0...255).map { FrameType(rawValue: UInt8($0)) }

    @Test("every type byte round-trips with its request id and payload")
    func roundTrip() throws {
        for (index, type) in Self.everyType.enumerated() {
            let message = WireMessage(type, requestID: UInt64(index) << 40 | 7, payload: Array(repeating: UInt8(index), count: index * 3))
            #expect(try WireMessage.decode(message.encoded) == message)
        }
        #expect(WireMessage(.ping).encoded.count == WireHeader.size)
    }

    @Test("request ids 0, 1, max − 1 and max round-trip through the header")
    func requestIDBounds() throws {
        for id in [UInt64(0), 1, .max - 1, .max] {
            let message = WireMessage(.ping, requestID: id)
            #expect(try WireMessage.decode(message.encoded).header.requestID == id)
        }
    }

    @Test("truncated, wrong-version and flagged headers are typed errors; an unknown type parses (the peer layer answers it)")
    func badHeaders() throws {
        let good = WireMessage(.ping, requestID: 1).encoded
        #expect((#expect(throws: WireError.self) { try WireMessage.decode(Array(good.prefix(11))) })?.code == .truncated)
        var version = good
        version[0] = 2
        #expect((#expect(throws: WireError.self) { try WireMessage.decode(version) })?.code == .unsupportedVersion)
        var type = good
        type[1] = 0x99
        #expect(try WireMessage.decode(type).header.type == FrameType(rawValue: 0x99))
        #expect(FrameType(rawValue: 0x99).description == "0x99")
        var flags = good
        flags[3] = 0x80
        #expect((#expect(throws: WireError.self) { try WireMessage.decode(flags) })?.code == .malformed)
        #expect((#expect(throws: WireError.self) { try WirePayload.splitKey([70] + Array(repeating: 1, count: 70)) })?.code == .malformed)
        #expect((#expect(throws: WireError.self) { try WirePayload.splitKey([5, 1, 2]) })?.code == .malformed)
        #expect(try WirePayload.splitKey(WirePayload.key([9, 9], then: [1, 2, 3])).key == [9, 9])
    }

    @Test("fuzz: 100,000 random byte strings and mutations of valid frames never trap, and fail only with WireError")
    func fuzz() {
        var random = SeededRandom(seed: 2026)
        let valid = FrameType.linkTypes.map { WireMessage($0, requestID: random.next(), payload: [1, 2, 3]).encoded }
        var decoded = 0, refused = 0
        for round in 0..<100_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                bytes = valid[Int(random.next() % UInt64(valid.count))]
                for _ in 0..<(1 + random.next() % 3) where !bytes.isEmpty {
                    bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                }
                if random.next() % 4 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1)))) }
            }
            do throws(WireError) {
                _ = try WireMessage.decode(bytes)
                decoded += 1
            } catch {
                refused += 1
            }
        }
        #expect(decoded + refused == 100_000)
        #expect(decoded > 1_000 && refused > 1_000)  // both paths really ran
    }

    @Test("ERROR payloads: code and text round-trip; short, old-style and oversized payloads decode without trapping")
    func errorPayload() {
        let busy = ErrorPayload(.busy, "retry later")
        #expect(busy.encoded == [1, 0, 0, 0] + Array("retry later".utf8))
        #expect(ErrorPayload(decoding: busy.encoded) == busy)
        #expect(ErrorPayload(decoding: [0xFF, 0xFE]) == ErrorPayload(.unspecified, String(decoding: [0xFF, 0xFE], as: UTF8.self)))
        let future = ErrorPayload(decoding: [9, 0, 0, 0] + Array(repeating: 0x41, count: 10_000))
        #expect(future.code.rawValue == 9 && future.code.description == "code 9")
        #expect(future.message.utf8.count == ErrorPayload.maximumTextBytes)
        #expect(ErrorPayload(decoding: []).code == .unspecified)
    }
}
