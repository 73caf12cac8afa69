// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Synchronization

/// A DHT provider record: `member` (reachable at `address`) holds the resource or chunk named by a key.
public struct ProviderRecord: Sendable, Equatable {
    public var member: MemberID
    public var address: String
    /// Seconds the record stays valid; the provider republishes well before.
    public var ttl: UInt32

    public init(member: MemberID, address: String, ttl: UInt32) {
        self.member = member
        self.address = address
        self.ttl = ttl
    }

    /// key (32) ‖ member (u64) ‖ ttl (u32) ‖ address length (u8) ‖ address
    static func encode(key: [UInt8], _ record: ProviderRecord) -> [UInt8] {
        var out = key
        withUnsafeBytes(of: record.member.littleEndian) { out += $0 }
        withUnsafeBytes(of: record.ttl.littleEndian) { out += $0 }
        let address = Array(record.address.utf8.prefix(255))
        return out + [UInt8(address.count)] + address
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> (key: [UInt8], record: ProviderRecord, rest: ArraySlice<UInt8>)? {
        guard bytes.count >= 45 else { return nil }
        let start = bytes.startIndex
        let key = Array(bytes[start..<(start + 32)])
        let member = bytes[(start + 32)..<(start + 40)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let ttl = bytes[(start + 40)..<(start + 44)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = Int(bytes[start + 44])
        guard bytes.count >= 45 + length else { return nil }
        let address = String(decoding: bytes[(start + 45)..<(start + 45 + length)], as: UTF8.self)
        return (key, ProviderRecord(member: member, address: address, ttl: ttl), bytes[(start + 45 + length)...])
    }
}

/// The provider records this node keeps for the keys it is among the closest members to, with expiry (swept
/// by the node's epoch tick).
public final class ProviderStore: Sendable {
    private let records = Mutex<[[UInt8]: [MemberID: (record: ProviderRecord, expires: UInt64)]]>([:])
    /// Providers kept per key; more are refused (a hostile peer cannot grow the table without bound).
    public static let maximumPerKey = 64

    public init() {}

    public func add(_ key: [UInt8], _ record: ProviderRecord, now: UInt64) {
        records.withLock { records in
            var entries = records[key, default: [:]]
            guard entries[record.member] != nil || entries.count < Self.maximumPerKey else { return }
            entries[record.member] = (record, now + UInt64(record.ttl) * 1_000_000_000)
            records[key] = entries
        }
    }

    public func providers(of key: [UInt8], now: UInt64) -> [ProviderRecord] {
        records.withLock { records in
            (records[key] ?? [:]).values.filter { $0.expires > now }.map(\.record).sorted { $0.member < $1.member }
        }
    }

    /// Drops expired records; returns how many.
    @discardableResult
    public func expire(now: UInt64) -> Int {
        records.withLock { records in
            var dropped = 0
            for (key, entries) in records {
                let live = entries.filter { $0.value.expires > now }
                dropped += entries.count - live.count
                records[key] = live.isEmpty ? nil : live
            }
            return dropped
        }
    }

    public var count: Int { records.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}
