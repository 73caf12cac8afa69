// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire

/// A mesh operation that failed: a closed connection, a refused session, no answer, or an ERROR from the peer
/// (then ``code`` is ``Code/refused(_:)`` and ``Code/wireCode`` the peer's code, with its wire value).
public struct MeshError: CodedError {
    /// What failed. Wraps a private enum, so cases can be added later: compare (`error.code == .busy`) or
    /// switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case refused(ErrorPayload.Code)
            case closed, timeout, cancelled, malformed, unexpected, invalidArgument, unreachable, notAllowed, notFound
            case session, transport
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The peer answered with an ERROR frame carrying `code` (docs/wire.md); its number is kept as sent.
        public static func refused(_ code: ErrorPayload.Code) -> Code { Code(.refused(code)) }
        /// The peer is busy (ERROR code 1): retry later.
        public static let busy = refused(.busy)
        /// The peer does not serve that frame type (ERROR code 2).
        public static let unknownType = refused(.unknownType)
        /// The connection closed, or there is none (no session on it yet, or any more).
        public static let closed = Code(.closed)
        /// No answer or no session within the deadline.
        public static let timeout = Code(.timeout)
        /// The request was cancelled by its caller.
        public static let cancelled = Code(.cancelled)
        /// A frame or message from the peer did not decode here.
        public static let malformed = Code(.malformed)
        /// The peer answered with a frame type the request does not expect, or out of turn.
        public static let unexpected = Code(.unexpected)
        /// An address or argument this node cannot use (not `scheme://host:port#n…`).
        public static let invalidArgument = Code(.invalidArgument)
        /// The transport could not reach the address.
        public static let unreachable = Code(.unreachable)
        /// The peer is not who it should be, or not admitted (mesh key, allowlist), or sent a record for another.
        public static let notAllowed = Code(.notAllowed)
        /// What was asked for (a Merkle tree to synchronize) is not here.
        public static let notFound = Code(.notFound)
        /// The secure session refused a handshake message or a sealed frame; the cause is the `SessionError`.
        public static let session = Code(.session)
        /// The transport plugin refused a call; the cause is its `PluginCallError`.
        public static let transport = Code(.transport)

        /// The peer's ERROR code when the peer refused (``refused(_:)``), else `nil`.
        public var wireCode: ErrorPayload.Code? {
            if case .refused(let code) = base { return code }
            return nil
        }

        public var description: String {
            switch base {
            case .refused(let code): "refused (\(code))"
            case .closed: "closed"
            case .timeout: "timeout"
            case .cancelled: "cancelled"
            case .malformed: "malformed"
            case .unexpected: "unexpected"
            case .invalidArgument: "invalid argument"
            case .unreachable: "unreachable"
            case .notAllowed: "not allowed"
            case .notFound: "not found"
            case .session: "session failed"
            case .transport: "transport error"
            }
        }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?
    public var location: ErrorLocation?

    public init(
        _ code: Code, _ message: String, cause: (any Error)? = nil,
        function: String = #function, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = ErrorLocation(function: function, file: file, line: line)
    }

    public var description: String { message }
}
