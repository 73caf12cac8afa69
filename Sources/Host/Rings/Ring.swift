// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit

/// A borrowed view of a single-producer single-consumer ring that lives in the arena.
///
/// The protocol is the C one in `inos_arena.h` (so C plugins and Swift share one implementation):
/// claim → write → store-release tail; acquire tail → read → store-release head. Writes never block;
/// ``RingStatus/full`` is backpressure.
///
/// - Important: call the producer methods from one thread at a time and the consumer methods from one
///   thread at a time. ``ProducerLock`` serialises many producers (the host's `ring_push` service).
public struct Ring: @unchecked Sendable {  // a borrowed address; thread rules are documented above
    /// The ring header in the arena.
    public let raw: UnsafeMutablePointer<inos_ring>

    /// Initialises a ring in place (the arena's own, or a channel's in a heap block).
    /// - Precondition: `capacity` is a power of two of at least 1024.
    package init(initializing raw: UnsafeMutablePointer<inos_ring>, capacity: Int) {
        self.raw = raw
        let status = inos_ring_init(raw, UInt64(capacity))
        precondition(PluginStatus(status) == .ok, "ring capacity must be a power of two of at least 1024")
    }

    /// Borrows a ring that is already initialised (for another process or a test).
    public init(borrowing raw: UnsafeMutablePointer<inos_ring>) {
        precondition(raw.pointee.config.magic == INOS_RING_MAGIC, "not an INOS ring")
        self.raw = raw
    }

    /// Record bytes the ring holds.
    public var capacity: Int { Int(raw.pointee.config.capacity) }
    /// The largest payload one record may carry.
    public var maxRecordLength: Int { Int(raw.pointee.config.max_record) }
    /// Bytes in use right now (a snapshot, any thread).
    public var usedBytes: Int { Int(inos_ring_used(raw)) }
    /// Fill level 0...1 (a snapshot, any thread).
    public var fill: Double { Double(usedBytes) / Double(capacity) }

    // MARK: Producer

    /// Appends one record. Producer thread only.
    @inlinable
    public func tryWrite(type: Int32, _ bytes: UnsafeRawBufferPointer) -> RingStatus {
        RingStatus(inos_ring_try_write(raw, type, bytes.baseAddress, UInt32(bytes.count)))
    }

    /// Claims space for a record and lets `body` write its payload in place. With `publish` (the default)
    /// the record is visible at once; without it, it becomes visible at the next ``publish()`` — write a
    /// batch and publish once to save a cache-line transfer per record. Returns ``RingStatus/full``
    /// without calling `body` when there is no room (pending records are published then, so a batch
    /// never waits on itself). Producer thread only.
    /// - warning: the buffer is valid only inside `body`.
    @inlinable
    public func tryWrite(
        type: Int32, length: Int, publish: Bool = true, _ body: (UnsafeMutableRawBufferPointer) -> Void
    ) -> RingStatus {
        var next: UInt64 = 0
        var status: Int32 = 0
        guard let payload = inos_ring_try_claim(raw, type, UInt32(length), &next, &status) else {
            return RingStatus(status)
        }
        body(UnsafeMutableRawBufferPointer(start: payload, count: length))
        inos_ring_commit(raw, next)
        if publish { inos_ring_publish(raw) }
        return .ok
    }

    /// Makes every record written with `publish: false` visible to the consumer. Producer thread only.
    @inlinable
    public func publish() { inos_ring_publish(raw) }

    // MARK: Consumer

    /// Hands every available record (at most `limit`) to `body`, then releases their space in one store.
    /// Returns the number handled. Consumer thread only.
    /// - warning: the record's bytes are valid only inside `body`.
    @inlinable
    @discardableResult
    public func drain(limit: Int = .max, _ body: (Int32, UnsafeRawBufferPointer) -> Void) -> Int {
        var record = inos_ring_record()
        var count = 0
        while count < limit, inos_ring_peek(raw, &record) != 0 {
            body(record.type, UnsafeRawBufferPointer(start: record.data, count: Int(record.length)))
            inos_ring_consume(raw, &record)
            count += 1
        }
        if count > 0 { inos_ring_release(raw) }
        return count
    }
}

/// The outcome of a ring write.
public enum RingStatus: Equatable, Sendable {
    case ok
    /// No room: backpressure, not an error. Retry after the consumer catches up.
    case full
    /// Negative type or a payload larger than ``Ring/maxRecordLength``.
    case invalidArgument

    @usableFromInline
    init(_ code: Int32) {
        switch code {
        case PluginStatus.ok: self = .ok
        case PluginStatus.full: self = .full
        default: self = .invalidArgument
        }
    }
}
