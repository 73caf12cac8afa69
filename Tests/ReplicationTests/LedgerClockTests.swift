// SPDX-License-Identifier: Apache-2.0
import Primitives
import Replication
import Testing

/// Ledger entries are stamped from the node's clock, not a process-wide one: two nodes in one process do not
/// move each other's, and an issued time is never below the wall clock in microseconds (the restart guarantee).
@Suite("Ledger times from the node clock")
struct LedgerClockTests {
    @Test("issued times are at least the wall clock, above every one issued or witnessed; nodes' clocks are apart")
    func issuance() {
        let before = NodeLamport.wallMicroseconds()
        let node = NodeLamport.startingAtWallClock(), other = NodeLamport.startingAtWallClock()
        #expect(node.time >= before)
        let first = node.nextLedgerTime()
        #expect(first >= before && first == node.time)
        let second = node.nextLedgerTime()
        #expect(second > first)
        let ahead = NodeLamport.wallMicroseconds() + 60_000_000
        node.witness(ahead)  // a kept entry from a payer whose clock runs a minute ahead
        #expect(node.nextLedgerTime() > ahead)
        #expect(other.nextLedgerTime() < ahead)  // the other node's clock did not move
    }
}
