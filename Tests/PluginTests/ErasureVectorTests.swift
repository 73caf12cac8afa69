// SPDX-License-Identifier: Apache-2.0
import Host
import HostTestSupport
import PluginABI
import Testing

/// The erasure plugin against an independent reference: Reed-Solomon over GF(2^8) with polynomial 0x11D and
/// the Cauchy matrix ISA-L's gf_gen_cauchy1_matrix builds (identity on top, then 1 / (i ^ j)).
/// Committed vectors pin the exact parity bytes, so a change of matrix or field is caught.
@Suite("Erasure plugin: reference and non-regression vectors")
struct ErasureVectorTests {
    // MARK: Reference GF(2^8)

    static let (exp, log): ([UInt8], [Int]) = {
        var exp = [UInt8](repeating: 0, count: 512)
        var log = [Int](repeating: 0, count: 256)
        var x = 1
        for i in 0..<255 {
            exp[i] = UInt8(x)
            log[x] = i
            x <<= 1
            if x & 0x100 != 0 { x ^= 0x11D }
        }
        for i in 255..<512 { exp[i] = exp[i - 255] }
        return (exp, log)
    }()

    static func mul(_ a: UInt8, _ b: UInt8) -> UInt8 {
        a == 0 || b == 0 ? 0 : exp[log[Int(a)] + log[Int(b)]]
    }

    static func inverse(_ a: UInt8) -> UInt8 { exp[255 - log[Int(a)]] }

    /// Parity shards by the reference: parity[p][byte] = XOR over j of C[k+p][j] · data[j][byte].
    static func referenceParity(_ data: [[UInt8]], m: Int) -> [[UInt8]] {
        let k = data.count
        return (0..<m).map { p in
            (0..<data[0].count).map { byte in
                (0..<k).reduce(UInt8(0)) { acc, j in acc ^ mul(inverse(UInt8((k + p) ^ j)), data[j][byte]) }
            }
        }
    }

    static func pattern(k: Int, length: Int) -> [[UInt8]] {
        (0..<k).map { i in (0..<length).map { j in UInt8(truncatingIfNeeded: i * 7 + j * 13 + 1) } }
    }

    // MARK: Plugin

    let host: HostRuntime

    init() throws {
        host = try HostRuntime(
            manifest: Manifest(
                arena: ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10),
                plugins: [PluginSpec(location: .path(try PluginFixtures.builtPlugin("InosErasure")), kind: .erasureCodec)]),
            logger: quietLogger)
        try host.start()
    }

    func encode(_ data: [[UInt8]], m: Int) -> (inos_status, [[UInt8]]) {
        host.slot("erasure")!.withActive { plugin in
            let table = plugin.extensionTable(as: inos_erasure_v1.self).pointee
            let length = data[0].count
            var parity = [[UInt8]](repeating: [UInt8](repeating: 0, count: length), count: m)
            var error = inos_error()
            let inputs = data.map { bytes -> UnsafeMutablePointer<UInt8> in
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: length)
                p.initialize(from: bytes, count: length)
                return p
            }
            let outputs = (0..<m).map { _ in UnsafeMutablePointer<UInt8>.allocate(capacity: length) }
            defer { (inputs + outputs).forEach { $0.deallocate() } }
            var sources = inputs.map { Optional(UnsafePointer($0)) }
            var targets = outputs.map { Optional($0) }
            let status = table.encode(plugin.instance, UInt32(data.count), UInt32(m), UInt64(length), &sources, &targets, &error)
            for p in 0..<m { parity[p] = Array(UnsafeBufferPointer(start: outputs[p], count: length)) }
            return (status, parity)
        }!
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("parity equals the independent reference", arguments: [(1, 1), (4, 2), (10, 2), (10, 4), (17, 3), (100, 20)])
    func matchesReference(k: Int, m: Int) {
        for length in [1, 15, 16, 33, 64, 1000] {
            let data = Self.pattern(k: k, length: length)
            let (status, parity) = encode(data, m: m)
            #expect(status == INOS_OK)
            #expect(parity == Self.referenceParity(data, m: m), "k=\(k) m=\(m) length=\(length)")
        }
    }

    @Test("committed vectors: the exact parity of fixed inputs")
    func vectors() {
        // Computed by the reference above; they must never change for the same (k, m, data).
        let four = encode(Self.pattern(k: 4, length: 16), m: 2).1
        #expect(four.map(Self.hex) == Self.vector4x2)
        let ten = encode(Self.pattern(k: 10, length: 16), m: 2).1
        #expect(ten.map(Self.hex) == Self.vector10x2)
        #expect(Self.referenceParity(Self.pattern(k: 4, length: 16), m: 2).map(Self.hex) == Self.vector4x2)
    }

    static let vector4x2: [String] = ["4ed20239520df2b19e81598a28e3f8ea", "ef9754b06f19d00005db64ba7e51c530"]
    static let vector10x2: [String] = ["8d9c3d44f074eb4bfebfe0a54496ca5c", "49c0870160c19bb62b7103193adec847"]
}
