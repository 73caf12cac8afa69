// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit
import Synchronization

/// The services behind `inos_host_api`, shared by every plugin of one host.
final class HostServices: Sendable {
    let arena: Arena
    let inbox: SharedRing
    let outbox: SharedRing
    /// In an isolated job runner's process: the arena is the node's, mapped read-only outside the runner's
    /// lease. `ring_push` and `ring_pop` answer `INOS_ERR_UNSUPPORTED` (the rings have their consumers and
    /// producers in the node, and their locks live in its memory) and `signal` does nothing.
    let isolated: Bool

    init(arena: Arena, isolated: Bool = false) {
        self.arena = arena
        self.isolated = isolated
        self.inbox = SharedRing(arena.inbox, signalBit: UInt32(INOS_SIGNAL_INBOX), switchboard: arena.switchboard)
        self.outbox = SharedRing(arena.outbox, signalBit: UInt32(INOS_SIGNAL_OUTBOX), switchboard: arena.switchboard)
    }

    func ring(_ id: UInt32) -> SharedRing? {
        switch Int32(bitPattern: id) {
        case INOS_RING_INBOX: inbox
        case INOS_RING_OUTBOX: outbox
        default: nil
        }
    }
}

/// A ring whose producer side and consumer side may each be used by many threads: each side is
/// serialised by its own lock, so the SPSC protocol underneath still sees one producer and one consumer.
public final class SharedRing: Sendable {
    public let ring: Ring
    private let producer = Mutex(())
    private let consumer = Mutex(())
    private let signalBit: UInt32
    private let switchboard: Switchboard

    init(_ ring: Ring, signalBit: UInt32, switchboard: Switchboard) {
        self.ring = ring
        self.signalBit = signalBit
        self.switchboard = switchboard
    }

    /// Appends a record and signals the switchboard. ``PluginStatus/full`` is backpressure.
    public func push(type: Int32, _ bytes: UnsafeRawBufferPointer) -> PluginStatus {
        let status = producer.withLock { _ in ring.tryWrite(type: type, bytes) }
        switch status {
        case .ok:
            switchboard.signal(signalBit)
            return .ok
        case .full: return .full
        case .invalidArgument: return .invalidArgument
        }
    }

    /// Takes the oldest record into `buffer` (see `ring_pop` in inos_plugin.h for the codes).
    public func pop(
        into buffer: UnsafeMutableRawBufferPointer, type: UnsafeMutablePointer<Int32>,
        length: UnsafeMutablePointer<UInt32>
    ) -> PluginStatus {
        consumer.withLock { _ in
            var record = inos_ring_record()
            guard inos_ring_peek(ring.raw, &record) != 0 else { return .notFound }
            length.pointee = record.length
            guard Int(record.length) <= buffer.count else { return .bufferTooSmall }
            if record.length > 0 { buffer.baseAddress!.copyMemory(from: record.data, byteCount: Int(record.length)) }
            type.pointee = record.type
            inos_ring_consume(ring.raw, &record)
            inos_ring_release(ring.raw)
            return .ok
        }
    }

    /// Consumer side in place: hands up to `limit` records to `body` (see ``Ring/drain(limit:_:)``).
    @discardableResult
    public func drain(limit: Int = .max, _ body: (Int32, UnsafeRawBufferPointer) -> Void) -> Int {
        consumer.withLock { _ in ring.drain(limit: limit, body) }
    }
}
