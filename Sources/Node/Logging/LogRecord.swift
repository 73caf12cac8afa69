// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging

/// One log record as ``NodeLog`` keeps it in its tail and writes it in the JSON format: what `inos log tail`
/// receives, one per line.
///
/// Encoded with `time` as ISO-8601 text with milliseconds in UTC (`2026-12-01T18:53:07.123Z`), `level` as
/// swift-log's level name, and `metadata` flattened to strings.
public struct LogRecord: Codable, Sendable, Equatable {
    public var time: Date
    public var level: Logger.Level
    /// The logger's label, e.g. `inos.peers`.
    public var label: String
    public var message: String
    public var metadata: [String: String]
    /// The module the record was logged from (swift-log's `source`).
    public var source: String

    public init(time: Date, level: Logger.Level, label: String, message: String, metadata: [String: String] = [:], source: String) {
        self.time = time
        self.level = level
        self.label = label
        self.message = message
        self.metadata = metadata
        self.source = source
    }

    enum CodingKeys: String, CodingKey { case time, level, label, message, metadata, source }

    static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt)

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.timeStyle.format(time), forKey: .time)
        try container.encode(level, forKey: .level)
        try container.encode(label, forKey: .label)
        try container.encode(message, forKey: .message)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(source, forKey: .source)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .time)
        guard let time = try? Self.timeStyle.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .time, in: container, debugDescription: "time \"\(text)\" is not ISO-8601 with milliseconds")
        }
        self.time = time
        level = try container.decode(Logger.Level.self, forKey: .level)
        label = try container.decode(String.self, forKey: .label)
        message = try container.decode(String.self, forKey: .message)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
        source = try container.decode(String.self, forKey: .source)
    }

    /// The record as one line of JSON (no trailing newline), escaped by `JSONEncoder`.
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, a string dictionary and an enum with a raw value cannot fail.
        guard let data = try? encoder.encode(self) else { return "{\"message\":\"unencodable log record\"}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The record as the text format writes it: swift-log's `StreamLogHandler` layout (local time, level,
    /// label, sorted metadata, source, message), without the trailing newline.
    public func textLine() -> String {
        let pretty = metadata.isEmpty ? "" : " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(Self.localTimestamp(time)) \(level) \(label):\(pretty) [\(source)] \(message)"
    }

    /// `%Y-%m-%dT%H:%M:%S%z` in local time, as `StreamLogHandler` prints it.
    static func localTimestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Logger.MetadataValue {
    /// The value as one string: strings as they are, nested values as swift-log prints them.
    var flattened: String {
        switch self {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        default: description
        }
    }
}
