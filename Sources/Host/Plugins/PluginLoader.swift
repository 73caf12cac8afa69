// SPDX-License-Identifier: Apache-2.0
import InosSystem
import Foundation
import Logging
import PluginABI
import PluginKit

/// Opens plugin files and checks them against the ABI before anything of theirs runs but the entry.
///
/// Checks, in order (each with its own ``PluginLoadError/Code``): file exists → `dlopen` → entry symbol →
/// entry returns a descriptor → magic → ABI major/minor → struct size → kind, id, name, version, functions
/// → toolchain → manifest's expected kind and id → init → primary extension. Duplicate ids are refused
/// by ``Host`` which knows the live plugins.
struct PluginLoader {
    let searchPaths: [String]
    /// The services handed to plugins at init; nil for inspection only.
    let services: HostServices?
    let logger: Logger

    /// Where a manifest entry points: its path, or `lib<name>.so` in the first search path that has it.
    func resolve(_ spec: PluginSpec) throws(PluginLoadError) -> String {
        switch spec.location {
        case .path(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw PluginLoadError(.fileNotFound, plugin: spec.displayName, "no file at \(path)")
            }
            return path
        case .name(let name):
            let file = "lib\(name).so"
            for directory in searchPaths {
                let candidate = (directory as NSString).appendingPathComponent(file)
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
            }
            let searched = searchPaths.isEmpty ? "(no plugin_paths configured)" : searchPaths.joined(separator: ", ")
            throw PluginLoadError(
                .fileNotFound, plugin: name, "\(file) is in none of the plugin paths: \(searched)")
        }
    }

    /// Loads, validates and initialises one plugin (not yet routed any work).
    func load(_ spec: PluginSpec) throws(PluginLoadError) -> LoadedPlugin {
        let path = try resolve(spec)
        let (handle, descriptor, kind) = try open(path, spec: spec)
        guard let services else { preconditionFailure("an inspection-only loader cannot initialise plugins") }
        return try LoadedPlugin(
            spec: spec, path: path, handle: handle, descriptor: descriptor, kind: kind, services: services,
            logger: logger)
    }

    /// dlopen + every descriptor check; nothing of the plugin runs but its entry function.
    func open(_ path: String, spec: PluginSpec) throws(PluginLoadError)
        -> (LibraryHandle, UnsafePointer<inos_plugin_descriptor>, PluginKind)
    {
        let who = spec.displayName
        let handle: LibraryHandle
        switch sysDlopen(path) {
        case .success(let h): handle = h
        case .failure(let error): throw PluginLoadError(.notLoadable, plugin: who, error.message)
        }
        guard let symbol = sysDlsym(handle, INOS_PLUGIN_ENTRY_SYMBOL) else {
            throw PluginLoadError(
                .missingEntry, plugin: who, "\(path) does not export \(INOS_PLUGIN_ENTRY_SYMBOL)")
        }
        let entry = unsafeBitCast(symbol, to: inos_plugin_entry_fn.self)
        guard let descriptor = entry() else {
            throw PluginLoadError(.missingEntry, plugin: who, "\(INOS_PLUGIN_ENTRY_SYMBOL) returned NULL")
        }
        // Read the fixed prefix first: magic and version are valid in every version's descriptor.
        let d = descriptor.pointee
        guard d.magic == INOS_PLUGIN_MAGIC else {
            throw PluginLoadError(
                .badMagic, plugin: who,
                "descriptor magic is 0x\(String(d.magic, radix: 16)), expected 0x\(String(INOS_PLUGIN_MAGIC, radix: 16))")
        }
        guard d.abi_major == INOS_ABI_MAJOR else {
            throw PluginLoadError(
                .abiVersionMismatch, plugin: who,
                "built for plugin ABI \(d.abi_major).\(d.abi_minor); this host speaks \(INOS_ABI_MAJOR).\(INOS_ABI_MINOR) — rebuild the plugin against this host's inos_plugin.h")
        }
        guard d.abi_minor <= INOS_ABI_MINOR else {
            throw PluginLoadError(
                .abiVersionMismatch, plugin: who,
                "needs plugin ABI \(d.abi_major).\(d.abi_minor) but this host has \(INOS_ABI_MAJOR).\(INOS_ABI_MINOR) — upgrade the host")
        }
        guard d.struct_size >= INOS_PLUGIN_DESCRIPTOR_V1_SIZE else {
            throw PluginLoadError(
                .descriptorTooSmall, plugin: who,
                "descriptor struct_size \(d.struct_size) is below the v1 size \(INOS_PLUGIN_DESCRIPTOR_V1_SIZE)")
        }
        guard let kind = PluginKind(rawValue: d.kind) else {
            throw PluginLoadError(.invalidDescriptor, plugin: who, "unknown plugin kind \(d.kind)")
        }
        for (field, value) in [("id", d.id), ("name", d.name), ("version", d.version), ("toolchain", d.toolchain)] {
            guard let value, value.pointee != 0 else {
                throw PluginLoadError(.invalidDescriptor, plugin: who, "descriptor field \(field) is empty")
            }
        }
        guard d.`init` != nil, d.get_extension != nil else {
            throw PluginLoadError(.invalidDescriptor, plugin: who, "descriptor lacks init or get_extension")
        }
        let toolchain = String(cString: d.toolchain)
        guard toolchain == INOS_TOOLCHAIN_C || toolchain == swiftToolchainTag else {
            throw PluginLoadError(
                .toolchainMismatch, plugin: who,
                "built with \(toolchain) but this host is \(swiftToolchainTag); Swift has no stable ABI on Linux, rebuild the plugin with the host's compiler")
        }
        if let expected = spec.kind, expected != kind {
            throw PluginLoadError(
                .kindMismatch, plugin: who, "manifest says kind \(expected) but the plugin is a \(kind) plugin")
        }
        let id = String(cString: d.id)
        if let expected = spec.id, expected != id {
            throw PluginLoadError(.idMismatch, plugin: who, "manifest expects id \(expected) but the plugin is \(id)")
        }
        return (handle, descriptor, kind)
    }
}

/// What a plugin file declares, read without initialising it.
public struct PluginInfo: Sendable, Hashable {
    public var path: String
    public var id: String
    public var name: String
    public var version: String
    public var kind: PluginKind
    public var toolchain: String
    public var abiMajor: UInt16
    public var abiMinor: UInt16
    public var summary: String
}

extension HostRuntime {
    /// Opens a plugin file and checks its descriptor (magic, ABI version, size, kind, toolchain) without
    /// calling its init. The image stays mapped, as every plugin image does.
    public static func inspectPlugin(at path: String) -> Result<PluginInfo, PluginLoadError> {
        let spec = PluginSpec(location: .path(path))
        do throws(PluginLoadError) {
            let loader = PluginLoader(searchPaths: [], services: nil, logger: Logger(label: "inos.inspect"))
            let resolved = try loader.resolve(spec)
            let (_, descriptor, kind) = try loader.open(resolved, spec: spec)
            let d = descriptor.pointee
            return .success(
                PluginInfo(
                    path: resolved, id: String(cString: d.id), name: String(cString: d.name),
                    version: String(cString: d.version), kind: kind, toolchain: String(cString: d.toolchain),
                    abiMajor: d.abi_major, abiMinor: d.abi_minor,
                    summary: d.description.map { String(cString: $0) } ?? ""))
        } catch {
            return .failure(error)
        }
    }
}
