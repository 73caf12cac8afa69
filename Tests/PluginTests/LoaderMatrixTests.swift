// SPDX-License-Identifier: Apache-2.0
import Host
import HostTestSupport
import PluginABI
import Testing

/// The ABI matrix: every deliberately broken plugin gives its own error, and the node keeps running.
@Suite("Plugin loader ABI matrix")
struct LoaderMatrixTests {
    static let smallArena = ArenaConfiguration(totalSize: 4 << 20, inboxCapacity: 64 << 10, outboxCapacity: 64 << 10)

    func host(_ specs: [PluginSpec]) throws -> HostRuntime {
        try HostRuntime(manifest: Manifest(nodeName: "matrix", arena: Self.smallArena, plugins: specs), logger: quietLogger)
    }

    static let cases: [(PluginFixtures.Variant, PluginLoadError.Code, String)] = [
        (.missingEntry, .missingEntry, "does not export inos_plugin_entry"),
        (.nullDescriptor, .missingEntry, "returned NULL"),
        (.badMagic, .badMagic, "0xdeadbeef"),
        (.abiMajor, .abiVersionMismatch, "built for plugin ABI 2."),
        (.abiMinorNewer, .abiVersionMismatch, "upgrade the host"),
        (.smallStruct, .descriptorTooSmall, "struct_size 40"),
        (.unknownKind, .invalidDescriptor, "unknown plugin kind 99"),
        (.emptyID, .invalidDescriptor, "field id is empty"),
        (.swiftToolchain, .toolchainMismatch, "built with swift-5.0"),
        (.initFails, .initFailed, "fixture refuses to start: missing setting 'answer'"),
        (.noExtension, .missingExtension, "offers no inos.compression/1 extension"),
    ]

    @Test("a required broken plugin stops start-up with its specific error", arguments: 0..<cases.count)
    func requiredBrokenPlugin(index: Int) throws {
        let (variant, code, text) = Self.cases[index]
        let path = try PluginFixtures.build(variant)
        let host = try host([PluginSpec(location: .path(path))])
        let error = #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(error?.code == code, "\(variant): got \(String(describing: error))")
        #expect(error?.message.contains(text) == true, "\(variant): message was \(error?.message ?? "nil")")
        #expect(error?.plugin == path)
        #expect(host.slots.isEmpty)
    }

    @Test("an optional broken plugin is skipped and the others keep working", arguments: 0..<cases.count)
    func optionalBrokenPlugin(index: Int) throws {
        let (variant, code, _) = Self.cases[index]
        let broken = try PluginFixtures.build(variant)
        let good = try PluginFixtures.build(.working)
        let host = try host([
            PluginSpec(location: .path(broken), required: false, explicitSlot: "broken"),
            PluginSpec(location: .path(good), config: ["tag": "good"], explicitSlot: "good"),
        ])
        let report = try host.start()
        #expect(report.skipped.map(\.code) == [code])
        #expect(report.loaded.keys.sorted() == ["good"])
        #expect(try FixtureCodec(host.slot("good")!).roundTrip([1, 2, 3]) == "good")
    }

    @Test("missing file, name in no plugin path, and a file that is not a shared object")
    func unloadableFiles() throws {
        let missing = try host([PluginSpec(location: .path("/nonexistent/libnothing.so"))])
        #expect(throws: PluginLoadError.self) { try missing.start() }
        let e1 = #expect(throws: PluginLoadError.self) { try missing.start() }
        #expect(e1?.code == .fileNotFound)

        let byName = try HostRuntime(
            manifest: Manifest(pluginPaths: ["/nonexistent"], arena: Self.smallArena, plugins: [
                PluginSpec(location: .name("Nothing"))
            ]))
        let e2 = #expect(throws: PluginLoadError.self) { try byName.start() }
        #expect(e2?.code == .fileNotFound)
        #expect(e2?.message.contains("libNothing.so is in none of the plugin paths: /nonexistent") == true)

        let garbage = try host([PluginSpec(location: .path(try PluginFixtures.garbageLibrary()))])
        let e3 = #expect(throws: PluginLoadError.self) { try garbage.start() }
        #expect(e3?.code == .notLoadable)
    }

    @Test("the manifest's expected kind and id are enforced")
    func manifestExpectations() throws {
        let path = try PluginFixtures.build(.working)
        let wrongKind = try host([PluginSpec(location: .path(path), kind: .transport)])
        let e1 = #expect(throws: PluginLoadError.self) { try wrongKind.start() }
        #expect(e1?.code == .kindMismatch)
        #expect(e1?.message == "manifest says kind transport but the plugin is a compression plugin")

        let wrongID = try host([PluginSpec(location: .path(path), id: "other.id")])
        let e2 = #expect(throws: PluginLoadError.self) { try wrongID.start() }
        #expect(e2?.code == .idMismatch)
    }

    @Test("two live plugins with the same id are refused; the first keeps serving")
    func duplicateID() throws {
        let first = try PluginFixtures.build(.working, fileName: "libdup_a.so")
        let second = try PluginFixtures.build(.working, fileName: "libdup_b.so")
        let host = try host([
            PluginSpec(location: .path(first), config: ["tag": "first"], explicitSlot: "one"),
            PluginSpec(location: .path(second), required: false, explicitSlot: "two"),
        ])
        let report = try host.start()
        #expect(report.skipped.map(\.code) == [.duplicateID])
        #expect(report.skipped.first?.message.contains("test.fixture.codec") == true)
        #expect(try FixtureCodec(host.slot("one")!).roundTrip([9]) == "first")
    }

    @Test("a plugin abusing the host services gets error codes, and the host and arena stay intact")
    func hostileHostCalls() throws {
        let path = try PluginFixtures.build(.hostile)
        let host = try host([PluginSpec(location: .path(path), config: ["tag": "hostile"])])
        let report = try host.start()  // init fails with the abuse's name if the host accepted one
        #expect(report.loaded.count == 1)
        #expect(host.arena.heap.statistics.invalidFrees == 2)
        #expect(host.arena.heap.statistics.liveBlocks == 0)
        #expect(host.arena.inbox.usedBytes == 0)
        #expect(try FixtureCodec(host.slot("compression")!).roundTrip([7]) == "hostile")
    }

    @Test("two enabled plugins in one slot are refused")
    func slotClash() throws {
        let path = try PluginFixtures.build(.working)
        let host = try host([
            PluginSpec(location: .path(path), explicitSlot: "codec"),
            PluginSpec(location: .path(path), explicitSlot: "codec"),
        ])
        let error = #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(error?.message.contains("slot \"codec\"") == true)
    }

    @Test("a failed required plugin retires the plugins staged before it")
    func failedStartRetiresStaged() throws {
        let good = try PluginFixtures.build(.working)
        let bad = try PluginFixtures.build(.initFails)
        let host = try host([
            PluginSpec(location: .path(good), explicitSlot: "a"),
            PluginSpec(location: .path(bad), explicitSlot: "b"),
        ])
        #expect(throws: PluginLoadError.self) { try host.start() }
        #expect(host.slots.isEmpty)
        #expect(host.pluginHistory.allSatisfy { $0.state == .retired })
    }
}

/// Calls the fixture's tagging codec through the ABI table: returns the tag of the instance that served.
struct FixtureCodec {
    let slot: PluginSlot
    init(_ slot: PluginSlot) { self.slot = slot }

    func roundTrip(_ input: [UInt8]) throws -> String? {
        try slot.withActive { plugin throws(FixtureError) -> String in
            let codec = plugin.extensionTable(as: inos_compression_v1.self).pointee
            var output = [UInt8](repeating: 0, count: input.count + 64)
            var length: UInt64 = 0
            var error = inos_error()
            let status = codec.compress(
                plugin.instance, input, UInt64(input.count), &output, UInt64(output.count), &length, &error)
            guard status == INOS_OK else { throw FixtureError(message: "compress returned \(status)") }
            let tagLength = Int(output[Int(length) - 1])
            #expect(Array(output[0..<input.count]) == input)
            return String(decoding: output[input.count..<input.count + tagLength], as: UTF8.self)
        }
    }
}
