// SPDX-License-Identifier: Apache-2.0
import Foundation
import PluginABI
import PluginKit
import Testing

@Suite("PluginStatus: the Errno-style inos_status, pinned to inos_plugin.h")
struct PluginStatusTests {
    /// Every named status with the C macro it must equal (read through the PluginABI module) and its name.
    static let pinned: [(PluginStatus, inos_status, String)] = [
        (.ok, INOS_OK, "INOS_OK"),
        (.invalidArgument, INOS_ERR_INVALID_ARGUMENT, "INOS_ERR_INVALID_ARGUMENT"),
        (.noMemory, INOS_ERR_NO_MEMORY, "INOS_ERR_NO_MEMORY"),
        (.full, INOS_ERR_FULL, "INOS_ERR_FULL"),
        (.notFound, INOS_ERR_NOT_FOUND, "INOS_ERR_NOT_FOUND"),
        (.unsupported, INOS_ERR_UNSUPPORTED, "INOS_ERR_UNSUPPORTED"),
        (.io, INOS_ERR_IO, "INOS_ERR_IO"),
        (.corrupt, INOS_ERR_CORRUPT, "INOS_ERR_CORRUPT"),
        (.timeout, INOS_ERR_TIMEOUT, "INOS_ERR_TIMEOUT"),
        (.internal, INOS_ERR_INTERNAL, "INOS_ERR_INTERNAL"),
        (.bufferTooSmall, INOS_ERR_BUFFER_TOO_SMALL, "INOS_ERR_BUFFER_TOO_SMALL"),
        (.incompressible, INOS_ERR_INCOMPRESSIBLE, "INOS_ERR_INCOMPRESSIBLE"),
        (.closed, INOS_ERR_CLOSED, "INOS_ERR_CLOSED"),
    ]

    @Test("each named status has its C macro's value and name")
    func macros() {
        for (status, macro, name) in Self.pinned {
            #expect(status.rawValue == macro, "\(name)")
            #expect(PluginStatus(macro) == status, "\(name)")
            #expect(status.name == name && status.description == name)
            #expect(status.isKnown)
            #expect(!status.explanation.isEmpty && status.explanation != "unknown status")
        }
        #expect(PluginStatus.known == Self.pinned.map(\.0))
        #expect(Set(Self.pinned.map { $0.0.explanation }).count == Self.pinned.count)
    }

    @Test("every INOS_OK / INOS_ERR_* the header defines has a named PluginStatus (a new macro needs one)")
    func header() throws {
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/PluginABI/include/inos_plugin.h")
        let text = try String(contentsOf: header, encoding: .utf8)
        var defined: [String: Int32] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 3, words[0] == "#define", words[1] == "INOS_OK" || words[1].hasPrefix("INOS_ERR_"),
                let value = Int32(words[2])
            else { continue }
            defined[String(words[1])] = value
        }
        #expect(defined.count == Self.pinned.count, "\(defined.keys.sorted())")
        for (name, value) in defined {
            #expect(PluginStatus(value).name == name, "\(name) = \(value)")
        }
    }

    @Test("only FULL is backpressure, only OK success; an unknown value keeps its number")
    func predicates() {
        for status in PluginStatus.known {
            #expect(status.isBackpressure == (status.rawValue == INOS_ERR_FULL))
            #expect(status.isSuccess == (status.rawValue == INOS_OK))
        }
        let future = PluginStatus(rawValue: 99)
        #expect(!future.isKnown && future.name == "status 99" && future.rawValue == 99)
        #expect(PluginStatus(-1).name == "status -1")
    }

    @Test("a status matches a raw inos_status in a switch")
    func matching() {
        func kind(_ raw: inos_status) -> String {
            switch raw {
            case PluginStatus.ok: "ok"
            case PluginStatus.full: "full"
            default: "other"
            }
        }
        #expect(kind(INOS_OK) == "ok" && kind(INOS_ERR_FULL) == "full" && kind(INOS_ERR_IO) == "other")
    }
}
