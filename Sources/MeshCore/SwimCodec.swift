// SPDX-License-Identifier: Apache-2.0
import Primitives
import Wire

/// The binary form of a SWIM message inside a sealed MEMBERSHIP frame (little-endian):
///
///     kind (u8) ‖ kind fields ‖ lamport (u64) ‖ update count (u16) ‖ updates
///     kind fields: ping/ack/nack: sequence (u32); ping-request: sequence (u32), target (u64);
///                  join: none; members: none (the updates are the list)
///     update: member (u64) ‖ status (u8) ‖ incarnation (u32) ‖ lamport (u64) ‖ address length (u8) ‖ address
///             ‖ signed (u8: 0 or 1) [‖ key length (u8) ‖ key ‖ signature length (u8) ‖ signature]
///
/// The signature is the member's own over ``MemberUpdate/claimBytes``, on the alive claims it originates; the
/// codec carries it, ``SwimNode`` checks it.
///
/// Decoding never traps; anything malformed is nil — short input, an update count the bytes cannot hold, or a
/// Lamport time above ``WireLimits/maximumLamport`` (docs/wire.md, "Values from peers").
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
            MemberSignature.encode(update.signature, into: &out)
        }
        return out
    }

    /// The fewest bytes an update takes (an empty address): what a claimed update count is checked against.
    static let minimumUpdateSize = 8 + 1 + 4 + 8 + 1 + 1

    public static func decode(_ bytes: some Collection<UInt8>) -> SwimMessage? {
        var reader = ByteReader(Array(bytes))
        guard let tag = reader.read(UInt8.self) else { return nil }
        let kind: SwimMessage.Kind
        switch tag {
        case 1: guard let s = reader.read(UInt32.self) else { return nil }; kind = .ping(sequence: s)
        case 2: guard let s = reader.read(UInt32.self) else { return nil }; kind = .ack(sequence: s)
        case 3:
            guard let s = reader.read(UInt32.self), let t = reader.read(UInt64.self) else { return nil }
            kind = .pingRequest(sequence: s, target: t)
        case 4: guard let s = reader.read(UInt32.self) else { return nil }; kind = .nack(sequence: s)
        case 5: kind = .join
        case 6: kind = .members([])
        default: return nil
        }
        guard let lamport = reader.lamport(),
            let count = reader.count(UInt16.self, max: maximumUpdates, elementSize: minimumUpdateSize)
        else { return nil }
        var updates: [MemberUpdate] = []
        updates.reserveCapacity(count)
        for _ in 0..<count {
            // Every incarnation is accepted (UInt32.max included: SwimNode saturates its refutation there);
            // Lamport times above WireLimits.maximumLamport make the message malformed.
            guard let member = reader.read(UInt64.self), let statusByte = reader.read(UInt8.self),
                let status = MemberStatus(rawValue: statusByte), let incarnation = reader.read(UInt32.self),
                let stamp = reader.lamport(), let address = reader.prefixed(UInt8.self),
                let signature = MemberSignature.decode(from: &reader)
            else { return nil }
            updates.append(MemberUpdate(member: member, status: status, incarnation: incarnation, lamport: stamp,
                                        address: String(decoding: address, as: UTF8.self), signature: signature))
        }
        guard reader.atEnd else { return nil }
        if case .members = kind { return SwimMessage(.members(updates), lamport: lamport) }
        return SwimMessage(kind, lamport: lamport, updates: updates)
    }
}
