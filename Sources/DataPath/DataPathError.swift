// SPDX-License-Identifier: Apache-2.0
import Content
import Primitives

/// Why a put, get or verify failed. ``Code`` wraps a private enum so cases can be added later.
public struct DataPathError: CodedError {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case missingPlugin = "missing plugin"
            case io = "I/O error"
            case notFound = "not found"
            case unrecoverable = "unrecoverable"
            case corrupt = "corrupt"
            case plugin = "plugin error"
            case invalidArgument = "invalid argument"
            case noSpace = "no space"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A slot the operation needs (store, compression, erasure) has no plugin.
        public static let missingPlugin = Code(.missingPlugin)
        public static let io = Code(.io)
        /// The resource or manifest is not in the store.
        public static let notFound = Code(.notFound)
        /// More shards of a stripe are missing or corrupt than parity can rebuild.
        public static let unrecoverable = Code(.unrecoverable)
        /// Data failed verification and could not be repaired.
        public static let corrupt = Code(.corrupt)
        /// A plugin returned an error.
        public static let plugin = Code(.plugin)
        public static let invalidArgument = Code(.invalidArgument)
        /// The store is full: its configured capacity, or the disk under it (ENOSPC).
        public static let noSpace = Code(.noSpace)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The chunks concerned, when the failure is about specific chunks.
    public var chunks: [ContentID]
    /// What failed underneath: the plugin's answer (a `PluginCallError`), a `SystemError`, a manifest's
    /// decoding error.
    public var cause: (any Error)?
    public var location: ErrorLocation?

    public init(
        _ code: Code, _ message: String, chunks: [ContentID] = [], cause: (any Error)? = nil,
        function: String = #function, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.chunks = chunks
        self.cause = cause
        self.location = ErrorLocation(function: function, file: file, line: line)
    }

    public var description: String { "\(code): \(message)" }
}
