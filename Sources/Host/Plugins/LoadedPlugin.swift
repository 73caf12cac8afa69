// SPDX-License-Identifier: Apache-2.0
import InosSystem
import PluginABI
import PluginKit
import Synchronization

/// A plugin the loader accepted and initialised: its descriptor, its instance and its primary extension.
///
/// Lifecycle: `active` (routed new work) → `draining` (replaced; finishing calls in flight) → `retired`
/// (deinit called). The image is never unloaded (see docs/plugin-abi.md "Hot swap").
public final class LoadedPlugin: Sendable {
    public enum State: UInt8, Sendable, CustomStringConvertible {
        case active, draining, retired
        public var description: String { ["active", "draining", "retired"][Int(rawValue)] }
    }

    public let id: String
    public let name: String
    public let version: String
    public let kind: PluginKind
    public let toolchain: String
    public let summary: String
    /// The file the image came from.
    public let path: String
    /// The descriptor's ABI version.
    public let abiVersion: (major: UInt16, minor: UInt16)
    /// The manifest entry it was loaded from.
    public let spec: PluginSpec

    let handle: LibraryHandle
    // `nonisolated(unsafe)`: written once in init before the plugin is shared; read-only afterwards.
    nonisolated(unsafe) let descriptor: UnsafePointer<inos_plugin_descriptor>
    /// The instance pointer to pass to extension functions (owned by the plugin).
    public nonisolated(unsafe) let instance: UnsafeMutableRawPointer?
    /// The primary extension's function table (for example an `inos_compression_v1`).
    nonisolated(unsafe) let extensionTable: UnsafeRawPointer
    private let context: PluginContext
    nonisolated(unsafe) private let hostAPI: UnsafeMutablePointer<inos_host_api>
    private let inFlightCalls = Atomic<Int>(0)
    private let stateWord = Atomic<UInt8>(State.active.rawValue)
    /// Host objects the plugin holds pointers to (a wrapped transport's forwarder); kept for the plugin's life.
    private let attachments = Mutex<[any Sendable]>([])

    func attach(_ object: any Sendable) { attachments.withLock { $0.append(object) } }

    /// The address of a C function or variable the plugin exports (for calls by declared signature through
    /// libffi); nil if it exports no such symbol. Valid for the life of the process (images stay mapped).
    public func symbol(_ name: String) -> UnsafeMutableRawPointer? { sysDlsym(handle, name) }

    init(
        spec: PluginSpec, path: String, handle: LibraryHandle, descriptor: UnsafePointer<inos_plugin_descriptor>,
        kind: PluginKind, services: HostServices, logger: Logger
    ) throws(PluginLoadError) {
        let d = descriptor.pointee
        self.id = String(cString: d.id)
        self.name = String(cString: d.name)
        self.version = String(cString: d.version)
        self.toolchain = String(cString: d.toolchain)
        self.summary = d.description.map { String(cString: $0) } ?? ""
        self.kind = kind
        self.path = path
        self.abiVersion = (d.abi_major, d.abi_minor)
        self.spec = spec
        self.handle = handle
        self.descriptor = descriptor
        self.context = PluginContext(services: services, pluginID: id, config: spec.config, logger: logger)
        self.hostAPI = .allocate(capacity: 1)
        hostAPI.initialize(to: context.makeHostAPI())

        var error = inos_error.empty()
        var instance: UnsafeMutableRawPointer? = nil
        let status = d.`init`(hostAPI, &instance, &error)
        guard PluginStatus(status) == .ok else {
            hostAPI.deallocate()
            throw PluginLoadError(
                .initFailed, plugin: spec.displayName,
                "\(id) init returned \(PluginStatus(status)): \(error.text.isEmpty ? "no message" : error.text)",
                cause: PluginStatus(status))
        }
        self.instance = instance
        guard let table = d.get_extension(instance, kind.extensionID) else {
            d.`deinit`?(instance)
            hostAPI.deallocate()
            throw PluginLoadError(
                .missingExtension, plugin: spec.displayName,
                "\(id) declares kind \(kind) but offers no \(kind.extensionID) extension")
        }
        self.extensionTable = table
    }

    deinit {
        if state != .retired { retire() }
        hostAPI.deallocate()
    }

    public var state: State { State(rawValue: stateWord.load(ordering: .acquiring))! }

    /// Calls made into the plugin that have not returned yet.
    public var callsInFlight: Int { inFlightCalls.load(ordering: .acquiring) }

    /// The primary extension's table, typed. The caller names the struct matching ``kind``.
    /// - warning: valid only while the plugin is not retired; use it inside ``PluginSlot/withActive(_:)``.
    public func extensionTable<T>(as type: T.Type) -> UnsafePointer<T> {
        extensionTable.assumingMemoryBound(to: T.self)
    }

    /// Any other extension the plugin offers, by id; nil if absent.
    public func lookUpExtension(_ id: String) -> UnsafeRawPointer? {
        descriptor.pointee.get_extension(instance, id)
    }

    func enter() { inFlightCalls.wrappingAdd(1, ordering: .acquiringAndReleasing) }
    func leave() { inFlightCalls.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
    func markDraining() { stateWord.store(State.draining.rawValue, ordering: .releasing) }

    /// Calls deinit once. Only after no call is in flight and no new one can start.
    func retire() {
        let (exchanged, _) = stateWord.compareExchange(
            expected: State.draining.rawValue, desired: State.retired.rawValue, ordering: .acquiringAndReleasing)
        if !exchanged {
            guard stateWord.compareExchange(
                expected: State.active.rawValue, desired: State.retired.rawValue, ordering: .acquiringAndReleasing
            ).exchanged else { return }
        }
        descriptor.pointee.`deinit`?(instance)
    }
}

import Logging

extension inos_error {
    static func empty() -> inos_error {
        var error = inos_error()
        error.struct_size = UInt32(MemoryLayout<inos_error>.size)
        return error
    }

    /// The message as Swift text (bounded by the buffer even without a NUL).
    var text: String {
        withUnsafeBytes(of: message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
