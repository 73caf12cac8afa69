// SPDX-License-Identifier: Apache-2.0
import Foundation
import Primitives

extension NodeLamport {
    /// A clock starting at the wall clock in microseconds, so a restarted node or CLI stamps above what it
    /// stamped before.
    public static func startingAtWallClock() -> NodeLamport { NodeLamport(wallMicroseconds()) }

    /// The Lamport time of a ledger entry this node issues: above every time it issued or witnessed, and never
    /// below the wall clock in microseconds (witnessed times are ≤ 2^62, LedgerEntry decoding).
    package func nextLedgerTime() -> UInt64 { tick(atLeast: Self.wallMicroseconds()) }

    package static func wallMicroseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1e6) }
}
