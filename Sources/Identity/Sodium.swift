// SPDX-License-Identifier: Apache-2.0
import CSodium

/// libsodium, initialised once (sodium_init is thread-safe and idempotent, but must precede any other call).
package enum Sodium {
    private static let ready: Bool = sodium_init() >= 0

    /// Call before using libsodium; traps only if the library cannot initialise at all (no entropy source).
    package static func ensureReady() {
        precondition(ready, "libsodium failed to initialise (sodium_init)")
    }

    /// Cryptographically secure random bytes.
    package static func random(_ count: Int) -> [UInt8] {
        ensureReady()
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    /// SHA-256 (libsodium's; identities are hashed once, speed does not matter here).
    package static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256(&out, bytes, UInt64(bytes.count))
        return out
    }

    /// SHA-256 of `parts` one after another, without joining them first (a nonce and a piece's bytes).
    package static func sha256(parts: [[UInt8]]) -> [UInt8] {
        ensureReady()
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        for part in parts { crypto_hash_sha256_update(&state, part, UInt64(part.count)) }
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out
    }

    /// Constant-time comparison.
    package static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && sodium_memcmp(a, b, a.count) == 0
    }
}
