// SPDX-License-Identifier: Apache-2.0
import MeshCore

/// MEMBERSHIP bodies fed into a ``SwimNode`` (the node's own state machine, small bounds so the fuzzer reaches
/// them), between ticks, joins and addresses. Structure-aware: random bytes cannot sign an alive claim, so a
/// flag re-signs every alive update with its member's simulated credentials, as an honest member would have.
///
/// Records: op (u8) ‖ fields. op % 4 = 0: sender (u8) ‖ SWIM body; 1: advance time (u32 ms) and tick;
/// 2: join (seed count u8, seeds u8 each); 3: address (member u8 ‖ text). Bit 7 of a receive's op: re-sign.
/// After every step: the bounds hold, every outbound message survives the codec, time never runs backwards.
enum SwimTarget {
    static let configuration: SwimConfiguration = {
        var configuration = SwimConfiguration()
        configuration.maximumMembers = 24
        configuration.maximumEvents = 16
        configuration.maximumRelays = 8
        configuration.maximumIntroductionsPerMessage = 4
        configuration.maxPiggyback = 6
        return configuration
    }()

    static func run(_ raw: UnsafeRawBufferPointer) {
        var input = FuzzInput(raw)
        var now: UInt64 = 1_000_000_000
        let node = SwimNode(simulated: 1, configuration: configuration, seed: 7, now: now, address: "tcp://10.0.0.1:7000")
        node.assumeMembers([2, 3])
        var steps = 0
        while let record = input.record(), steps < 256 {
            steps += 1
            var step = FuzzInput(record)
            let op = step.byte()
            var out: [SwimNode.Outbound] = []
            switch op % 4 {
            case 0:
                let sender = MemberID(step.byte())
                guard var message = SwimCodec.decode(step.rest()) else { continue }
                if op & 0x80 != 0 { message = signed(message) }
                out = node.receive(message, from: sender, now: now)
            case 1:
                now += UInt64(step.integer(UInt32.self)) * 1_000_000
                out = node.tick(now: now)
            case 2:
                let count = Int(step.byte() % 8)
                out = node.join(seeds: (0..<count).map { _ in MemberID(step.byte()) }, now: now)
            default:
                node.setAddress(String(decoding: step.rest(), as: UTF8.self), of: MemberID(step.byte()))
            }
            check(node, out)
        }
    }

    /// `message` with every alive update signed by its own member (simulated credentials).
    static func signed(_ message: SwimMessage) -> SwimMessage {
        func sign(_ update: MemberUpdate) -> MemberUpdate {
            guard update.status == .alive else { return update }
            var update = update
            update.signature = MemberCredentials.simulated(member: update.member).sign(update.claimBytes)
            return update
        }
        var message = message
        message.updates = message.updates.map(sign)
        if case .members(let list) = message.kind { message.kind = .members(list.map(sign)) }
        return message
    }

    static func check(_ node: SwimNode, _ out: [SwimNode.Outbound]) {
        require(node.view.count <= configuration.maximumMembers + 1, "SwimNode holds \(node.view.count) members, above its bound")
        require(node.events.count <= configuration.maximumEvents, "SwimNode holds \(node.events.count) events, above its bound")
        require(node.addresses.count <= node.view.count + configuration.maximumMembers, "SwimNode holds addresses without bound")
        require(node.status(of: node.id) != nil, "SwimNode forgot itself")
        for outbound in out {
            require(outbound.to != node.id, "SwimNode sent a message to itself")
            let bytes = SwimCodec.encode(outbound.message)
            let again = SwimCodec.decode(bytes)
            require(again.map(withoutAddresses) == withoutAddresses(outbound.message) || outbound.message.updates.count > SwimCodec.maximumUpdates,
                    "SwimNode sent a message the codec does not carry: \(outbound.message)")
        }
    }

    /// A message with its addresses blanked: an address longer than 255 bytes is cut by the codec, and invalid
    /// UTF-8 comes back replaced, so addresses are compared by the tests of the codec, not here.
    static func withoutAddresses(_ message: SwimMessage) -> SwimMessage {
        var message = message
        func blank(_ update: MemberUpdate) -> MemberUpdate {
            var update = update
            update.address = ""
            return update
        }
        message.updates = message.updates.map(blank)
        if case .members(let list) = message.kind { message.kind = .members(list.map(blank)) }
        return message
    }
}
