// SPDX-License-Identifier: Apache-2.0
import PluginABI
import PluginKit

#if canImport(Glibc)
import Glibc
#endif

/// A transport's side of the host: delivering frames and connection events to the inbox ring, reading the
/// backpressure line, logging. Thread-safe (every host API function is).
package struct HostLink: @unchecked Sendable {
    // @unchecked: the host API table is immutable and its functions may be called from any thread.
    package let api: UnsafePointer<inos_host_api>

    package init(_ api: UnsafePointer<inos_host_api>) { self.api = api }

    /// The outcome of offering something to the inbox.
    package enum Delivery: Equatable {
        case delivered
        /// The arena or the inbox is full, or the host asks transports to pause: keep it and retry later.
        case full
    }

    /// True while the host asks transports to stop reading (inbox above its high watermark).
    package var backpressure: Bool { api.pointee.backpressure(api.pointee.ctx) != 0 }

    /// Copies one received frame into an arena block and announces it on the inbox. Nothing is taken on
    /// `.full`: the caller keeps the frame and offers it again later, in order.
    package func deliver(connection: UInt64, frame: UnsafeRawBufferPointer) -> Delivery {
        var offset: UInt64 = 0
        guard PluginStatus(api.pointee.arena_alloc(api.pointee.ctx, UInt64(max(frame.count, 1)), &offset)) == .ok else { return .full }
        var size: UInt64 = 0
        let base = api.pointee.arena_base(api.pointee.ctx, &size)!
        if !frame.isEmpty { (base + Int(offset)).update(from: frame.baseAddress!.assumingMemoryBound(to: UInt8.self), count: frame.count) }
        var record = inos_frame_record(connection: connection, offset: offset, length: UInt64(frame.count))
        let pushed = api.pointee.ring_push(
            api.pointee.ctx, UInt32(INOS_RING_INBOX), Int32(INOS_RECORD_FRAME), &record, UInt32(MemoryLayout<inos_frame_record>.size))
        guard PluginStatus(pushed) == .ok else {
            api.pointee.arena_free(api.pointee.ctx, offset)
            return .full
        }
        api.pointee.signal(api.pointee.ctx, UInt32(INOS_SIGNAL_INBOX))
        return .delivered
    }

    /// Announces a connection opening or closing on the inbox.
    package func connectionEvent(
        _ connection: UInt64, event: Int32, reason: Int32 = INOS_OK, inbound: Bool, peer: String
    ) -> Delivery {
        var record = inos_connection_record()
        record.connection = connection
        record.event = UInt32(event)
        record.reason = reason
        record.inbound = inbound ? 1 : 0
        withUnsafeMutableBytes(of: &record.peer) { buffer in
            let bytes = Array(peer.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let pushed = api.pointee.ring_push(
            api.pointee.ctx, UInt32(INOS_RING_INBOX), Int32(INOS_RECORD_CONNECTION), &record,
            UInt32(MemoryLayout<inos_connection_record>.size))
        guard PluginStatus(pushed) == .ok else { return .full }
        api.pointee.signal(api.pointee.ctx, UInt32(INOS_SIGNAL_INBOX))
        return .delivered
    }

    package func log(_ level: Int32, _ message: String) {
        api.pointee.log(api.pointee.ctx, level, message)
    }

    package var clockNanoseconds: UInt64 { api.pointee.clock_ns(api.pointee.ctx) }
}
