// SPDX-License-Identifier: Apache-2.0
import PluginABI

/// An `inos_status`: what a plugin or the host answers across the C ABI, as a typed value.
///
/// Like `Errno`, a `RawRepresentable` struct rather than an enum: a status this build does not know (a newer
/// plugin's) keeps its number and prints as `status N`. The named values are those of `inos_plugin.h`
/// (`INOS_OK`, `INOS_ERR_*`), which never change; PluginTests pins each one to its C macro.
///
/// ```swift
/// let status = PluginStatus(table.pointee.put(instance, key, count, data, length, &error))
/// if status.isBackpressure { return .retryLater }
/// guard status == .ok else { throw PluginCallError(status, "put: \(error.text)") }
/// ```
public struct PluginStatus: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    /// The C value, as it crosses the ABI.
    public let rawValue: inos_status

    public init(rawValue: inos_status) { self.rawValue = rawValue }
    public init(_ rawValue: inos_status) { self.rawValue = rawValue }

    /// Success. The corresponding C value is `INOS_OK`.
    public static let ok = PluginStatus(rawValue: 0)
    /// A parameter is out of range or malformed. The corresponding C value is `INOS_ERR_INVALID_ARGUMENT`.
    public static let invalidArgument = PluginStatus(rawValue: 1)
    /// The process is out of memory. The corresponding C value is `INOS_ERR_NO_MEMORY`.
    public static let noMemory = PluginStatus(rawValue: 2)
    /// A ring or the arena is full: backpressure, retry later — not a failure. From a store: no space (its
    /// capacity, or ENOSPC/EDQUOT from the disk, errno in `inos_error.detail`). The corresponding C value is
    /// `INOS_ERR_FULL`.
    public static let full = PluginStatus(rawValue: 3)
    /// No such key, record, chunk or extension; also "ring empty". The corresponding C value is
    /// `INOS_ERR_NOT_FOUND`.
    public static let notFound = PluginStatus(rawValue: 4)
    /// The plugin or host does not implement this. The corresponding C value is `INOS_ERR_UNSUPPORTED`.
    public static let unsupported = PluginStatus(rawValue: 5)
    /// An operating-system I/O error; the message says which. The corresponding C value is `INOS_ERR_IO`.
    public static let io = PluginStatus(rawValue: 6)
    /// Data failed verification (hash, checksum, format). The corresponding C value is `INOS_ERR_CORRUPT`.
    public static let corrupt = PluginStatus(rawValue: 7)
    /// No answer in time. The corresponding C value is `INOS_ERR_TIMEOUT`.
    public static let timeout = PluginStatus(rawValue: 8)
    /// A bug in the plugin or host. The corresponding C value is `INOS_ERR_INTERNAL`.
    public static let `internal` = PluginStatus(rawValue: 9)
    /// The output did not fit; `*out_length` says how much is needed. The corresponding C value is
    /// `INOS_ERR_BUFFER_TOO_SMALL`.
    public static let bufferTooSmall = PluginStatus(rawValue: 10)
    /// Compression would not shrink the input; store it raw. The corresponding C value is
    /// `INOS_ERR_INCOMPRESSIBLE`.
    public static let incompressible = PluginStatus(rawValue: 11)
    /// The connection or instance is closed or draining. The corresponding C value is `INOS_ERR_CLOSED`.
    public static let closed = PluginStatus(rawValue: 12)

    /// Every status `inos_plugin.h` names, in value order.
    public static let known: [PluginStatus] = [
        .ok, .invalidArgument, .noMemory, .full, .notFound, .unsupported, .io, .corrupt, .timeout, .internal,
        .bufferTooSmall, .incompressible, .closed,
    ]

    private static let names = [
        "INOS_OK", "INOS_ERR_INVALID_ARGUMENT", "INOS_ERR_NO_MEMORY", "INOS_ERR_FULL", "INOS_ERR_NOT_FOUND",
        "INOS_ERR_UNSUPPORTED", "INOS_ERR_IO", "INOS_ERR_CORRUPT", "INOS_ERR_TIMEOUT", "INOS_ERR_INTERNAL",
        "INOS_ERR_BUFFER_TOO_SMALL", "INOS_ERR_INCOMPRESSIBLE", "INOS_ERR_CLOSED",
    ]

    private static let explanations = [
        "success",
        "a parameter is out of range or malformed",
        "out of memory",
        "full (backpressure: retry later; from a store: no space)",
        "not found",
        "not supported",
        "I/O error",
        "data failed verification",
        "timed out",
        "internal error (a bug in the plugin or host)",
        "the output buffer is too small",
        "the input does not compress",
        "closed or draining",
    ]

    /// Whether the value is one `inos_plugin.h` names.
    public var isKnown: Bool { rawValue >= 0 && Int(rawValue) < Self.names.count }

    /// The C macro's name (`INOS_ERR_FULL`), or `status N` for a value this build does not know.
    public var name: String { isKnown ? Self.names[Int(rawValue)] : "status \(rawValue)" }

    /// What the status means, for people ("full (backpressure: …)").
    public var explanation: String { isKnown ? Self.explanations[Int(rawValue)] : "unknown status" }

    /// `INOS_OK`.
    public var isSuccess: Bool { self == .ok }

    /// `INOS_ERR_FULL`: a ring, the arena or a transport's queue is full — back off and retry, do not fail.
    public var isBackpressure: Bool { self == .full }

    /// The C macro's name, as messages and logs print it.
    public var description: String { name }

    /// Matches a raw C status in a `switch` or `if case`: `case .full: …` over an `inos_status`.
    public static func ~= (pattern: PluginStatus, value: inos_status) -> Bool { pattern.rawValue == value }
}
