// SPDX-License-Identifier: Apache-2.0

/// An error with nothing to switch on but its ``Code``: the shared struct for failures that used to be a
/// message in a type of their own (a node that cannot start, a replication that found too few nodes, a foreign
/// call refused, a key file that cannot be read, a CLI command that failed).
///
/// ```swift
/// throw InosError(.unavailable, "only \(found) of \(needed) nodes answered", cause: lastError)
/// ```
public struct InosError: CodedError {
    /// A broad class of failure. ``Code`` wraps a private enum, so cases can be added later: switch with a
    /// `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidArgument = "invalid argument"
            case malformed = "malformed"
            case notFound = "not found"
            case alreadyExists = "already exists"
            case io = "I/O error"
            case noSpace = "no space"
            case corrupt = "corrupt"
            case unsupported = "unsupported"
            case unavailable = "unavailable"
            case timeout = "timeout"
            case refused = "refused"
            case closed = "closed"
            case insecure = "insecure"
            case failed = "failed"
            case `internal` = "internal error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A parameter, option or configuration value is out of range or contradicts another.
        public static let invalidArgument = Code(.invalidArgument)
        /// Bytes or text did not decode (a manifest, a key file, a message, a signature).
        public static let malformed = Code(.malformed)
        /// The thing asked for (a resource, a plugin, a symbol, a file) does not exist here.
        public static let notFound = Code(.notFound)
        /// Creating something that is already there (and would be overwritten without `--force`).
        public static let alreadyExists = Code(.alreadyExists)
        /// An operating-system I/O error; the cause is the ``SystemError``-like error of the call.
        public static let io = Code(.io)
        /// A store, disk or arena is full.
        public static let noSpace = Code(.noSpace)
        /// Data failed verification.
        public static let corrupt = Code(.corrupt)
        /// This build, plugin or peer does not implement what was asked.
        public static let unsupported = Code(.unsupported)
        /// Not enough nodes, no session, no plugin in a slot: may succeed later or elsewhere.
        public static let unavailable = Code(.unavailable)
        /// No answer within the deadline.
        public static let timeout = Code(.timeout)
        /// A peer or plugin answered no (an ERROR reply, a refused admission, a failed job).
        public static let refused = Code(.refused)
        /// The connection, process or instance is gone.
        public static let closed = Code(.closed)
        /// A file holding a secret is readable by others.
        public static let insecure = Code(.insecure)
        /// An operation failed for the reason its cause gives (a command wrapping a library's error).
        public static let failed = Code(.failed)
        /// A bug: an invariant did not hold.
        public static let `internal` = Code(.internal)

        public var description: String { base.rawValue }
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

    /// Wraps `cause` with a message saying what was being done, keeping the cause's code when it is an
    /// ``InosError`` (else ``Code/failed``).
    public init(_ message: String, wrapping cause: any Error, function: String = #function, file: String = #fileID, line: Int = #line) {
        self.init((cause as? InosError)?.code ?? .failed, message, cause: cause, function: function, file: file, line: line)
    }

    /// The message, then the cause's description after a colon: one line, as other messages quote it.
    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}
