// SPDX-License-Identifier: Apache-2.0
import Content
import Testing

@Suite("Content IDs (CIDv1, sha2-256, base32)")
struct ContentIDTests {
    @Test("IDs agree with IPFS tooling for the same bytes (raw leaves, CIDv1)")
    func ipfsVectors() throws {
        // `ipfs add --cid-version 1 --raw-leaves` of an empty file and of "hello world" (no newline).
        #expect(ContentID(hashing: []).description == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        #expect(
            ContentID(hashing: Array("hello world".utf8)).description
                == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
    }

    @Test("text and binary forms round-trip for both codecs")
    func roundTrip() throws {
        for codec in [ContentID.Codec.raw, .manifest] {
            for n in [0, 1, 31, 1000] {
                let id = ContentID(hashing: (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) }, codec: codec)
                #expect(try ContentID(id.description) == id)
                #expect(try ContentID(bytes: id.bytes) == id)
                #expect(try ContentID(id.description.uppercased()) == id)
            }
        }
    }

    @Test("bad IDs are rejected with a reason", arguments: [
        ("", "empty"),
        ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "CIDv0"),
        ("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", "multibase prefix 'z'"),
        ("bafkrei!!!", "base32"),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk", "not valid base32"),  // stray bits
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevte", "digest must be 32 bytes"),  // 5 bytes short
        ("bajkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "CID version 2"),
    ])
    func badIDs(text: String, reason: String) {
        let error = #expect(throws: ContentIDError.self) { try ContentID(text) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("matches verifies content against the ID")
    func matches() {
        let bytes: [UInt8] = Array("chunk".utf8)
        let id = ContentID(hashing: bytes)
        #expect(bytes.withUnsafeBytes { id.matches($0) })
        #expect(!Array("chunK".utf8).withUnsafeBytes { id.matches($0) })
    }
}
