// SPDX-License-Identifier: Apache-2.0

/// Sizes of the arena's regions. Defaults follow the seed design: 48 MiB in all, 512 KiB rings.
public struct ArenaConfiguration: Sendable, Hashable {
    /// Bytes of the whole mapping. Default 48 MiB.
    public var totalSize: Int
    /// Record bytes of the inbox ring (a power of two). Default 512 KiB.
    public var inboxCapacity: Int
    /// Record bytes of the outbox ring (a power of two). Default 512 KiB.
    public var outboxCapacity: Int
    /// Inbox fill (0...1) at which transports are told to pause reads. Default 0.75.
    public var highWatermark: Double
    /// Inbox fill (0...1) at which paused transports resume. Default 0.25.
    public var lowWatermark: Double

    public init(
        totalSize: Int = 48 << 20, inboxCapacity: Int = 512 << 10, outboxCapacity: Int = 512 << 10,
        highWatermark: Double = 0.75, lowWatermark: Double = 0.25
    ) {
        self.totalSize = totalSize
        self.inboxCapacity = inboxCapacity
        self.outboxCapacity = outboxCapacity
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    /// The largest arena and ring this host accepts (far beyond any machine's memory, far below overflow).
    public static let maximumTotalSize = 1 << 40
    public static let maximumRingCapacity = 1 << 30

    /// The watermarks as the switchboard stores them: rounded to thousandths.
    var watermarksPermille: (high: Int, low: Int) {
        guard highWatermark.isFinite, lowWatermark.isFinite else { return (-1, -1) }
        return (Int((min(max(highWatermark, -1), 2) * 1000).rounded()), Int((min(max(lowWatermark, -1), 2) * 1000).rounded()))
    }

    /// Checks the numbers and returns every problem found, in words a user can act on.
    public func problems() -> [String] {
        var problems: [String] = []
        for (name, capacity) in [("inbox", inboxCapacity), ("outbox", outboxCapacity)] {
            if capacity < 1024 || capacity & (capacity - 1) != 0 {
                problems.append("\(name) ring capacity \(capacity) must be a power of two of at least 1024 bytes")
            } else if capacity > Self.maximumRingCapacity {
                problems.append("\(name) ring capacity \(capacity) exceeds the maximum of \(Self.maximumRingCapacity) bytes")
            }
        }
        let (high, low) = watermarksPermille
        if !(0 < lowWatermark && lowWatermark < highWatermark && highWatermark <= 1) {
            problems.append("watermarks must satisfy 0 < low < high <= 1 (low \(lowWatermark), high \(highWatermark))")
        } else if !(low < high) {
            // The switchboard keeps them in per mille: marks that round together would be one mark.
            problems.append("watermarks low \(lowWatermark) and high \(highWatermark) must differ by at least 0.001")
        }
        if totalSize > Self.maximumTotalSize {
            problems.append("arena size \(totalSize) exceeds the maximum of \(Self.maximumTotalSize) bytes")
        } else if problems.isEmpty, ArenaLayout(self) == nil {
            problems.append("arena size \(totalSize) is too small for its rings")
        }
        return problems
    }
}

/// Where each region lives, computed once from a configuration (mirrors `inos_arena_header`).
struct ArenaLayout: Hashable {
    var switchboardOffset: Int
    var switchboardSize: Int
    var inboxOffset: Int
    var inboxSize: Int
    var outboxOffset: Int
    var outboxSize: Int
    var heapOffset: Int
    var heapSize: Int
    var totalSize: Int

    static let regionAlignment = 4096

    init?(_ configuration: ArenaConfiguration) {
        // Bounded first, so the arithmetic below cannot overflow whatever a caller passes.
        for size in [configuration.inboxCapacity, configuration.outboxCapacity] where !(0...ArenaConfiguration.maximumRingCapacity).contains(size) {
            return nil
        }
        guard (0...ArenaConfiguration.maximumTotalSize).contains(configuration.totalSize) else { return nil }
        func align(_ n: Int) -> Int { (n + Self.regionAlignment - 1) & ~(Self.regionAlignment - 1) }
        let headerSize = align(MemoryLayout<inos_arena_header>.size)
        switchboardOffset = headerSize
        switchboardSize = align(MemoryLayout<inos_switchboard>.size)
        inboxOffset = switchboardOffset + switchboardSize
        inboxSize = align(Int(inos_ring_region_size(UInt64(configuration.inboxCapacity))))
        outboxOffset = inboxOffset + inboxSize
        outboxSize = align(Int(inos_ring_region_size(UInt64(configuration.outboxCapacity))))
        heapOffset = outboxOffset + outboxSize
        totalSize = align(configuration.totalSize)
        guard totalSize > heapOffset else { return nil }
        heapSize = totalSize - heapOffset
    }
}

import PluginABI
