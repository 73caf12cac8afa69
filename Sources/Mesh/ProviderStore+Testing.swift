// SPDX-License-Identifier: Apache-2.0

extension ProviderStore {
    /// Puts `record` in the table and its Merkle mirror without verifying it — what a hostile or broken member's
    /// store may hold — so tests can check that nothing it serves is believed elsewhere. Never called by the node.
    package func _insertUnverified(_ key: [UInt8], _ record: ProviderRecord, now: UInt64) {
        _ = add(key, record, now: now, verified: true)
    }
}
