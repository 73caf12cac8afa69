// SPDX-License-Identifier: Apache-2.0
import Host
import Mesh

/// Stepping a node from outside instead of running its reactor: what an in-process harness (NodeTestSupport's
/// `MeshHarness`) does with many nodes on one thread, on a ``ManualClock``. Build such a node with
/// ``Configuration/lanes`` `.queued`, the memory transport with `delivery = "inline"`, and call ``start()`` but
/// never ``run()``.
extension MeshNode {
    /// One reactor iteration without the wait: at most `limit` inbox records to the peer layer, as the reactor
    /// hands them. A record `admit` refuses is dropped (a frame's arena block freed) — how a harness cuts a
    /// partition. Returns how many records were taken from the inbox.
    @discardableResult
    package func pump(limit: Int = 4096, admit: (TransportRecord) -> Bool = { _ in true }) -> Int {
        let now = configuration.clock.now()
        return host.pump(limit: limit) { [self] type, bytes in
            guard let record = TransportRecord(type: type, payload: bytes) else { return }
            if let peers, admit(record) {
                peers.handle(record, now: now)
            } else if case .frame(_, let offset, _) = record {
                _ = host.arena.heap.free(offset)
            }
        }
    }

    /// Runs what the node's queued lanes hold — dials whose time on the clock has come, then lane jobs — and
    /// offers waiting outbound frames to the transport again. Returns how many jobs ran.
    @discardableResult
    package func runQueued(limit: Int = .max) -> Int {
        guard let peers else { return 0 }
        let ran = peers.layer.lanes.runQueued(limit: limit)
        peers.layer.flushQueued()
        return ran
    }

    /// What a blocking wait on this node (a lane job using the blocking request form) runs instead of blocking
    /// the stepping thread: the harness's step of the whole mesh (see ``Lanes/whileBlocked(_:)``).
    package func whileBlocked(_ step: @escaping @Sendable () -> Void) { peers?.layer.lanes.whileBlocked(step) }

    /// The reactor's tick, at the clock's time: request and handshake deadlines, keepalives, SWIM's timers,
    /// gossip, the provider epoch.
    package func tick() { peers?.tick(now: configuration.clock.now()) }

    /// Stops a node that was stepped, not run: the services, then every plugin (its transport's connections
    /// close, and their peers get CLOSED records).
    package func shutdownStepped() {
        replicas?.stop()
        peers?.stop()
        host.shutdown()
    }
}
