// SPDX-License-Identifier: Apache-2.0
import MeshCore

/// The mesh's internal frame-body codecs, reachable from the fuzz targets (Fuzz/Targets) and the seed generator,
/// which drive them with hostile bytes exactly as the services do. Never called by the node.
package enum MeshFrameCodecs {
    /// A PROVIDE body (or one record of a PROVIDERS answer): key ‖ record; the bytes after it.
    package static func decodeProviderRecord(_ bytes: ArraySlice<UInt8>) -> (key: [UInt8], record: ProviderRecord, rest: ArraySlice<UInt8>)? {
        ProviderRecord.decode(bytes)
    }

    package static func encodeProviderRecord(key: [UInt8], _ record: ProviderRecord) -> [UInt8] { ProviderRecord.encode(key: key, record) }

    /// A PROVIDERS answer for `key`: the records that verify, as the lookup keeps them.
    package static func decodeProviders(_ payload: ArraySlice<UInt8>, key: [UInt8]) -> [ProviderRecord] {
        ProviderService.decodeProviders(payload, key: key)
    }

    /// A `signaling` gossip payload: the member asked to dial back, and the address to dial.
    package static func decodeOffer(_ bytes: [UInt8]) -> (target: MemberID, address: String)? {
        MeshGossip.Offer(decoding: bytes).map { ($0.target, $0.address) }
    }

    package static func encodeOffer(target: MemberID, address: String) -> [UInt8] { MeshGossip.Offer(target: target, address: address).encoded }
}
