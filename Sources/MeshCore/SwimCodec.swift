// SPDX-License-Identifier: Apache-2.0

/// The binary form of a SWIM message inside a sealed MEMBERSHIP frame (little-endian):
///
///     kind (u8) ‖ kind fields ‖ lamport (u64) ‖ update count (u16) ‖ updates
///     kind fields: ping/ack/nack: sequence (u32); ping-request: sequence (u32), target (u64);
///                  join: none; members: none (the updates are the list)
///     update: member (u64) ‖ status (u8) ‖ incarnation (u32) ‖ lamport (u64) ‖ address length (u8) ‖ address
///
/// Decoding never traps; anything malformed is nil.
public enum SwimCodec {
    public static let maximumUpdates = 4096

    public static func encode(_ message: SwimMessage) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        switch message.kind {
        case .ping(let sequence): put(UInt8(1)); put(sequence)
        case .ack(let sequence): put(UInt8(2)); put(sequence)
        case .pingRequest(let sequence, let target): put(UInt8(3)); put(sequence); put(target)
        case .nack(let sequence): put(UInt8(4)); put(sequence)
        case .join: put(UInt8(5))
        case .members: put(UInt8(6))
        }
        let updates: [MemberUpdate]
        if case .members(let list) = message.kind { updates = list + message.updates } else { updates = message.updates }
        put(message.lamport)
        put(UInt16(min(updates.count, maximumUpdates)))
        for update in updates.prefix(maximumUpdates) {
            put(update.member)
            put(update.status.rawValue)
            put(update.incarnation)
            put(update.lamport)
            let address = Array(update.address.utf8.prefix(255))
            put(UInt8(address.count))
            out += address
        }
        return out
    }

    public static func decode(_ bytes: some Collection<UInt8>) -> SwimMessage? {
        var reader = Reader(bytes: Array(bytes))
        guard let tag: UInt8 = reader.read() else { return nil }
        let kind: SwimMessage.Kind
        switch tag {
        case 1: guard let s: UInt32 = reader.read() else { return nil }; kind = .ping(sequence: s)
        case 2: guard let s: UInt32 = reader.read() else { return nil }; kind = .ack(sequence: s)
        case 3:
            guard let s: UInt32 = reader.read(), let t: UInt64 = reader.read() else { return nil }
            kind = .pingRequest(sequence: s, target: t)
        case 4: guard let s: UInt32 = reader.read() else { return nil }; kind = .nack(sequence: s)
        case 5: kind = .join
        case 6: kind = .members([])
        default: return nil
        }
        guard let lamport: UInt64 = reader.read(), let count: UInt16 = reader.read(), Int(count) <= maximumUpdates else { return nil }
        var updates: [MemberUpdate] = []
        for _ in 0..<count {
            guard let member: UInt64 = reader.read(), let statusByte: UInt8 = reader.read(),
                let status = MemberStatus(rawValue: statusByte), let incarnation: UInt32 = reader.read(),
                let stamp: UInt64 = reader.read(), let length: UInt8 = reader.read(), let address = reader.bytes(Int(length))
            else { return nil }
            updates.append(MemberUpdate(member: member, status: status, incarnation: incarnation, lamport: stamp,
                                        address: String(decoding: address, as: UTF8.self)))
        }
        guard reader.atEnd else { return nil }
        if case .members = kind { return SwimMessage(.members(updates), lamport: lamport) }
        return SwimMessage(kind, lamport: lamport, updates: updates)
    }

    package struct Reader {
        let bytes: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == bytes.count }

        mutating func read<T: FixedWidthInteger>() -> T? {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else { return nil }
            var value: T = 0
            for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
            offset += size
            return value
        }

        mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
            guard offset + count <= bytes.count else { return nil }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }
    }
}
