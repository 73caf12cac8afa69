// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire

/// A member's signature over something it said, with the public key that checks it. Keys are self-certifying:
/// the verifier maps the key to the member it belongs to (in a node, key → NodeID → its first 8 bytes), so a
/// signature is only as good as the key's member being the one the message is about.
public struct MemberSignature: Sendable, Equatable {
    public var publicKey: [UInt8]
    public var signature: [UInt8]

    public init(publicKey: [UInt8], signature: [UInt8]) {
        self.publicKey = publicKey
        self.signature = signature
    }

    /// Wire form, after the signed fields: present (u8: 0 or 1) ‖ key length (u8) ‖ key ‖ signature length (u8)
    /// ‖ signature. Longer keys or signatures than 255 bytes are not representable (Ed25519's are 32 and 64).
    static func encode(_ signature: MemberSignature?, into out: inout [UInt8]) {
        guard let signature else {
            out.append(0)
            return
        }
        let key = signature.publicKey.prefix(255), bytes = signature.signature.prefix(255)
        out.append(1)
        out.append(UInt8(key.count))
        out += key
        out.append(UInt8(bytes.count))
        out += bytes
    }

    /// Reads what ``encode(_:into:)`` wrote: `.some(nil)` for "unsigned", nil when malformed.
    static func decode(from reader: inout ByteReader) -> MemberSignature?? {
        guard let present = reader.read(UInt8.self) else { return nil }
        switch present {
        case 0: return .some(nil)
        case 1:
            guard let key = reader.prefixed(UInt8.self), let signature = reader.prefixed(UInt8.self) else { return nil }
            return .some(MemberSignature(publicKey: Array(key), signature: Array(signature)))
        default: return nil
        }
    }
}

/// How a member signs what it says about itself (its SWIM alive claims, the gossip it originates) and checks
/// what others signed — a capability the owner injects, so MeshCore stays free of I/O and of the crypto
/// library. A node builds it from its Ed25519 identity (`MemberCredentials(identity:)` in the Mesh module); the
/// simulator and the tests use ``simulated(member:)``.
public struct MemberCredentials: Sendable {
    /// This member's public key, carried with its signatures.
    public let publicKey: [UInt8]
    private let signer: @Sendable ([UInt8]) -> [UInt8]
    private let verifier: @Sendable (_ signature: [UInt8], _ message: [UInt8], _ publicKey: [UInt8], _ member: MemberID) -> Bool

    /// - Parameters:
    ///   - sign: this member's signature of a message.
    ///   - verify: true only if `signature` is `publicKey`'s over `message` **and** `publicKey` belongs to
    ///     `member` (the key → member mapping is the verifier's to check, not the caller's).
    public init(
        publicKey: [UInt8], sign: @escaping @Sendable ([UInt8]) -> [UInt8],
        verify: @escaping @Sendable (_ signature: [UInt8], _ message: [UInt8], _ publicKey: [UInt8], _ member: MemberID) -> Bool
    ) {
        self.publicKey = publicKey
        signer = sign
        verifier = verify
    }

    public func sign(_ message: [UInt8]) -> MemberSignature {
        MemberSignature(publicKey: publicKey, signature: signer(message))
    }

    /// True if `signature` is `member`'s own over `message`.
    public func verify(_ signature: MemberSignature?, of message: [UInt8], by member: MemberID) -> Bool {
        guard let signature else { return false }
        return verifier(signature.signature, message, signature.publicKey, member)
    }

    /// Cheap deterministic stand-in for the simulator and tests: the "public key" is the member ID (8 bytes,
    /// little-endian) and the "signature" a keyed hash of the message under a per-member secret. It is **not**
    /// secure — anyone who knows this function can sign for anyone — but it rejects every forgery a test makes
    /// with another member's credentials or altered bytes, so simulated runs exercise the same checks as nodes.
    package static func simulated(member: MemberID) -> MemberCredentials {
        let key = withUnsafeBytes(of: member.littleEndian) { Array($0) }
        return MemberCredentials(
            publicKey: key, sign: { simulatedTag(member: member, message: $0) },
            verify: { signature, message, publicKey, claimed in
                publicKey == withUnsafeBytes(of: claimed.littleEndian) { Array($0) }
                    && signature == simulatedTag(member: claimed, message: message)
            })
    }

    /// FNV-1a over a per-member secret and the message, 8 bytes.
    private static func simulatedTag(member: MemberID, message: [UInt8]) -> [UInt8] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ (member &* 0x9E37_79B9_7F4A_7C15)
        for byte in message {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return withUnsafeBytes(of: hash.littleEndian) { Array($0) }
    }
}
