// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Host
import Mesh

/// The reactor of a client process (`fetch`, `find`, `put`, `get`, `locate`, `job submit`): the host's inbox
/// records go to the peer layer, and the peer layer ticks every 100 ms as in a node — keepalives, handshake
/// deadlines and the deadlines of requests made with a completion handler, which nothing else would expire.
/// Runs on a thread of its own until `host.requestStop()`.
func startClientReactor(_ host: HostRuntime, _ peers: PeerManager) {
    Thread {
        host.run(
            tickNanoseconds: 100_000_000,
            onInbox: { type, payload in
                if let record = TransportRecord(type: type, payload: payload) { peers.handle(record, now: DispatchTime.now().uptimeNanoseconds) }
            },
            onTick: { peers.tick(now: DispatchTime.now().uptimeNanoseconds) })
    }.start()
}
