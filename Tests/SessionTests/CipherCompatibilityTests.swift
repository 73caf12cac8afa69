// SPDX-License-Identifier: Apache-2.0
import CSodium
import Identity
import Testing
import Wire

@testable import Session

/// AES-256-GCM moved from libsodium to BoringSSL (swift-crypto) for speed; the frames must stay byte for byte what
/// libsodium produces and accepts, so nodes of either build talk to each other.
@Suite("AES-256-GCM compatibility with libsodium")
struct CipherCompatibilityTests {
    @Test("frames sealed here open with libsodium, and libsodium's frames open here", .enabled(if: CipherSuite.available.contains(.aes256gcm)))
    func compatible() throws {
        var (left, right) = try SessionTests.establish(NodeIdentity.ephemeral(), NodeIdentity.ephemeral(), suites: [.aes256gcm])
        for size in [0, 1, 4095, 1 << 20] {
            let message = WireMessage(.ping, requestID: 7, payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            // Here → libsodium.
            let sealed = left.seal(message)
            let counter = left.sent - 1
            var plain = [UInt8](repeating: 0, count: sealed.count - SecureChannel.overhead)
            let cipher = Array(sealed[WireHeader.size..<(sealed.count - SecureChannel.tagSize)])
            let tag = Array(sealed.suffix(SecureChannel.tagSize))
            let ad = Array(sealed.prefix(WireHeader.size))
            let opened = crypto_aead_aes256gcm_decrypt_detached(&plain, nil, cipher, UInt64(cipher.count), tag, ad, UInt64(ad.count), SecureChannel.nonce(counter), left.sendKey)
            #expect(opened == 0)
            #expect(plain == message.encoded)
            // libsodium → here: right expects the counter left just used; re-seal the same inner message with libsodium.
            var again = [UInt8](repeating: 0, count: plain.count)
            var tag2 = [UInt8](repeating: 0, count: 16)
            crypto_aead_aes256gcm_encrypt_detached(&again, &tag2, nil, plain, UInt64(plain.count), ad, UInt64(ad.count), nil, SecureChannel.nonce(counter), left.sendKey)
            #expect(again == cipher && tag2 == tag, "the same bytes and tag as libsodium's")
            #expect(try right.open(ad + again + tag2) == message)
        }
    }
}
