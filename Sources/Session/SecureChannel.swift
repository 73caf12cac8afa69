// SPDX-License-Identifier: Apache-2.0
import CSodium
import Crypto
import Foundation
import Identity
import Wire

/// The AEAD both ends agreed on in the handshake.
public enum CipherSuite: UInt8, Sendable, CaseIterable {
    /// AES-256-GCM (BoringSSL through swift-crypto: VAES/AVX-512 where the CPU has them, ~5× libsodium's
    /// AES-GCM here): the faster one where the CPU has AES-NI.
    case aes256gcm = 1
    case chacha20poly1305 = 2

    /// The suites this machine can run, best first.
    public static var available: [CipherSuite] {
        Sodium.ensureReady()
        return crypto_aead_aes256gcm_is_available() == 1 ? [.aes256gcm, .chacha20poly1305] : [.chacha20poly1305]
    }
}

/// An established session's two directions. Every frame after the handshake is
///
///     outer header (12 bytes: version, type = sealed, counter) ‖ ciphertext ‖ tag (16 bytes)
///
/// where the ciphertext is an inner header and payload, the nonce is the 64-bit counter (zero-padded to 12
/// bytes) and the outer header is the additional data. Each direction counts from 0; a receiver accepts only
/// the next counter, so a replayed, dropped-and-resent or reordered frame kills the session, as does any
/// change to a byte. Not thread-safe: one sealer and one opener per connection.
public struct SecureChannel: Sendable {
    public static let tagSize = 16
    /// Bytes a sealed frame adds to its inner message.
    public static let overhead = WireHeader.size + tagSize

    public let suite: CipherSuite
    public let peer: NodeID
    let sendKey: [UInt8]
    let receiveKey: [UInt8]
    // Immutable after init (SymmetricKey is a value over constant bytes; Crypto does not mark it Sendable).
    nonisolated(unsafe) let sendAES: SymmetricKey
    nonisolated(unsafe) let receiveAES: SymmetricKey
    public private(set) var sent: UInt64 = 0
    public private(set) var received: UInt64 = 0

    init(suite: CipherSuite, peer: NodeID, sendKey: [UInt8], receiveKey: [UInt8]) {
        self.suite = suite
        self.peer = peer
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        sendAES = SymmetricKey(data: sendKey)
        receiveAES = SymmetricKey(data: receiveKey)
    }

    /// Seals a message in place. `frame` holds 12 bytes of room for the outer header, then the inner
    /// message (header and payload, `messageLength` bytes), then 16 bytes of room for the tag; nothing is
    /// copied. Returns the sealed frame's length (`messageLength + overhead`).
    public mutating func sealInPlace(_ frame: UnsafeMutableRawBufferPointer, messageLength: Int) -> Int {
        precondition(frame.count >= messageLength + Self.overhead)
        let header = WireHeader(type: .sealed, requestID: sent)
        header.write(into: frame)
        let nonce = Self.nonce(sent)
        sent += 1
        let message = frame.baseAddress! + WireHeader.size
        let tag = message + messageLength
        let ad = frame.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let m = message.assumingMemoryBound(to: UInt8.self)
        let t = tag.assumingMemoryBound(to: UInt8.self)
        _ = nonce.withUnsafeBufferPointer { npub in
            switch suite {
            case .aes256gcm:
                // Same wire format as libsodium's (96-bit nonce, 128-bit tag, the outer header as AD).
                guard let gcmNonce = try? AES.GCM.Nonce(data: UnsafeRawBufferPointer(npub)),
                    let box = try? AES.GCM.seal(
                        UnsafeRawBufferPointer(start: message, count: messageLength), using: sendAES, nonce: gcmNonce,
                        authenticating: UnsafeRawBufferPointer(start: frame.baseAddress, count: WireHeader.size))
                else {
                    return crypto_aead_aes256gcm_encrypt_detached(m, t, nil, m, UInt64(messageLength), ad, UInt64(WireHeader.size), nil, npub.baseAddress!, sendKey)
                }
                box.ciphertext.withUnsafeBytes { if let base = $0.baseAddress, messageLength > 0 { message.copyMemory(from: base, byteCount: messageLength) } }
                box.tag.withUnsafeBytes { tag.copyMemory(from: $0.baseAddress!, byteCount: Self.tagSize) }
                return 0
            case .chacha20poly1305:
                return crypto_aead_chacha20poly1305_ietf_encrypt_detached(m, t, nil, m, UInt64(messageLength), ad, UInt64(WireHeader.size), nil, npub.baseAddress!, sendKey)
            }
        }
        return messageLength + Self.overhead
    }

    /// Seals a message (convenience; copies once).
    public mutating func seal(_ message: WireMessage) -> [UInt8] {
        let inner = message.encoded
        var frame = [UInt8](repeating: 0, count: inner.count + Self.overhead)
        frame.withUnsafeMutableBytes { raw in
            UnsafeMutableRawBufferPointer(rebasing: raw[WireHeader.size...]).copyMemory(from: UnsafeRawBufferPointer(start: inner, count: inner.count))
            _ = sealInPlace(raw, messageLength: inner.count)
        }
        return frame
    }

    /// Opens a sealed frame in place (in its arena block, say) and returns the inner message's bytes — a
    /// slice of `frame`. Throws, and the session must end, if the frame is not the next one or was altered.
    public mutating func openInPlace(_ frame: UnsafeMutableRawBufferPointer) throws(SessionError) -> UnsafeMutableRawBufferPointer {
        let header: WireHeader
        do throws(WireError) { header = try WireHeader.parse(UnsafeRawBufferPointer(frame)) } catch {
            throw SessionError(.malformed, "sealed frame: \(error.message)")
        }
        guard header.type == .sealed, frame.count >= Self.overhead else {
            throw SessionError(.unexpected, "expected a sealed frame, got \(header.type)")
        }
        guard header.requestID == received else {
            throw SessionError(.outOfOrder, "frame counter \(header.requestID), expected \(received): replayed, dropped or reordered")
        }
        let length = frame.count - Self.overhead
        let nonce = Self.nonce(received)
        let m = (frame.baseAddress! + WireHeader.size).assumingMemoryBound(to: UInt8.self)
        let t = UnsafePointer(m + length)
        let ad = UnsafePointer(frame.baseAddress!.assumingMemoryBound(to: UInt8.self))
        let status = nonce.withUnsafeBufferPointer { npub in
            switch suite {
            case .aes256gcm:
                guard let gcmNonce = try? AES.GCM.Nonce(data: UnsafeRawBufferPointer(npub)),
                    let box = try? AES.GCM.SealedBox(
                        nonce: gcmNonce, ciphertext: UnsafeRawBufferPointer(start: m, count: length), tag: UnsafeRawBufferPointer(start: t, count: Self.tagSize)),
                    let plain = try? AES.GCM.open(box, using: receiveAES, authenticating: UnsafeRawBufferPointer(start: ad, count: WireHeader.size))
                else { return Int32(-1) }
                plain.withUnsafeBytes { if let base = $0.baseAddress, length > 0 { UnsafeMutableRawPointer(m).copyMemory(from: base, byteCount: length) } }
                return Int32(0)
            case .chacha20poly1305:
                return crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, nil, m, UInt64(length), t, ad, UInt64(WireHeader.size), npub.baseAddress!, receiveKey)
            }
        }
        guard status == 0 else { throw SessionError(.decryptFailed, "sealed frame \(received) failed authentication: altered or forged") }
        received += 1
        return UnsafeMutableRawBufferPointer(rebasing: frame[WireHeader.size..<(WireHeader.size + length)])
    }

    /// Opens a sealed frame (convenience; copies).
    public mutating func open(_ frame: [UInt8]) throws(SessionError) -> WireMessage {
        var copy = frame
        var result: Result<WireMessage, SessionError>!
        copy.withUnsafeMutableBytes { raw in
            do throws(SessionError) {
                let inner = try openInPlace(raw)
                do throws(WireError) { result = .success(try WireMessage.decode(UnsafeRawBufferPointer(inner))) } catch {
                    result = .failure(SessionError(.malformed, "inner message: \(error.message)"))
                }
            } catch { result = .failure(error) }
        }
        return try result.get()
    }

    static func nonce(_ counter: UInt64) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { for i in 0..<8 { nonce[4 + i] = $0[i] } }
        return nonce
    }
}
