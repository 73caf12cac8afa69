// SPDX-License-Identifier: Apache-2.0
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
        let plugin = state.withLock { state -> LoadedPlugin? in
            state.active?.enter()
            return state.active
        }
        guard let plugin else { return nil }
        defer { plugin.leave() }
        return try body(plugin)
    }

    /// Routes new work to `plugin`; returns the previous one (now draining) for the caller to retire.
    func replace(with plugin: LoadedPlugin?) -> LoadedPlugin? {
        let old = state.withLock { state -> LoadedPlugin? in
            let old = state.active
            state.active = plugin
            state.generation += 1
            old?.markDraining()
            return old
        }
        return old
    }
}
