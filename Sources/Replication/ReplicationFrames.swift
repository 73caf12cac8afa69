// SPDX-License-Identifier: Apache-2.0
import Mesh
import Wire

/// The replication frame types (docs/wire.md), declared and served by this module.
extension FrameType {
    /// STORE asks a node to hold a piece of a resource durably; STORED answers once it is on disk (or says why not).
    public static let store = FrameType(rawValue: 0x60)
    public static let stored = FrameType(rawValue: 0x61)
    /// HAVE asks which of a resource's pieces a node holds (with its load and demand); HAVE_REPLY answers.
    public static let have = FrameType(rawValue: 0x62)
    public static let haveReply = FrameType(rawValue: 0x63)
    /// RELEASE lets a holder drop pieces it no longer needs to keep (answered STORED).
    public static let release = FrameType(rawValue: 0x64)
    /// A signed ledger entry for the receiving node (answered STORED).
    public static let ledger = FrameType(rawValue: 0x65)
    /// Proof of storage: CHALLENGE names a piece and a fresh nonce; PROOF answers SHA-256(nonce ‖ the piece's
    /// stored bytes), which only a node that reads the piece can compute (a repair leader checks HAVE claims so).
    public static let challenge = FrameType(rawValue: 0x6A)
    public static let proof = FrameType(rawValue: 0x6B)
}

/// The answers this module's requests expect: declared by every part that sends requests (the replica service,
/// clients), so a node knows them whichever part it runs.
public enum ReplicationFrames {
    public static let responses: [FrameRegistration] = [
        .response(.stored, "STORED", owner: "replication"), .response(.haveReply, "HAVE_REPLY", owner: "replication"),
        .response(.proof, "PROOF", owner: "replication"),
    ]
}
