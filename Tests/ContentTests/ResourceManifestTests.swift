// SPDX-License-Identifier: Apache-2.0
import Content
import Testing

@Suite("Resource manifests and Merkle roots")
struct ResourceManifestTests {
    static func chunk(_ n: Int, length: UInt64 = 1 << 20) -> ResourceManifest.Chunk {
        .init(id: ContentID(hashing: [UInt8(n & 0xFF), UInt8(n >> 8)]), length: length, encoding: n % 2 == 0 ? .lz4Frame : .raw,
              storedLength: n % 2 == 0 ? 400_000 : length)
    }

    static func sample(chunks: Int = 25, erasure: Bool = true) -> ResourceManifest {
        let size = UInt64(chunks - 1) * (1 << 20) + 12_345
        var list = (0..<chunks).map { chunk($0) }
        list[chunks - 1].length = 12_345
        let parity = erasure ? (0..<(3 * 2)).map { chunk(1000 + $0) } : []
        return ResourceManifest(size: size, chunkSize: 1 << 20, chunks: list,
                                erasure: erasure ? .init(dataShards: 10, parityShards: 2, parity: parity) : nil)
    }

    @Test("encoding round-trips and the ID is stable")
    func roundTrip() throws {
        for erasure in [true, false] {
            let manifest = Self.sample(erasure: erasure)
            let decoded = try ResourceManifest(decoding: manifest.encoded(), expected: manifest.id)
            #expect(decoded == manifest)
            #expect(decoded.id == manifest.id)
            #expect(decoded.id.codec == .manifest)
        }
        #expect(Self.sample().id != Self.sample(erasure: false).id)
    }

    @Test("every truncation and every single-byte corruption is rejected, never a crash")
    func corruption() throws {
        let bytes = Self.sample(chunks: 4).encoded()
        for cut in 0..<bytes.count {
            #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: Array(bytes.prefix(cut))) }
        }
        var accepted = 0
        for index in 0..<bytes.count {
            var corrupt = bytes
            corrupt[index] ^= 0x41
            if (try? ResourceManifest(decoding: corrupt)) != nil { accepted += 1 }
            // With the ID given, nothing altered may pass.
            #expect(throws: ManifestDecodingError.self) {
                try ResourceManifest(decoding: corrupt, expected: Self.sample(chunks: 4).id)
            }
        }
        // Without the ID, only changes the format cannot see (a stored length) may decode.
        #expect(accepted < bytes.count / 10)
    }

    @Test("inconsistent manifests are refused with a reason")
    func inconsistent() {
        var manifest = Self.sample(erasure: false)
        manifest.size += 1 << 20  // now needs one more chunk
        let error = #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: manifest.encoded()) }
        #expect(error?.description.contains("chunks cannot hold") == true)
        let garbage = #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: Array("hello".utf8)) }
        #expect(garbage?.description.contains("bad magic") == true)
    }

    @Test("Merkle roots: order matters, leaves and nodes are separated, odd levels promote")
    func merkle() {
        let a = [UInt8](repeating: 1, count: 32), b = [UInt8](repeating: 2, count: 32), c = [UInt8](repeating: 3, count: 32)
        #expect(MerkleTree.root(of: [a, b]) != MerkleTree.root(of: [b, a]))
        #expect(MerkleTree.root(of: [a, b, c]) != MerkleTree.root(of: [a, b]))
        #expect(MerkleTree.root(of: []) != MerkleTree.root(of: [a]))
        // A second-preimage attempt: presenting an inner node as a leaf gives another root.
        let inner = MerkleTree.root(of: [a, b])
        #expect(MerkleTree.root(of: [inner]) != inner)
        #expect(MerkleTree.root(of: Array(repeating: a, count: 1000)).count == 32)
    }
}

/// Manifests come from peers (and from disk, where a pinned one is read at every start): whatever they claim,
/// decoding ends in a value or an error, never a trap or an allocation the bytes do not justify.
@Suite("Resource manifests at their bounds")
struct ResourceManifestBoundsTests {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
        return out + [UInt8(value)]
    }

    /// Magic, version, size, chunk size and chunk count, then `tail`.
    static func header(size: UInt64, chunkSize: UInt64, count: UInt64, tail: [UInt8] = []) -> [UInt8] {
        Array("INOSMAN".utf8) + varint(1) + varint(size) + varint(chunkSize) + varint(count) + tail
    }

    static func one(chunkSize: UInt64, length: UInt64 = 1, storedLength: UInt64? = nil, erasure: (Int, Int, UInt64)? = nil) -> ResourceManifest {
        let chunk = ResourceManifest.Chunk(id: ContentID(hashing: [1]), length: length, encoding: .raw, storedLength: storedLength ?? length)
        let parity = erasure.map { (k, m, parityLength) in
            ResourceManifest.Erasure(dataShards: k, parityShards: m, parity: (0..<min(m, 300)).map {
                .init(id: ContentID(hashing: [UInt8(truncatingIfNeeded: $0), 2]), length: parityLength, encoding: .raw, storedLength: parityLength)
            })
        }
        return ResourceManifest(size: length, chunkSize: chunkSize, chunks: [chunk], erasure: parity)
    }

    static func decodes(_ manifest: ResourceManifest) -> Bool { (try? ResourceManifest(decoding: manifest.encoded())) == manifest }

    @Test("a manifest claiming 2^45 chunks (or 2^33, or 2^63 − 1) decodes to an error before anything is allocated for them")
    func hugeCounts() {
        let claims: [(UInt64, UInt64)] = [(1 << 45, 1), ((1 << 63) - 1, 1 << 30), ((1 << 63) - 1, 1)]
        for (size, chunkSize) in claims {
            let count = size / chunkSize + (size % chunkSize == 0 ? 0 : 1)
            let bytes = Self.header(size: size, chunkSize: chunkSize, count: count, tail: Array(repeating: 0, count: 100))
            let error = #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: bytes) }
            #expect(error?.description.contains("claimed, but only") == true)
        }
    }

    @Test("a parity count the bytes cannot hold is refused before allocating")
    func hugeParity() {
        var bytes = Self.one(chunkSize: 16, erasure: (1, 254, 16)).encoded()
        bytes.removeLast(32 + 254 * 35)  // drop the parity entries and the root, keep their claimed count
        let error = #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: bytes) }
        #expect(error?.description.contains("parity shard entries claimed") == true)
    }

    @Test("chunk sizes 1 and 2^30 decode; 0 and 2^30 + 1 are refused")
    func chunkSizes() {
        #expect(Self.decodes(Self.one(chunkSize: 1)))
        #expect(Self.decodes(Self.one(chunkSize: 1 << 30)))
        #expect(!Self.decodes(Self.one(chunkSize: (1 << 30) + 1)))
        #expect(throws: ManifestDecodingError.self) { try ResourceManifest(decoding: Self.header(size: 0, chunkSize: 0, count: 0)) }
        #expect(Self.decodes(ResourceManifest(size: 0, chunkSize: 1, chunks: [], erasure: nil)))
    }

    @Test("stored lengths 0, 1 and chunk size + 1/64 + 64 KiB decode; one more, 2^63 − 1 are refused (never an Int trap later)")
    func storedLengths() {
        let chunkSize: UInt64 = 1 << 20, limit = chunkSize + chunkSize / 64 + 65_536
        for stored in [UInt64(0), 1, limit - 1, limit] { #expect(Self.decodes(Self.one(chunkSize: chunkSize, storedLength: stored))) }
        for stored: UInt64 in [limit + 1, (1 << 63) - 1] { #expect(!Self.decodes(Self.one(chunkSize: chunkSize, storedLength: stored))) }
    }

    @Test("erasure k + m up to 255 decodes; 256 and sizes near Int.max are refused; parity longer than a chunk is refused")
    func erasure() {
        #expect(Self.decodes(Self.one(chunkSize: 16, erasure: (1, 1, 16))))
        #expect(Self.decodes(Self.one(chunkSize: 16, erasure: (254, 1, 16))))
        #expect(Self.decodes(Self.one(chunkSize: 16, erasure: (1, 254, 16))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (255, 1, 16))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (1, 255, 16))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (Int.max, 1, 16))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (Int.max, Int.max, 16))))  // k + m would overflow
        #expect(Self.decodes(Self.one(chunkSize: 16, erasure: (1, 1, 0))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (1, 1, 17))))
        #expect(!Self.decodes(Self.one(chunkSize: 16, erasure: (1, 1, .max))))
    }
}
