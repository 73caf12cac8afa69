// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore

extension MemberCredentials {
    /// A node's membership credentials: it signs with its Ed25519 identity, and a signature checks only if the
    /// key carried with it hashes to a node ID whose member ID (``Membership/member(_:)``) is the claimed one —
    /// keys are self-certifying, so no key directory is needed.
    package init(identity: NodeIdentity) {
        self.init(
            publicKey: identity.publicKey, sign: { identity.sign($0) },
            verify: { signature, message, publicKey, member in
                // The length check comes first: NodeID(publicKey:) requires 32 bytes.
                publicKey.count == 32 && Membership.member(NodeID(publicKey: publicKey)) == member
                    && NodeIdentity.verify(signature, of: message, by: publicKey)
            })
    }
}
