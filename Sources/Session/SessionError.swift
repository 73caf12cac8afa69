// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire

/// Why a handshake or a sealed frame was refused. The session is dead afterwards: close the connection.
public struct SessionError: CodedError, Equatable {
    /// A failure class. Wraps a private enum, so cases can be added later: compare, or switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case malformed = "malformed"
            case unexpected = "unexpected"
            case badSignature = "bad signature"
            case impersonation = "impersonation"
            case weakKey = "weak key"
            case noCommonSuite = "no common suite"
            case decryptFailed = "decrypt failed"
            case outOfOrder = "out of order"
            case notMember = "not a member"
            case notAllowed = "not allowed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A handshake message or sealed frame did not decode.
        public static let malformed = Code(.malformed)
        /// A message out of turn.
        public static let unexpected = Code(.unexpected)
        /// The peer's signature over the handshake does not verify.
        public static let badSignature = Code(.badSignature)
        /// The peer proved to be another node than the one expected.
        public static let impersonation = Code(.impersonation)
        /// A low-order or all-zero key.
        public static let weakKey = Code(.weakKey)
        /// The peers share no cipher suite.
        public static let noCommonSuite = Code(.noCommonSuite)
        /// A sealed frame failed authentication.
        public static let decryptFailed = Code(.decryptFailed)
        /// A sealed frame's counter is not the next one.
        public static let outOfOrder = Code(.outOfOrder)
        /// The peer does not hold this mesh's key (or this node has none and the peer's mesh requires one).
        public static let notMember = Code(.notMember)
        /// The peer's node ID is not in this node's allowlist.
        public static let notAllowed = Code(.notAllowed)
        public var description: String { base.rawValue }
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
