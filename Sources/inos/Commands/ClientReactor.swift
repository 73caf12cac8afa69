// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Mesh

/// The reactor of a client process (`fetch`, `find`, `put`, `get`, `locate`, `job submit`), on a thread of its
/// own: the peer layer's reactor, ticking as in a node, so requests made with a completion handler expire.
func startClientReactor(_ host: HostRuntime, _ peers: PeerManager) {
    Thread { peers.runReactor(host) }.start()
}
