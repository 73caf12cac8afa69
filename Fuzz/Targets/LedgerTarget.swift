// SPDX-License-Identifier: Apache-2.0
import Identity
import MeshCore
import Replication

/// The credit ledger: LEDGER bodies and anti-entropy leaves (concatenated entries, as a peer's MERKLE leaf
/// answer brings them) decoded, checked as the replica service checks them, and added to a bounded Ledger.
/// Structure-aware: random bytes never carry a payer's signature, so a flag re-issues each entry signed by one
/// of three harness payers — the fields stay the fuzzer's.
///
/// Input: flags (u8: bit 0 — re-sign; bits 1-2 — payer) ‖ records, each a LEDGER body or a leaf of entries.
/// Invariants: what decodes encodes back to its bytes; only entries that verify are kept; the ledger's bounds
/// hold; balances saturate; every leaf the tree serves is whole entries that decode; with an issuer named (the
/// first harness payer), the accounts are the same whatever order the kept entries arrive in, and no other payer
/// spends more than it earned.
enum LedgerTarget {
    static let payers = (0..<3).map { _ in NodeIdentity.ephemeral() }
    static let limits = Ledger.Limits(perPayer: 6, total: 16)

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let flags = input.byte()
        var ledger = Ledger(limits: limits)
        var kept: [LedgerEntry] = []
        while let record = input.record() {
            // A record of exactly one entry is a LEDGER body; anything else is a leaf, cut as the service cuts it.
            let size = LedgerEntry.encodedSize
            for start in stride(from: 0, to: record.count - record.count % size, by: size) {
                let bytes = record[start..<(start + size)]
                guard var entry = LedgerEntry(decoding: bytes) else { continue }
                require(entry.encoded.elementsEqual(bytes), "a ledger entry does not encode back to its bytes")
                if flags & 1 != 0 {
                    let payer = payers[Int(flags >> 1) % payers.count]
                    entry.payerKey = payer.publicKey
                    entry.payer = payer.id.bytes
                    entry.signature = payer.sign(entry.signedBytes)
                }
                let problem = ReplicaService._ledgerProblem(entry)
                // An entry its payer signed must be accepted (one the fuzzer made up cannot carry a valid signature).
                require(flags & 1 == 0 || problem == nil, "the ledger check refused an entry its payer signed: \(problem ?? "")")
                guard problem == nil else { continue }
                let before = ledger.entries.count
                let outcome = ledger.add(entry)
                require((outcome == .added) == (ledger.entries.count == before + 1), "add(_:) said \(outcome) but the ledger has \(ledger.entries.count) entries")
                if outcome == .added {
                    require(ledger.entries[entry.key] == entry, "an added entry is not kept as it came")
                    kept.append(entry)
                }
            }
        }
        require(ledger.entries.count <= limits.total, "the ledger holds more than its total bound")
        require(ledger.perPayer.values.allSatisfy { $0 <= limits.perPayer }, "a payer holds more than its bound")
        for payer in payers { _ = ledger.balance(of: payer.id.bytes) }
        let issuer = payers[0].id.bytes
        var forward = Ledger(issuers: [issuer]), backward = Ledger(issuers: [issuer])
        for entry in kept { forward.add(entry, requireFunded: false) }
        for entry in kept.reversed() { backward.add(entry, requireFunded: false) }
        let accounts = forward.allAccounts()
        require(accounts == backward.allAccounts(), "enforced accounts depend on the order entries arrived in")
        for (node, account) in accounts where node != issuer {
            require(account.spent <= account.earned, "a payer that is not an issuer spent \(account.spent) of \(account.earned) earned")
        }
        let ordered = ledger.ordered
        require(ordered.count == ledger.entries.count && zip(ordered, ordered.dropFirst()).allSatisfy { $0.lamport <= $1.lamport }, "ordered is not in Lamport order")
        _ = ledger.root()
        var served = 0
        for leaf in 0..<(1 << 8) {
            let bytes = ledger.leaf(leaf)
            require(bytes.count % LedgerEntry.encodedSize == 0, "leaf \(leaf) is not whole entries")
            for start in stride(from: 0, to: bytes.count, by: LedgerEntry.encodedSize) {
                require(LedgerEntry(decoding: bytes[start..<(start + LedgerEntry.encodedSize)]) != nil, "leaf \(leaf) serves an entry that does not decode")
                served += 1
            }
        }
        require(served == ledger.entries.count, "the tree serves \(served) entries of \(ledger.entries.count)")
        for level in 0..<2 { for node in 0..<(1 << (4 * level)) { require(ledger.children(level: level, node: node).count == 16, "a ledger tree node has no children") } }
    }
}
