// SPDX-License-Identifier: Apache-2.0
import Foundation
import Primitives
import TOMLKit

extension Manifest {
    /// The manifest a node uses when it is given none: default arena, no plugins.
    public static let embeddedDefault = Manifest()

    /// Reads and validates a manifest file. Relative plugin paths are resolved against its folder.
    /// - Throws: ``ManifestError`` naming the file, and the line or key at fault.
    public static func load(path: String) throws(ManifestError) -> Manifest {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ManifestError(file: path, problems: ["cannot read the file: \(error.localizedDescription)"])
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(text, file: path, relativeTo: folder)
    }

    /// Parses manifest text. Every problem is collected, so one run shows them all.
    public static func parse(_ text: String, file: String = "<manifest>", relativeTo folder: String = ".")
        throws(ManifestError) -> Manifest
    {
        if let problem = parserHazard(text) { throw ManifestError(file: file, problems: [problem]) }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ManifestError(file: file, problems: ["\(error.description) (\(error.source.begin))"], parsed: false)
        } catch {
            throw ManifestError(file: file, problems: ["\(error)"], parsed: false)
        }
        var reader = Reader(folder: folder)
        let manifest = reader.manifest(root)
        guard reader.problems.isEmpty else { throw ManifestError(file: file, problems: reader.problems) }
        return manifest
    }
}

extension Manifest {
    /// The first shape toml++ 3.4 (under TOMLKit) asserts on instead of reporting an error, named by its line,
    /// or nil. An assertion aborts the node in a debug build (undefined behaviour with NDEBUG), so these are
    /// refused before the parser sees them; both were found by fuzzing the manifest:
    /// - a table header without a key after `[` or `[[` (`[.a]`, `[ +x]`, a lone `[`), in `parse_key`;
    /// - `}` or a Unicode line break (U+0085, U+2028, U+2029) where an array expects a value (`plugin_paths = [}`,
    ///   `[1, }`), in `parse_value`.
    /// A line inside a multi-line array or string that starts like a header is refused too; no manifest key
    /// takes nested arrays or such strings.
    static func parserHazard(_ text: String) -> String? {
        unnamedTableHeader(text) ?? braceAsArrayValue(text)
    }

    /// Scans Unicode scalars, not Characters: a combining mark after `[` joins it into one Character (and
    /// `\r\n` is one Character), which hid headers from a Character scan (found by fuzzing: `[` + U+065C).
    /// A byte-order mark before the first line is skipped, as toml++ skips it (fuzzing: BOM ‖ `[` ‖ invalid UTF-8).
    static func unnamedTableHeader(_ text: String) -> String? {
        let blank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" }
        let scalars = text.unicodeScalars.first == "\u{FEFF}" ? text.unicodeScalars.dropFirst() : text.unicodeScalars[...]
        for (number, line) in scalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var rest = line.drop(while: blank)
            guard rest.first == "[" else { continue }
            rest = rest.dropFirst()
            if rest.first == "[" { rest = rest.dropFirst() }
            rest = rest.drop(while: blank)
            guard let next = rest.first else { return "line \(number + 1): a table header names no table" }
            let isKeyStart = next.isASCII && (next.properties.isAlphabetic || ("0"..."9").contains(next) || next == "_" || next == "-")
                || next == "\"" || next == "'"
            // "]" is toml++'s own error (a blank key); anything else it asserts on.
            if !isKeyStart && next != "]" { return "line \(number + 1): a table header must start with a key, as in [name] or [[name]]" }
        }
        return nil
    }

    /// `}` at a value position of an array (after its `[` or a `,`, across spaces, line breaks and comments).
    /// A small scan over the bytes that knows strings (basic, literal, multi-line) and comments, and tells an
    /// array (a `[` after `=` or at a value position) from a table header.
    static func braceAsArrayValue(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        let (quote, apostrophe, newline, hash, backslash) = (UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\n"), UInt8(ascii: "#"), UInt8(ascii: "\\"))
        var stack: [UInt8] = []  // "[" for arrays, "{" for inline tables
        var previous: UInt8 = newline  // the last byte outside strings, comments and blanks
        var line = 1, i = 0
        func starts(_ marker: [UInt8], at index: Int) -> Bool { index + marker.count <= bytes.count && Array(bytes[index..<index + marker.count]) == marker }
        while i < bytes.count {
            let c = bytes[i]
            if c == newline { line += 1 }
            if c == newline || c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
                i += 1
                continue
            }
            if c == hash {
                while i < bytes.count && bytes[i] != newline { i += 1 }
                continue
            }
            let atValue = stack.last == UInt8(ascii: "[") && (previous == UInt8(ascii: "[") || previous == UInt8(ascii: ","))
            if c == UInt8(ascii: "}") && atValue { return "line \(line): an array holds a value where it has `}` (as in [1, 2])" }
            // A Unicode line break (U+0085 NEL, U+2028, U+2029) there: toml++ counts it a value terminator but does
            // not skip it (fuzzing: `s=[` ‖ U+0085, and `[1,` ‖ U+2029).
            if atValue, starts([0xC2, 0x85], at: i) || starts([0xE2, 0x80, 0xA8], at: i) || starts([0xE2, 0x80, 0xA9], at: i) {
                return "line \(line): an array holds a value where it has a Unicode line break (U+0085, U+2028 or U+2029); use a plain newline"
            }
            if c == quote || c == apostrophe {
                // A string: skip to its end (escapes only in basic strings; triple quotes span lines).
                let triple = [c, c, c]
                let multiline = starts(triple, at: i)
                i += multiline ? 3 : 1
                while i < bytes.count {
                    if c == quote && bytes[i] == backslash {
                        i += 2
                        continue
                    }
                    if multiline ? starts(triple, at: i) : bytes[i] == c {
                        i += multiline ? 3 : 1
                        break
                    }
                    if bytes[i] == newline {
                        line += 1
                        if !multiline { break }  // an unterminated string: toml++'s own error
                    }
                    i += 1
                }
                previous = c
                continue
            }
            switch c {
            case UInt8(ascii: "["):
                // An array after "=" or at an array's value position; otherwise a table header.
                if previous == UInt8(ascii: "=") || atValue { stack.append(c) }
            case UInt8(ascii: "{"):
                stack.append(c)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if let open = stack.last, (open == UInt8(ascii: "[")) == (c == UInt8(ascii: "]")) { stack.removeLast() }
            default:
                break
            }
            previous = c
            i += 1
        }
        return nil
    }
}

/// A manifest that cannot be used, with every problem found.
public struct ManifestError: CodedError, Hashable {
    public var file: String
    public var problems: [String]

    /// A manifest that does not parse is ``InosError/Code/malformed``; one that parses but holds values this
    /// node cannot use, ``InosError/Code/invalidArgument``.
    public var code: InosError.Code { parsed ? .invalidArgument : .malformed }
    public var message: String { description }
    /// Whether the text parsed as TOML (the problems are about its values).
    public var parsed: Bool = true

    public var description: String {
        "manifest \(file) is invalid:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

private struct Reader {
    let folder: String
    var problems: [String] = []

    mutating func manifest(_ root: TOMLTable) -> Manifest {
        var manifest = Manifest()
        checkKeys(root, allowed: ["node", "arena", "plugins", "compute", "mesh", "credits", "cache"], in: "the top level")
        if let compute = table(root, "compute", in: "the top level") {
            checkKeys(compute, allowed: ["allow"], in: "[compute]")
            if let allow = string(compute, "allow", in: "[compute]") {
                if ["none", "members", "owners"].contains(allow) {
                    manifest.computeAllow = allow
                } else {
                    problems.append("[compute].allow \"\(allow)\" must be \"none\", \"members\" or \"owners\"")
                }
            }
        }
        if let node = table(root, "node", in: "the top level") {
            checkKeys(node, allowed: ["name", "plugin_paths", "listen", "bootstrap"], in: "[node]")
            if let name = string(node, "name", in: "[node]") { manifest.nodeName = name }
            manifest.pluginPaths = strings(node, "plugin_paths").map(resolve)
            manifest.listen = strings(node, "listen")
            manifest.bootstrap = strings(node, "bootstrap")
            for (key, addresses) in [("listen", manifest.listen), ("bootstrap", manifest.bootstrap)] {
                for address in addresses where !address.contains("://") {
                    problems.append("[node].\(key) \"\(address)\" is not an address like tcp://127.0.0.1:7400")
                }
            }
        }
        if let arena = table(root, "arena", in: "the top level") {
            manifest.arena = arenaConfiguration(arena)
        }
        if let mesh = table(root, "mesh", in: "the top level") {
            manifest.mesh = meshSettings(mesh)
        }
        if let cache = table(root, "cache", in: "the top level") {
            checkKeys(cache, allowed: ["size_mib", "announce_seconds"], in: "[cache]")
            if let mib = int(cache, "size_mib", in: "[cache]", range: 0...(1 << 24)) { manifest.cacheBytes = UInt64(mib) << 20 }
            // Shorter than 10 s floods the DHT with republishing; longer than a day is past a record's longest TTL.
            if let seconds = int(cache, "announce_seconds", in: "[cache]", range: 10...86_400) { manifest.cacheAnnounceSeconds = seconds }
        }
        if let credits = table(root, "credits", in: "the top level") {
            checkKeys(credits, allowed: ["issuers", "period_seconds", "grace_seconds"], in: "[credits]")
            // A period shorter than a minute floods the ledger (an entry per holder per period); longer than a
            // year leaves unpaid data held for that long.
            manifest.creditPeriodSeconds = int(credits, "period_seconds", in: "[credits]", range: 60...(366 * 86_400))
            manifest.creditGraceSeconds = int(credits, "grace_seconds", in: "[credits]", range: 0...(366 * 86_400))
            let issuers = strings(credits, "issuers", in: "[credits]")
            for (index, id) in issuers.enumerated() where !Self.looksLikeNodeID(id) {
                problems.append("[credits].issuers[\(index)] \"\(id)\" is not a node ID (n and 52 base32 characters, as `inos id` prints it)")
            }
            manifest.creditIssuers = issuers
        }
        if let plugins = root["plugins"] {
            guard let array = plugins.array else {
                problems.append("plugins must be an array of tables: write each as [[plugins]]")
                return manifest
            }
            for (index, element) in array.enumerated() {
                guard let entry = element.table else {
                    problems.append("plugins[\(index)] must be a table")
                    continue
                }
                if let spec = pluginSpec(entry, index: index) { manifest.plugins.append(spec) }
            }
        }
        return manifest
    }

    mutating func arenaConfiguration(_ table: TOMLTable) -> ArenaConfiguration {
        var configuration = ArenaConfiguration()
        let place = "[arena]"
        checkKeys(table, allowed: ["size_mib", "inbox_kib", "outbox_kib", "high_watermark", "low_watermark"], in: place)
        if let mib = int(table, "size_mib", in: place, range: 1...65536) { configuration.totalSize = mib << 20 }
        if let kib = int(table, "inbox_kib", in: place, range: 1...(1 << 20)) { configuration.inboxCapacity = kib << 10 }
        if let kib = int(table, "outbox_kib", in: place, range: 1...(1 << 20)) { configuration.outboxCapacity = kib << 10 }
        if let high = double(table, "high_watermark", in: place) { configuration.highWatermark = high }
        if let low = double(table, "low_watermark", in: place) { configuration.lowWatermark = low }
        problems.append(contentsOf: configuration.problems().map { "\(place): \($0)" })
        return configuration
    }

    /// `[mesh]`: key files (read and checked now, so a bad one stops start-up with its reason) and the allowlist.
    mutating func meshSettings(_ table: TOMLTable) -> MeshSettings {
        var settings = MeshSettings()
        let place = "[mesh]"
        checkKeys(table, allowed: ["key_file", "key_files", "allow", "max_members"], in: place)
        // Fewer than 4 leaves SWIM no members to probe a suspect through; past 100,000 a view costs more than routing.
        if let members = int(table, "max_members", in: place, range: 4...100_000) { settings.maxMembers = members }
        var files: [(key: String, path: String)] = []
        if let file = string(table, "key_file", in: place) { files.append(("key_file", file)) }
        if table["key_files"] != nil {
            let list = strings(table, "key_files", in: place)
            if list.isEmpty, table["key_files"]?.array != nil { problems.append("\(place).key_files is empty: list at least one key file") }
            files += list.enumerated().map { ("key_files[\($0.offset)]", $0.element) }
        }
        if table["key_file"] != nil, table["key_files"] != nil {
            problems.append("\(place) has both key_file and key_files: give one (key_files = [\"new.key\", \"old.key\"] while rotating)")
        }
        for (key, file) in files {
            let path = resolve(file)
            do throws(InosError) {
                let bytes = try MeshKeyFile.read(path)
                if settings.keys.contains(MeshSecret(bytes)) {
                    problems.append("\(place).\(key): \(path) holds the same key as an earlier file")
                }
                settings.keyFiles.append(path)
                settings.keys.append(MeshSecret(bytes))
            } catch {
                problems.append("\(place).\(key): \(error.message)")
            }
        }
        if table["allow"] != nil {
            let allow = strings(table, "allow", in: place)
            if allow.isEmpty, table["allow"]?.array != nil {
                problems.append("\(place).allow is empty, which would refuse every node: remove it to admit any node (that holds the key)")
            }
            for (index, id) in allow.enumerated() where !Self.looksLikeNodeID(id) {
                problems.append("\(place).allow[\(index)] \"\(id)\" is not a node ID (n and 52 base32 characters, as `inos id` prints it)")
            }
            settings.allow = allow
        }
        return settings
    }

    /// The text form of a node ID: `n` and 52 characters of lower-case base32 (32 bytes).
    static func looksLikeNodeID(_ text: String) -> Bool {
        let base32 = Set("abcdefghijklmnopqrstuvwxyz234567")
        return text.count == 53 && text.first == "n" && text.dropFirst().allSatisfy { base32.contains($0) }
    }

    mutating func pluginSpec(_ table: TOMLTable, index: Int) -> PluginSpec? {
        let place = "plugins[\(index)]"
        checkKeys(
            table, allowed: ["name", "path", "kind", "id", "slot", "wraps", "required", "enabled", "isolation", "config"],
            in: place)
        let name = string(table, "name", in: place)
        let path = string(table, "path", in: place)
        let location: PluginSpec.Location
        switch (name, path) {
        case (let name?, nil):
            guard !name.isEmpty, !name.contains("/") else {
                problems.append("\(place).name must be a library name without '/'; use path = for a file")
                return nil
            }
            location = .name(name)
        case (nil, let path?): location = .path(resolve(path))
        case (.some, .some):
            problems.append("\(place) has both name and path: give one")
            return nil
        case (nil, nil):
            problems.append("\(place) needs name = \"Library\" or path = \"/path/to/libX.so\"")
            return nil
        }
        var spec = PluginSpec(location: location)
        if let kindName = string(table, "kind", in: place) {
            if let kind = PluginKind(manifestName: kindName) {
                spec.kind = kind
            } else {
                let known = PluginKind.allCases.map(\.description).joined(separator: ", ")
                problems.append("\(place).kind \"\(kindName)\" is not a plugin kind (one of: \(known))")
            }
        }
        spec.id = string(table, "id", in: place)
        spec.explicitSlot = string(table, "slot", in: place)
        spec.wraps = string(table, "wraps", in: place)
        if let isolation = string(table, "isolation", in: place) {
            if let value = JobIsolation(rawValue: isolation) {
                spec.isolation = value
            } else {
                let known = JobIsolation.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                problems.append("\(place).isolation \"\(isolation)\" is not an isolation mode (\(known))")
            }
            if let kind = spec.kind, kind != .jobRunner, spec.isolation != .none {
                problems.append("\(place).isolation is for job_runner plugins; this entry is kind \"\(kind)\"")
            }
        }
        if let required = bool(table, "required", in: place) { spec.required = required }
        if let enabled = bool(table, "enabled", in: place) { spec.enabled = enabled }
        if let config = self.table(table, "config", in: place) {
            for key in config.keys {
                guard let value = config[key] else { continue }
                if let text = value.string { spec.config[key] = text }
                else if let number = value.int { spec.config[key] = String(number) }
                else if let number = value.double { spec.config[key] = String(number) }
                else if let flag = value.bool { spec.config[key] = String(flag) }
                else { problems.append("\(place).config.\(key) must be a string, number or boolean") }
            }
        }
        return spec
    }

    // MARK: Typed access with messages

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (folder as NSString).appendingPathComponent(path)
    }

    /// An array of strings (a single string is accepted as a one-element array); problems noted.
    mutating func strings(_ table: TOMLTable, _ key: String, in place: String = "[node]") -> [String] {
        guard let value = table[key] else { return [] }
        if let text = value.string { return [text] }
        guard let array = value.array else {
            problems.append("\(place).\(key) must be an array of strings")
            return []
        }
        var out: [String] = []
        for (index, element) in array.enumerated() {
            if let text = element.string { out.append(text) } else { problems.append("\(place).\(key)[\(index)] must be a string") }
        }
        return out
    }

    mutating func checkKeys(_ table: TOMLTable, allowed: Set<String>, in place: String) {
        for key in table.keys.sorted() where !allowed.contains(key) {
            problems.append("unknown key \"\(key)\" in \(place) (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    mutating func table(_ table: TOMLTable, _ key: String, in place: String) -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let result = value.table else {
            problems.append("\(key) in \(place) must be a table")
            return nil
        }
        return result
    }

    mutating func string(_ table: TOMLTable, _ key: String, in place: String) -> String? {
        guard let value = table[key] else { return nil }
        guard let result = value.string else {
            problems.append("\(place).\(key) must be a string")
            return nil
        }
        return result
    }

    mutating func bool(_ table: TOMLTable, _ key: String, in place: String) -> Bool? {
        guard let value = table[key] else { return nil }
        guard let result = value.bool else {
            problems.append("\(place).\(key) must be true or false")
            return nil
        }
        return result
    }

    mutating func int(_ table: TOMLTable, _ key: String, in place: String, range: ClosedRange<Int>) -> Int? {
        guard let value = table[key] else { return nil }
        guard let result = value.int else {
            problems.append("\(place).\(key) must be an integer")
            return nil
        }
        guard range.contains(result) else {
            problems.append("\(place).\(key) = \(result) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return result
    }

    mutating func double(_ table: TOMLTable, _ key: String, in place: String) -> Double? {
        guard let value = table[key] else { return nil }
        if let result = value.double { return result }
        if let result = value.int { return Double(result) }
        problems.append("\(place).\(key) must be a number")
        return nil
    }
}
