// SPDX-License-Identifier: Apache-2.0
import Identity

/// A peer address that may pin the node expected there: `tcp://host:port#<node id>`, the node ID as the node
/// prints it at start ("node id n…") or as `inos id` does. A dial to a pinned address refuses a peer that
/// proves to be another node.
public struct PinnedAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address the transport dials (without the `#…` part).
    public var address: String
    /// The node expected at ``address``, if pinned.
    public var node: NodeID?

    public init(address: String, node: NodeID? = nil) {
        self.address = address
        self.node = node
    }

    /// Parses `address[#node id]`; nil when there is a `#` part that is not a node ID.
    public init?(_ text: String) {
        guard let hash = text.lastIndex(of: "#") else {
            self.init(address: text)
            return
        }
        guard let node = NodeID(String(text[text.index(after: hash)...])) else { return nil }
        self.init(address: String(text[..<hash]), node: node)
    }

    public var description: String { node.map { "\(address)#\($0)" } ?? address }
}
