// SPDX-License-Identifier: Apache-2.0
import Primitives

/// The Lamport clock lives in Primitives, so one node's services can share one (``NodeLamport``); the name
/// stays reachable here for the state machines' users.
public typealias LamportClock = Primitives.LamportClock

/// A total order that respects causality: Lamport time, then the node, to break ties.
public struct LamportStamp: Sendable, Hashable, Comparable {
    public var time: UInt64
    public var node: UInt32

    public init(time: UInt64, node: UInt32) {
        self.time = time
        self.node = node
    }

    public static func < (a: LamportStamp, b: LamportStamp) -> Bool { (a.time, a.node) < (b.time, b.node) }
}
