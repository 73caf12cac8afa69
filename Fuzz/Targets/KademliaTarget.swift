// SPDX-License-Identifier: Apache-2.0
import MeshCore
import Primitives

/// FIND_NODE answers fed into an iterative ``Lookup``, as the provider service drives it, and every contact
/// they name into a ``RoutingTable``.
///
/// Input: flags (u8: bit 0 — contacts are whole 32-byte keys, else NODES bodies of member ‖ address whose
/// members become keys as the service makes them) ‖ target (32) ‖ start contacts (a record) ‖ then one record
/// per contact asked: empty = it did not answer, else its answer. The lookup must end, never return more than
/// k contacts, return them closest first, only ones it asked and that answered.
enum KademliaTarget {
    static let k = 8, alpha = 3

    /// A NODES body as ``ProviderService`` reads it: member (u64) ‖ address length (u8) ‖ address, repeated.
    static func decodeNodes(_ payload: [UInt8]) -> [(MemberID, String)] {
        var out: [(MemberID, String)] = []
        var reader = ByteReader(payload)
        while let member = reader.read(MemberID.self), let address = reader.prefixed(UInt8.self) {
            out.append((member, String(decoding: address, as: UTF8.self)))
        }
        return out
    }

    static func contacts(_ bytes: [UInt8], wholeKeys: Bool) -> [Key256] {
        guard wholeKeys else { return decodeNodes(bytes).map { Key256($0.0, 0, 0, 0) } }
        return stride(from: 0, to: bytes.count - bytes.count % 32, by: 32).compactMap { Key256(bytes: Array(bytes[$0..<($0 + 32)])) }
    }

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        let wholeKeys = input.bool()
        let target = Key256(bytes: input.take(32) + Array(repeating: 0, count: 32)) ?? Key256(0, 0, 0, 0)
        let start = contacts(input.record() ?? [], wholeKeys: wholeKeys)
        var lookup = Lookup(target: target, start: start, k: k, alpha: alpha)
        var table = RoutingTable(owner: target, k: k)
        var known = Set(start), answered: Set<Key256> = [], asked: Set<Key256> = []
        var rounds = 0
        while true {
            let next = lookup.nextRound()
            if next.isEmpty { break }
            rounds += 1
            require(next.count <= alpha, "a round asked more than α contacts")
            require(rounds <= known.count, "the lookup asked more rounds than there are contacts: it does not end")
            for contact in next {
                require(!asked.contains(contact), "the lookup asked a contact twice")
                asked.insert(contact)
                let answer = input.record()
                if let answer, !answer.isEmpty {
                    let found = contacts(answer, wholeKeys: wholeKeys)
                    known.formUnion(found)
                    answered.insert(contact)
                    table.seen(contact)
                    for candidate in found { table.seen(candidate) }
                    lookup.answer(from: contact, found)
                } else {
                    table.failed(contact)
                    lookup.answer(from: contact, nil)
                }
            }
        }
        let result = lookup.result
        require(result.count <= k, "the lookup returned more than k contacts")
        require(result.allSatisfy { answered.contains($0) }, "the lookup returned a contact that did not answer")
        require(zip(result, result.dropFirst()).allSatisfy { $0.distance(to: target) < $1.distance(to: target) }, "the result is not closest first")
        require(lookup.hops <= lookup.rounds, "hops above rounds")
        require(table.count <= 256 * k, "the routing table is not bounded")
        let closest = table.closest(to: target)
        require(closest.count <= k && zip(closest, closest.dropFirst()).allSatisfy { $0.distance(to: target) <= $1.distance(to: target) }, "closest(to:) is not closest first")
    }
}
