// SPDX-License-Identifier: Apache-2.0
import CSodium
import InosSystem
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// A node's Ed25519 key pair, kept in `<data-dir>/identity.key` (mode 0600): created on first start, loaded
/// after. The file holds a magic, the 32-byte seed and a checksum; the key pair is derived from the seed.
public struct NodeIdentity: Sendable {
    public static let fileName = "identity.key"
    static let magic = Array("INOSKEY1".utf8)
    static let fileSize = 8 + 32 + 4

    public let publicKey: [UInt8]
    let secretKey: [UInt8]  // 64 bytes: seed ‖ public key, as libsodium keeps it
    public var id: NodeID { NodeID(publicKey: publicKey) }

    /// A fresh identity that is not stored anywhere (tests, simulations).
    public static func ephemeral() -> NodeIdentity { NodeIdentity(seed: Sodium.random(32)) }

    init(seed: [UInt8]) {
        Sodium.ensureReady()
        var publicKey = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var secretKey = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Loads `<directory>/identity.key`, creating the directory and the key on first use.
    public static func loadOrCreate(in directory: String) throws(IdentityError) -> NodeIdentity {
        let path = directory + "/" + fileName
        if sysExists(path) { return try load(path) }
        try makeDirectories(directory)
        let identity = NodeIdentity(seed: Sodium.random(32))
        try identity.write(to: path)
        return identity
    }

    /// Loads a key file, refusing one that others can read, or that is truncated or damaged.
    public static func load(_ path: String) throws(IdentityError) -> NodeIdentity {
        let file: SystemFile
        do throws(SystemError) { file = try SystemFile.open(path, O_RDONLY) } catch { throw .io("cannot open \(path)", error) }
        defer { file.close() }
        let mode: mode_t
        do throws(SystemError) { mode = try file.permissions() & 0o777 } catch { throw .io("cannot stat \(path)", error) }
        guard mode & 0o077 == 0 else {
            throw IdentityError(.insecure, "\(path) is readable by others (mode \(String(mode, radix: 8))): run chmod 600 \(path)")
        }
        var bytes = [UInt8](repeating: 0, count: fileSize + 1)
        var outcome: Result<Int, SystemError> = .success(0)
        bytes.withUnsafeMutableBytes { raw in
            do throws(SystemError) { outcome = .success(try file.read(into: raw, at: 0)) } catch { outcome = .failure(error) }
        }
        let count: Int
        do throws(SystemError) { count = try outcome.get() } catch { throw .io("cannot read \(path)", error) }
        guard count == fileSize, Array(bytes[0..<8]) == magic else {
            throw IdentityError(.malformed, "\(path) is not an INOS identity key (\(count) bytes; expected \(fileSize) starting with INOSKEY1)")
        }
        let seed = Array(bytes[8..<40])
        var stored = ByteReader(bytes[40..<44])
        guard stored.read(UInt32.self) == checksum(seed) else {
            throw IdentityError(.malformed, "\(path) is damaged (checksum mismatch)")
        }
        return NodeIdentity(seed: seed)
    }

    /// The first four bytes of the seed's SHA-256, to catch a damaged file.
    static func checksum(_ seed: [UInt8]) -> UInt32 {
        var digest = ByteReader(Sodium.sha256(seed))
        return digest.read(UInt32.self)!
    }

    /// Writes the key file atomically: a 0600 temporary file, fsync, rename, directory fsync (atomicWrite).
    func write(to path: String) throws(IdentityError) {
        var file = ByteWriter(capacity: Self.fileSize)
        file.bytes(Self.magic)
        file.bytes(secretKey[0..<32])
        file.u32(Self.checksum(Array(secretKey[0..<32])))
        do throws(SystemError) { try atomicWrite(path: path, bytes: file.bytes, mode: 0o600) } catch { throw .io("cannot write \(path)", error) }
    }

    private static func makeDirectories(_ path: String) throws(IdentityError) {
        do throws(SystemError) { try sysMakeDirectories(path, mode: 0o700) } catch { throw .io("cannot create \(path)", error) }
    }

    /// An Ed25519 signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }

    /// True if `signature` is `publicKey`'s signature of `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], by publicKey: [UInt8]) -> Bool {
        Sodium.ensureReady()
        guard signature.count == Int(crypto_sign_BYTES), publicKey.count == Int(crypto_sign_PUBLICKEYBYTES) else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// Why an identity could not be loaded or stored.
public struct IdentityError: CodedError {
    /// A failure class. Wraps a private enum, so cases can be added later: compare, or switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case io = "I/O error"
            case insecure = "insecure"
            case malformed = "malformed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Reading or writing the key file failed (the cause is the system call's error).
        public static let io = Code(.io)
        /// The key file is readable by others.
        public static let insecure = Code(.insecure)
        /// The key file does not hold a key.
        public static let malformed = Code(.malformed)
        public var description: String { base.rawValue }
    }
    public var code: Code
    public var message: String
    public var cause: (any Error)?

    init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    static func io(_ what: String, _ error: SystemError) -> IdentityError {
        IdentityError(.io, "\(what): \(error.reason)", cause: error)
    }

    public var description: String { message }
}
