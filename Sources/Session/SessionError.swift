// SPDX-License-Identifier: Apache-2.0
import Wire

/// Why a handshake or a sealed frame was refused. The session is dead afterwards: close the connection.
public struct SessionError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case malformed, unexpected, badSignature, impersonation, weakKey, noCommonSuite, decryptFailed, outOfOrder
        /// The peer does not hold this mesh's key (or this node has none and the peer's mesh requires one).
        case notMember
        /// The peer's node ID is not in this node's allowlist.
        case notAllowed
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
