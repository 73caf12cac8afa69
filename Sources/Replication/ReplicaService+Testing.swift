// SPDX-License-Identifier: Apache-2.0
import MeshCore

extension ReplicaService {
    /// Why the service refuses a ledger entry as not its payer's own (``problem(with:)``), for the fuzz targets
    /// (Fuzz/Targets) that drive it with hostile entries. Never called by the node.
    package static func _ledgerProblem(_ entry: LedgerEntry) -> String? { problem(with: entry) }
}
