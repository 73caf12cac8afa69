// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives
import Wire

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

    /// member (u64) ‖ address length (u8) ‖ address ‖ has status (u8) ‖ status (``NodeStatus/encoded``, if present), repeated.
    public static func encodeList(_ list: [MemberInfo]) -> [UInt8] {
        var out: [UInt8] = []
        for info in list {
            withUnsafeBytes(of: info.member.littleEndian) { out += $0 }
            let address = Array(info.address.utf8.prefix(255))
            out += [UInt8(address.count)] + address
            if let status = info.status {
                out.append(1)
                status.encode(into: &out)
            } else {
                out.append(0)
            }
        }
        return out
    }

    public static func decodeList(_ bytes: ArraySlice<UInt8>) -> [MemberInfo]? {
        var reader = ByteReader(bytes), out: [MemberInfo] = []
        while !reader.atEnd {
            guard let member = reader.read(UInt64.self), let address = reader.prefixed(UInt8.self), let flag = reader.read(UInt8.self) else {
                return nil
            }
            var status: NodeStatus?
            switch flag {
            case 0: status = nil
            case 1:
                guard let decoded = NodeStatus.decode(from: &reader) else { return nil }
                status = decoded
            default: return nil
            }
            out.append(MemberInfo(member: member, address: String(decoding: address, as: UTF8.self), status: status))
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
