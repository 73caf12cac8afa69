// SPDX-License-Identifier: Apache-2.0

/// One fuzz entry point: a function of any bytes that must not crash, leak or break an invariant. libFuzzer
/// calls it (Fuzz/Driver, `make fuzz`); the corpus replay suite (Tests/FuzzRegressionTests) calls it with every
/// committed corpus file and crash reproducer.
public struct FuzzTarget: Sendable {
    /// The name `INOS_FUZZ_TARGET`, `make fuzz TARGET=…` and the corpus folder (Fuzz/Corpus/<name>) use.
    public let name: String
    /// What the bytes are and where they go, for `make fuzz` and docs/testing.md.
    public let summary: String
    public let run: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(_ name: String, _ summary: String, _ run: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.name = name
        self.summary = summary
        self.run = run
    }

    /// Runs the target on `bytes`.
    public func callAsFunction(_ bytes: [UInt8]) { bytes.withUnsafeBytes { run($0) } }
}

public enum FuzzTargets {
    /// Every target, in the order `make fuzz` runs them.
    public static let all: [FuzzTarget] = [
        FuzzTarget("wire", "a transport frame: the 12-byte header, then the body codec of its type (every module's)", WireTarget.run),
        FuzzTarget("session", "handshake messages into a responder (and an initiator), and plaintext sealed behind a real session", SessionTarget.run),
        FuzzTarget("swim", "MEMBERSHIP bodies fed into a SwimNode, with ticks and joins between them", SwimTarget.run),
        FuzzTarget("gossip", "GOSSIP bodies fed into a GossipNode, and what it delivers into the topic decoders", GossipTarget.run),
        FuzzTarget("kademlia", "FIND_NODE answers fed into an iterative Lookup, and contacts into a RoutingTable", KademliaTarget.run),
        FuzzTarget("merkle", "MERKLE answers fed into a MerkleWalk against a replica, and peers' questions into the replica", MerkleTarget.run),
        FuzzTarget("manifest", "a resource manifest: decode, its index (pieces, stripes) and reassembly plan", ManifestTarget.run),
        FuzzTarget("ledger", "LEDGER entries and anti-entropy leaves: decode, sign-check, into a bounded Ledger", LedgerTarget.run),
        FuzzTarget("toml", "the TOML node manifest (Host's Manifest.parse) and the mesh key file", TOMLTarget.run),
        FuzzTarget("lz4", "the LZ4 plugin through the C ABI: decompress any bytes, compress and round-trip", PluginTargets.lz4),
        FuzzTarget("erasure", "the erasure plugin through the C ABI: encode, lose shards, reconstruct; hostile k, m, lengths", PluginTargets.erasure),
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// An invariant of a target: a violation crashes, which libFuzzer records as a crash with its input.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

/// Structured reading of fuzz bytes, like libFuzzer's FuzzedDataProvider: every read succeeds (zeros once the
/// bytes run out), so any input drives the harness somewhere.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var index = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ raw: UnsafeRawBufferPointer) { bytes = Array(raw) }

    public var isEmpty: Bool { index >= bytes.count }
    public var remaining: Int { max(0, bytes.count - index) }

    public mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    public mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T {
        var value: T = 0
        for shift in stride(from: 0, to: T.bitWidth, by: 8) { value |= T(byte()) << shift }
        return value
    }

    /// A value in `range`, from as many bytes as the range needs.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound)
        let raw: UInt64 = span <= 0xFF ? UInt64(byte()) : span <= 0xFFFF ? UInt64(integer(UInt16.self)) : integer(UInt64.self)
        return range.lowerBound + Int(span == .max ? raw : raw % (span + 1))
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    public mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, index + max(0, count))
        defer { index = end }
        return index < end ? Array(bytes[index..<end]) : []
    }

    /// The next record: a u16 little-endian length, then that many bytes (fewer if the input ends); nil once
    /// the input is used up. ``records(_:)`` writes this framing (the seed generator uses it).
    public mutating func record() -> [UInt8]? {
        guard !isEmpty else { return nil }
        let length = Int(integer(UInt16.self))
        return take(length)
    }

    public mutating func rest() -> [UInt8] { take(remaining) }

    /// The framing ``record()`` reads.
    public static func records(_ records: [[UInt8]]) -> [UInt8] {
        records.flatMap { record in [UInt8(truncatingIfNeeded: record.count), UInt8(truncatingIfNeeded: record.count >> 8)] + record.prefix(0xFFFF) }
    }
}
