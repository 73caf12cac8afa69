// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Demand per resource: an exponentially decayed request count, so a burst fades with a half-life instead of
/// being forgotten all at once. The score maps the seed's range onto 0…1 on a log scale — one request an hour
/// is 0, a thousand a second is 1 — and the allocator multiplies replicas by 1 + score.
public struct DemandTracker: Sendable {
    /// Seconds for a burst's weight to halve.
    public let halfLife: Double
    private var counts: [[UInt8]: (count: Double, at: Double)] = [:]

    public init(halfLife: Double = 600) {
        precondition(halfLife > 0)
        self.halfLife = halfLife
    }

    private var decay: Double { log(2) / halfLife }

    /// Records `count` requests for `key` at time `now` (seconds).
    public mutating func record(_ key: [UInt8], now: Double, count: Double = 1) {
        let previous = counts[key].map { $0.count * exp(-decay * max(0, now - $0.at)) } ?? 0
        counts[key] = (previous + count, now)
    }

    /// Requests per second: the decayed count × the decay rate (a steady rate r settles at count = r / decay).
    public func rate(_ key: [UInt8], now: Double) -> Double {
        guard let entry = counts[key] else { return 0 }
        return entry.count * exp(-decay * max(0, now - entry.at)) * decay
    }

    /// 0 at one request an hour or less, 1 at a thousand a second or more, log-linear between.
    public static func score(rate perSecond: Double) -> Double {
        let perHour = perSecond * 3600
        guard perHour > 1 else { return 0 }
        return min(1, log10(perHour) / log10(3_600_000))
    }

    public func score(_ key: [UInt8], now: Double) -> Double { Self.score(rate: rate(key, now: now)) }

    /// Forgets keys whose rate fell below one request a day.
    public mutating func prune(now: Double) {
        counts = counts.filter { rate($0.key, now: now) * 86_400 >= 1 }
    }

    public var keys: [[UInt8]] { Array(counts.keys) }
}
