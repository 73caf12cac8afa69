// SPDX-License-Identifier: Apache-2.0
import PluginABI

/// A transport's record on the inbox ring (`INOS_RECORD_FRAME`, `INOS_RECORD_CONNECTION`), decoded.
public enum TransportRecord: Sendable, Equatable {
    /// A received frame in an arena block; whoever handles it frees the block (``Arena/heap``).
    case frame(connection: UInt64, offset: Int, length: Int)
    case opened(connection: UInt64, inbound: Bool, peer: String)
    case closed(connection: UInt64, reason: Int32, inbound: Bool, peer: String)
    /// A connection whose send was refused (INOS_ERR_FULL) takes frames again (ABI 1.3).
    case writable(connection: UInt64)

    /// Decodes a ring record; nil for other record types or a payload of the wrong size.
    public init?(type: Int32, payload: UnsafeRawBufferPointer) {
        switch type {
        case Int32(INOS_RECORD_FRAME):
            guard payload.count == MemoryLayout<inos_frame_record>.size else { return nil }
            let record = payload.loadUnaligned(as: inos_frame_record.self)
            guard let offset = Int(exactly: record.offset), let length = Int(exactly: record.length) else { return nil }
            self = .frame(connection: record.connection, offset: offset, length: length)
        case Int32(INOS_RECORD_CONNECTION):
            guard payload.count == MemoryLayout<inos_connection_record>.size else { return nil }
            let record = payload.loadUnaligned(as: inos_connection_record.self)
            let peer = withUnsafeBytes(of: record.peer) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            switch Int32(record.event) {
            case INOS_CONNECTION_OPENED: self = .opened(connection: record.connection, inbound: record.inbound != 0, peer: peer)
            case INOS_CONNECTION_CLOSED:
                self = .closed(connection: record.connection, reason: record.reason, inbound: record.inbound != 0, peer: peer)
            case INOS_CONNECTION_WRITABLE: self = .writable(connection: record.connection)
            default: return nil
            }
        default:
            return nil
        }
    }
}
