// SPDX-License-Identifier: Apache-2.0
import InosSystem
import Synchronization

/// A named place where one plugin of a kind serves work, and the unit of hot swap.
///
/// ``withActive(_:)`` picks the active plugin and counts the call as in flight *under the same lock* that
/// ``replace(with:)`` takes, so once a swap has returned, no new call can reach the old plugin; the swap
/// then waits for the old plugin's in-flight calls to finish before its deinit. Every call is served by
/// exactly one plugin: none is lost, none is served twice.
public final class PluginSlot: Sendable {
    public let name: String
    public let kind: PluginKind
    private let state: Mutex<State>

    private struct State {
        var active: LoadedPlugin?
        var generation: Int
        /// An ordered swap is under way: new calls wait until the old plugin has finished (see ``replace(with:ordered:)``).
        var barrier = false
    }

    init(name: String, kind: PluginKind) {
        self.name = name
        self.kind = kind
        self.state = Mutex(State(active: nil, generation: 0))
    }

    /// The plugin new work goes to.
    public var active: LoadedPlugin? { state.withLock { $0.active } }
    /// How many times the slot's plugin was replaced.
    public var generation: Int { state.withLock { $0.generation } }

    /// Runs `body` with the active plugin, holding it in flight so a concurrent swap waits for it.
    /// Returns `nil` when the slot is empty.
    public func withActive<R, E: Error>(_ body: (LoadedPlugin) throws(E) -> R) throws(E) -> R? {
        var plugin: LoadedPlugin?
        while true {
            let (barrier, active) = state.withLock { state -> (Bool, LoadedPlugin?) in
                guard !state.barrier else { return (true, nil) }
                state.active?.enter()
                return (false, state.active)
            }
            if !barrier {
                plugin = active
                break
            }
            sysSleep(microseconds: 50)  // an ordered swap is finishing the old plugin's work
        }
        guard let plugin else { return nil }
        defer { plugin.leave() }
        return try body(plugin)
    }

    /// Routes new work to `plugin`; returns the previous one (now draining) for the caller to retire.
    ///
    /// With `ordered`, new calls wait until ``endOrderedSwap()`` — called once the old plugin is retired —
    /// so nothing the old plugin still holds (a transport strategy's delayed frames, which its deinit sends)
    /// can be overtaken by work of the new one. Without it, both run side by side while the old one drains.
    func replace(with plugin: LoadedPlugin?, ordered: Bool = false) -> LoadedPlugin? {
        let old = state.withLock { state -> LoadedPlugin? in
            let old = state.active
            state.active = plugin
            state.generation += 1
            old?.markDraining()
            if ordered && old != nil { state.barrier = true }
            return old
        }
        return old
    }

    /// Lets calls through again after an ordered swap.
    func endOrderedSwap() { state.withLock { $0.barrier = false } }
}
