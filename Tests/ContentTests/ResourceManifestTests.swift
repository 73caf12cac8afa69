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
