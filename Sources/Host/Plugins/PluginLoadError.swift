// SPDX-License-Identifier: Apache-2.0
import Primitives

/// Why a plugin was not loaded. Every failure of the loader has its own ``Code`` (as Ceph's EC plugin
/// registry does), so a user — and a test — can tell a missing file from a version mismatch.
public struct PluginLoadError: CodedError {
    /// A failure class. New codes may be added in later versions; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case fileNotFound = "file not found"
            case notLoadable = "not loadable"
            case missingEntry = "missing entry point"
            case badMagic = "not an INOS plugin"
            case abiVersionMismatch = "ABI version mismatch"
            case descriptorTooSmall = "descriptor too small"
            case invalidDescriptor = "invalid descriptor"
            case toolchainMismatch = "toolchain mismatch"
            case kindMismatch = "kind mismatch"
            case idMismatch = "id mismatch"
            case duplicateID = "duplicate id"
            case initFailed = "init failed"
            case missingExtension = "missing extension"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file does not exist (or a name was found in no plugin path).
        public static let fileNotFound = Code(.fileNotFound)
        /// `dlopen` refused the file (not a shared object, wrong architecture, missing dependency).
        public static let notLoadable = Code(.notLoadable)
        /// The file does not export `inos_plugin_entry`, or the entry returned NULL.
        public static let missingEntry = Code(.missingEntry)
        /// The descriptor's magic is wrong: not an INOS plugin, or memory corruption.
        public static let badMagic = Code(.badMagic)
        /// Built for another ABI major, or for a newer minor than this host.
        public static let abiVersionMismatch = Code(.abiVersionMismatch)
        /// `struct_size` is smaller than the v1 descriptor.
        public static let descriptorTooSmall = Code(.descriptorTooSmall)
        /// Unknown kind, empty id/name/version, or missing init/get_extension.
        public static let invalidDescriptor = Code(.invalidDescriptor)
        /// A Swift plugin built by another compiler than this host.
        public static let toolchainMismatch = Code(.toolchainMismatch)
        /// The plugin's kind differs from the manifest's `kind =`.
        public static let kindMismatch = Code(.kindMismatch)
        /// The plugin's id differs from the manifest's `id =`.
        public static let idMismatch = Code(.idMismatch)
        /// Another live plugin already has this id.
        public static let duplicateID = Code(.duplicateID)
        /// The plugin's init returned an error.
        public static let initFailed = Code(.initFailed)
        /// The plugin does not offer the extension of its own kind.
        public static let missingExtension = Code(.missingExtension)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The manifest name or path of the plugin.
    public var plugin: String
    /// What went wrong and, where possible, what to do.
    public var message: String
    /// The plugin's status when its init or wrap failed (a ``PluginKit/PluginStatus``).
    public var cause: (any Error)?
    public var location: ErrorLocation?

    public init(
        _ code: Code, plugin: String, _ message: String, cause: (any Error)? = nil,
        function: String = #function, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.plugin = plugin
        self.message = message
        self.cause = cause
        self.location = ErrorLocation(function: function, file: file, line: line)
    }

    public var description: String { "plugin \(plugin): \(code): \(message)" }
}
