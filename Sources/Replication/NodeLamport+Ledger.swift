// SPDX-License-Identifier: Apache-2.0
import Foundation
import Primitives

extension NodeLamport {
    /// A clock starting at the wall clock in microseconds, so a restarted node or CLI stamps above what it
    /// stamped before; it witnesses remote times up to a day past that wall clock (``LamportClock/wallAllowance``),
    /// so a peer cannot push the mesh's clocks to their maximum.
    public static func startingAtWallClock() -> NodeLamport {
        NodeLamport(wallMicroseconds(), ceiling: { wallMicroseconds().saturatingAdd(LamportClock.wallAllowance) })
    }

    /// The Lamport time of a ledger entry this node issues: above every time it issued or witnessed, and never
    /// below the wall clock in microseconds (witnessed times are ≤ 2^62, LedgerEntry decoding).
    package func nextLedgerTime() -> UInt64 { tick(atLeast: Self.wallMicroseconds()) }

    package static func wallMicroseconds() -> UInt64 {
        let micros = Date().timeIntervalSince1970 * 1e6
        return micros > 0 && micros < 0x1p62 ? UInt64(micros) : 0  // a clock before 1970 (or absurd) starts at 0
    }
}
