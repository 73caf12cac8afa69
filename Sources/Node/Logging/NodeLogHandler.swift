// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging

/// The swift-log handler behind every logger a ``NodeLog`` makes: it reads the log's shared level on each call
/// (unless this handler's own level was set) and hands each record to the log.
struct NodeLogHandler: LogHandler {
    let log: NodeLog
    let label: String
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Set when a caller assigns `logger.logLevel`; otherwise the shared level applies.
    private var ownLevel: Logger.Level?

    init(log: NodeLog, label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.log = log
        self.label = label
        self.metadataProvider = metadataProvider
    }

    /// The same handler (log, metadata, own level) under another label: how ``MeshNode`` gives its subsystems
    /// labels of their own from the configuration's logger.
    func relabeled(_ label: String) -> NodeLogHandler {
        var copy = NodeLogHandler(log: log, label: label, metadataProvider: metadataProvider)
        copy.metadata = metadata
        copy.ownLevel = ownLevel
        return copy
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? log.level }
        set { ownLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String,
        line: UInt
    ) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let explicit, !explicit.isEmpty { merged.merge(explicit) { $1 } }
        log.emit(
            LogRecord(
                time: Date(), level: level, label: label, message: message.description, metadata: merged.mapValues(\.flattened),
                source: source))
    }
}

extension Logger {
    /// A logger for `subsystem` (label `inos.<subsystem>`) derived from this one: through the same ``NodeLog``
    /// with the same metadata when this logger writes through one, else this logger itself (a test's own
    /// handler keeps receiving everything).
    public func subsystem(_ subsystem: String) -> Logger {
        guard let handler = handler as? NodeLogHandler else { return self }
        return Logger(label: "inos.\(subsystem)") { label in handler.relabeled(label) }
    }
}
