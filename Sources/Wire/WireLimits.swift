// SPDX-License-Identifier: Apache-2.0
import Primitives

/// Limits on values that arrive from peers (docs/wire.md, "Values from peers").
public enum WireLimits {
    /// The largest Lamport time a peer may send. A frame carrying a larger one is malformed: no honest clock
    /// gets there (a node ticking a billion times a second takes 146 years), and the 2^62 values left above
    /// it keep every `+ 1` on a Lamport time far from overflow.
    public static let maximumLamport: UInt64 = LamportClock.maximum
}

extension ByteReader {
    /// A Lamport time (u64), or nil if it is above ``WireLimits/maximumLamport`` (the frame is malformed); the
    /// reader does not move then.
    package mutating func lamport() -> UInt64? {
        var probe = self
        guard let value = probe.read(UInt64.self), value <= WireLimits.maximumLamport else { return nil }
        self = probe
        return value
    }
}
