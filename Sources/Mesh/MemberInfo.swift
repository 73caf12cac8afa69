// SPDX-License-Identifier: Apache-2.0
import MeshCore

/// A member as MEMBERS describes it: its ID, where it listens, and the last status it published.
public struct MemberInfo: Sendable, Equatable {
    public var member: MemberID
    public var address: String
    public var status: NodeStatus?

    public init(member: MemberID, address: String, status: NodeStatus?) {
        self.member = member
        self.address = address
        self.status = status
    }

    /// member (u64) ‖ address length (u8) ‖ address ‖ has status (u8) ‖ status (28 bytes, if present), repeated.
    public static func encodeList(_ list: [MemberInfo]) -> [UInt8] {
        var out: [UInt8] = []
        for info in list {
            withUnsafeBytes(of: info.member.littleEndian) { out += $0 }
            let address = Array(info.address.utf8.prefix(255))
            out += [UInt8(address.count)] + address
            if let status = info.status { out += [1] + status.encoded } else { out.append(0) }
        }
        return out
    }

    public static func decodeList(_ bytes: ArraySlice<UInt8>) -> [MemberInfo]? {
        var rest = bytes, out: [MemberInfo] = []
        while !rest.isEmpty {
            guard rest.count >= 10 else { return nil }
            let start = rest.startIndex
            let member = rest[start..<(start + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let length = Int(rest[start + 8])
            guard rest.count >= 10 + length else { return nil }
            let address = String(decoding: rest[(start + 9)..<(start + 9 + length)], as: UTF8.self)
            var next = start + 9 + length
            var status: NodeStatus?
            if rest[next] == 1 {
                guard rest.count >= next - start + 1 + 28, let decoded = NodeStatus(decoding: Array(rest[(next + 1)..<(next + 29)])) else { return nil }
                status = decoded
                next += 29
            } else {
                guard rest[next] == 0 else { return nil }
                next += 1
            }
            out.append(MemberInfo(member: member, address: address, status: status))
            rest = rest[next...]
        }
        return out
    }
}

/// The local side of a Merkle tree kept in sync by anti-entropy: its shape, hashes, a leaf's items as bytes,
/// and how to take in items pulled from a peer (returning how many changed anything here).
public struct MerkleTreeAccess: Sendable {
    public var depth: Int
    public var root: @Sendable () -> UInt64
    public var children: @Sendable (_ level: Int, _ node: Int) -> [UInt64]
    public var leaf: @Sendable (_ node: Int) -> [UInt8]
    public var apply: @Sendable (_ items: [UInt8]) -> Int

    public init(depth: Int, root: @escaping @Sendable () -> UInt64, children: @escaping @Sendable (Int, Int) -> [UInt64],
                leaf: @escaping @Sendable (Int) -> [UInt8], apply: @escaping @Sendable ([UInt8]) -> Int) {
        self.depth = depth
        self.root = root
        self.children = children
        self.leaf = leaf
        self.apply = apply
    }
}
