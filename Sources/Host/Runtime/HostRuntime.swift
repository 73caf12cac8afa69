// SPDX-License-Identifier: Apache-2.0
import InosSystem
import Logging
import PluginABI
import PluginKit
import Synchronization

/// The minimal host: it owns the arena and the switchboard, loads plugins through the C ABI, routes work
/// to them through slots and swaps them at run time. It knows nothing of P2P semantics.
public final class HostRuntime: Sendable {
    public let arena: Arena
    public let logger: Logger
    let services: HostServices
    private let registry: Mutex<Registry>
    private let stopRequested = Atomic<Bool>(false)

    private struct Registry {
        var manifest: Manifest
        var slots: [String: PluginSlot] = [:]
        /// Every plugin ever loaded, retired ones included: their images stay mapped for the process' life.
        var history: [LoadedPlugin] = []
    }

    /// Creates the arena from the manifest. Plugins are loaded by ``start()``.
    public init(manifest: Manifest = .embeddedDefault, logger: Logger = Logger(label: "inos.host")) throws {
        self.arena = try Arena(configuration: manifest.arena, name: "inos-\(manifest.nodeName)")
        self.logger = logger
        self.services = HostServices(arena: arena)
        self.registry = Mutex(Registry(manifest: manifest))
    }

    /// A host inside an isolated job runner's process, over the node's arena mapped with
    /// ``Arena/init(attaching:writable:heapLease:)``: plugins get the same services, except that
    /// `arena_alloc` allocates inside the runner's lease, `ring_push`/`ring_pop` answer
    /// `INOS_ERR_UNSUPPORTED` and `signal` does nothing. Do not call ``run(tickNanoseconds:onInbox:onTick:)``
    /// or ``requestStop()`` on it: the switchboard is the node's.
    package init(attaching arena: Arena, manifest: Manifest, logger: Logger) {
        self.arena = arena
        self.logger = logger
        self.services = HostServices(arena: arena, isolated: true)
        self.registry = Mutex(Registry(manifest: manifest))
    }

    /// The inbox ring, producer and consumer sides each safe for many threads.
    public var inbox: SharedRing { services.inbox }
    /// The outbox ring, producer and consumer sides each safe for many threads.
    public var outbox: SharedRing { services.outbox }
    public var manifest: Manifest { registry.withLock { $0.manifest } }

    // MARK: Loading

    /// What ``start()`` or ``reload(_:)`` did.
    public struct LoadReport: Sendable {
        /// Plugins now serving, by slot.
        public var loaded: [String: LoadedPlugin] = [:]
        /// Optional plugins that failed, with why. The node runs without them.
        public var skipped: [PluginLoadError] = []
        /// Slots whose plugin was replaced (hot swap) or removed.
        public var swapped: [String] = []
        public var removed: [String] = []
    }

    /// Loads every enabled plugin of the manifest. An optional plugin that fails is skipped with its error;
    /// a required one that fails stops start-up with its error (plugins loaded so far are retired).
    @discardableResult
    public func start() throws(PluginLoadError) -> LoadReport {
        try apply(manifest)
    }

    /// Applies a new manifest to the running node: new slots are loaded, changed slots are hot-swapped,
    /// slots no longer listed are drained and retired. The arena configuration cannot change at run time.
    @discardableResult
    public func reload(_ manifest: Manifest) throws(PluginLoadError) -> LoadReport {
        if manifest.arena != arena.configuration {
            logger.warning("arena settings changed in the manifest; they take effect at the next start")
        }
        return try apply(manifest)
    }

    private func apply(_ manifest: Manifest) throws(PluginLoadError) -> LoadReport {
        var report = LoadReport()
        let loader = PluginLoader(searchPaths: manifest.pluginPaths, services: services, logger: logger)
        var wanted: Set<String> = []
        var staged: [(slot: String, plugin: LoadedPlugin)] = []
        do throws(PluginLoadError) {
            for spec in manifest.plugins where spec.enabled {
                // An entry identical to the one serving a slot keeps serving: nothing to load.
                if let kept = slots.first(where: { $0.value.active?.spec == spec })?.key {
                    try claim(kept, for: spec, in: &wanted)
                    continue
                }
                do throws(PluginLoadError) {
                    let plugin = try loader.load(spec)
                    // The slot: the manifest's `slot =`, else its `kind =`, else the kind the plugin declares.
                    let slotName = spec.explicitSlot ?? spec.kind?.description ?? plugin.kind.description
                    do throws(PluginLoadError) {
                        try claim(slotName, for: spec, in: &wanted)
                        try checkUniqueID(plugin, replacingSlot: slotName, staged: staged.map(\.plugin))
                        if spec.isolation != .none && plugin.kind != .jobRunner {
                            throw PluginLoadError(
                                .kindMismatch, plugin: spec.displayName,
                                "isolation = \"\(spec.isolation.rawValue)\" is for job_runner plugins; this is a \(plugin.kind) plugin")
                        }
                    } catch {
                        plugin.retire()
                        registry.withLock { $0.history.append(plugin) }
                        throw error
                    }
                    if let inner = spec.wraps {
                        do throws(PluginLoadError) {
                            try wrap(plugin, around: inner, slot: slotName)
                        } catch {
                            plugin.retire()
                            registry.withLock { $0.history.append(plugin) }
                            throw error
                        }
                    }
                    staged.append((slotName, plugin))
                } catch where !spec.required {
                    logger.warning("optional plugin skipped: \(error)")
                    report.skipped.append(error)
                }
            }
            for (_, plugin) in staged {
                guard let inner = plugin.spec.wraps, !wanted.contains(inner) else { continue }
                throw PluginLoadError(
                    .initFailed, plugin: plugin.spec.displayName,
                    "wraps slot \"\(inner)\", which no enabled plugin serves")
            }
        } catch {
            for (_, plugin) in staged { plugin.retire() }  // nothing was routed to them yet
            registry.withLock { $0.history.append(contentsOf: staged.map(\.plugin)) }
            throw error
        }
        // Commit: route new work to the staged plugins, then drain and retire what they replace.
        var replaced: [LoadedPlugin] = []
        var orderedSlots: [PluginSlot] = []
        registry.withLock { registry in
            registry.manifest = manifest
            for (slotName, plugin) in staged {
                let slot = registry.slots[slotName] ?? PluginSlot(name: slotName, kind: plugin.kind)
                registry.slots[slotName] = slot
                // Transports swap in order: frames a strategy still holds leave before the new one's.
                let ordered = plugin.kind == .transport
                if let old = slot.replace(with: plugin, ordered: ordered) {
                    replaced.append(old)
                    report.swapped.append(slotName)
                    if ordered { orderedSlots.append(slot) }
                }
                registry.history.append(plugin)
                report.loaded[slotName] = plugin
            }
            for (slotName, slot) in registry.slots where !wanted.contains(slotName) {
                if let old = slot.replace(with: nil) { replaced.append(old) }
                registry.slots[slotName] = nil
                report.removed.append(slotName)
            }
        }
        for old in replaced { drainAndRetire(old) }
        for slot in orderedSlots { slot.endOrderedSwap() }
        for (slotName, plugin) in report.loaded.sorted(by: { $0.key < $1.key }) {
            logger.info("plugin \(plugin.id) \(plugin.version) serving slot \(slotName)")
        }
        return report
    }

    /// Hands a transport strategy the slot it wraps (`wraps =`), through a forwarder that resolves the slot
    /// on every call.
    private func wrap(_ plugin: LoadedPlugin, around inner: String, slot: String) throws(PluginLoadError) {
        let name = plugin.spec.displayName
        guard plugin.kind == .transport else {
            throw PluginLoadError(.invalidDescriptor, plugin: name, "wraps = is for transport strategies; this is a \(plugin.kind) plugin")
        }
        guard inner != slot else {
            throw PluginLoadError(.initFailed, plugin: name, "a transport cannot wrap its own slot \"\(slot)\"")
        }
        let table = plugin.extensionTable(as: inos_transport_v1.self)
        guard table.pointee.struct_size >= UInt32(MemoryLayout<inos_transport_v1>.size), let wrapFunction = table.pointee.wrap else {
            throw PluginLoadError(.missingExtension, plugin: name, "it has no wrap function: a base transport cannot wrap \"\(inner)\"")
        }
        let forwarder = TransportForwarder(slotName: inner) { [weak self] in self?.slot(inner) }
        plugin.attach(forwarder)
        var error = inos_error.empty()
        let status = wrapFunction(plugin.instance, TransportForwarder.table, forwarder.opaque, &error)
        guard PluginStatus(status) == .ok else {
            throw PluginLoadError(
                .initFailed, plugin: name, "wrap around \"\(inner)\" failed: \(PluginStatus(status)) \(error.text)",
                cause: PluginStatus(status))
        }
    }

    /// Hot-swaps one slot to the plugin of `spec` without touching the rest of the manifest.
    @discardableResult
    public func swap(slot slotName: String, to spec: PluginSpec) throws(PluginLoadError) -> LoadedPlugin {
        var manifest = self.manifest
        var spec = spec
        spec.explicitSlot = slotName
        let serving = slot(slotName)?.active?.spec
        manifest.plugins.removeAll { $0.enabled && ($0.explicitSlot == slotName || $0 == serving) }
        manifest.plugins.append(spec)
        let report = try apply(manifest)
        guard let plugin = report.loaded[slotName] ?? slot(slotName)?.active else {
            throw PluginLoadError(.initFailed, plugin: spec.displayName, "slot \(slotName) has no plugin after the swap")
        }
        return plugin
    }

    /// Records that `spec` serves `slot`; two enabled entries may not share a slot.
    private func claim(_ slot: String, for spec: PluginSpec, in wanted: inout Set<String>) throws(PluginLoadError) {
        guard wanted.insert(slot).inserted else {
            throw PluginLoadError(
                .duplicateID, plugin: spec.displayName,
                "two enabled plugins use slot \"\(slot)\"; give one of them slot = \"...\"")
        }
    }

    private func checkUniqueID(_ plugin: LoadedPlugin, replacingSlot: String, staged: [LoadedPlugin])
        throws(PluginLoadError)
    {
        let clash = registry.withLock { registry in
            registry.slots.contains { name, slot in name != replacingSlot && slot.active?.id == plugin.id }
        } || staged.contains { $0.id == plugin.id }
        if clash {
            throw PluginLoadError(
                .duplicateID, plugin: plugin.spec.displayName, "another live plugin already has id \(plugin.id)")
        }
    }

    /// Waits for calls in flight on a replaced plugin, then calls its deinit. The image stays mapped.
    private func drainAndRetire(_ plugin: LoadedPlugin) {
        var waited = 0
        while plugin.callsInFlight > 0 {
            if waited % 10_000 == 0 && waited > 0 {
                logger.info("waiting for \(plugin.callsInFlight) calls in flight on \(plugin.id) before its deinit")
            }
            sysSleep(microseconds: 50)
            waited += 1
        }
        plugin.retire()
        logger.info("plugin \(plugin.id) \(plugin.version) drained and retired (image stays mapped)")
    }

    // MARK: Lookup

    /// The slot of that name, if any plugin was loaded into it.
    public func slot(_ name: String) -> PluginSlot? { registry.withLock { $0.slots[name] } }

    /// Every slot, by name.
    public var slots: [String: PluginSlot] { registry.withLock { $0.slots } }

    /// Every plugin loaded since start, newest last, retired ones included.
    public var pluginHistory: [LoadedPlugin] { registry.withLock { $0.history } }

    // MARK: Event loop

    /// Records handled between two looks at the inbox fill.
    static let reactorBatch = 64
    /// Records handled before the reactor checks its timers again.
    static let reactorBurst = 4096

    /// Runs the reactor until ``requestStop()``: sleeps on the switchboard (no CPU while idle), hands inbox
    /// records to `onInbox`, keeps the backpressure flag current, and calls `onTick` every `tick`.
    public func run(
        tickNanoseconds: Int64 = 1_000_000_000,
        onInbox: (Int32, UnsafeRawBufferPointer) -> Void = { _, _ in },
        onTick: () -> Void = {}
    ) {
        var nextTick = sysMonotonicNanoseconds() + UInt64(tickNanoseconds)
        while !stopRequested.load(ordering: .acquiring) {
            let now = sysMonotonicNanoseconds()
            let bits = arena.switchboard.wait(timeoutNanoseconds: now >= nextTick ? 0 : Int64(nextTick - now))
            if bits & UInt32(INOS_SIGNAL_INBOX) != 0 || arena.inbox.usedBytes > 0 {
                // Drain in small batches and judge the inbox fill around each one, so the backpressure flag
                // follows the backlog even while a slow handler works through a long burst: transports pause
                // at the high watermark and resume only once the backlog is under the low one.
                var drained = 0
                repeat {
                    arena.switchboard.updateBackpressure(fill: arena.inbox.fill)
                    let batch = inbox.drain(limit: Self.reactorBatch, onInbox)
                    drained += batch
                    if batch < Self.reactorBatch || stopRequested.load(ordering: .acquiring) { break }
                } while drained < Self.reactorBurst
                arena.switchboard.updateBackpressure(fill: arena.inbox.fill)
                if arena.inbox.usedBytes > 0 { arena.switchboard.signal(UInt32(INOS_SIGNAL_INBOX)) }
            }
            if sysMonotonicNanoseconds() >= nextTick {
                onTick()
                nextTick = sysMonotonicNanoseconds() + UInt64(tickNanoseconds)
            }
        }
    }

    /// One reactor iteration without the wait: hands at most `limit` inbox records to `onInbox` and keeps the
    /// backpressure flag current, as ``run(tickNanoseconds:onInbox:onTick:)`` does between two sleeps. Returns
    /// how many records it handled (0: the inbox was empty); the default limit is the reactor's burst. Never sleeps and runs no timers — for a caller that
    /// drives the host itself (a test harness stepping many hosts on one thread, in virtual time). Do not call it
    /// while ``run(tickNanoseconds:onInbox:onTick:)`` runs on another thread.
    @discardableResult
    public func pump(limit: Int = 4096, _ onInbox: (Int32, UnsafeRawBufferPointer) -> Void) -> Int {
        var drained = 0
        while drained < limit {
            arena.switchboard.updateBackpressure(fill: arena.inbox.fill)
            let batch = inbox.drain(limit: min(Self.reactorBatch, limit - drained), onInbox)
            drained += batch
            if batch == 0 { break }
        }
        arena.switchboard.updateBackpressure(fill: arena.inbox.fill)
        return drained
    }

    /// Makes ``run(tickNanoseconds:onInbox:onTick:)`` return soon. Any thread, also a signal handler's task.
    public func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        arena.switchboard.signal(UInt32(INOS_SIGNAL_CONTROL))
    }

    /// Retires every plugin (drained first). Their images stay mapped.
    public func shutdown() {
        let plugins = registry.withLock { registry -> [LoadedPlugin] in
            let active = registry.slots.values.compactMap { $0.replace(with: nil) }
            registry.slots.removeAll()
            return active
        }
        for plugin in plugins { drainAndRetire(plugin) }
    }
}
