// SPDX-License-Identifier: Apache-2.0

/// Where a resource's pieces sit in its Reed-Solomon stripes: the one place that does arithmetic on `k` and `m`.
///
/// Pieces are numbered as ``ResourceManifest`` lists them: the `chunkCount` data chunks first, then the parity
/// shards, `parityShards` per stripe, stripe by stripe. Stripe `s` holds chunks `s·k ..< min((s+1)·k, chunkCount)`
/// (the last stripe may be shorter; it is zero-padded for coding) and parity pieces
/// `chunkCount + s·m ..< chunkCount + (s+1)·m`. With no parity (`m = 0`) every stripe is `k` chunks and nothing
/// else; a resource without erasure coding is `k = 1, m = 0`, one chunk per stripe.
public struct StripeLayout: Hashable, Sendable {
    public let chunkCount: Int
    /// `k`: data chunks per stripe, at least 1.
    public let dataShards: Int
    /// `m`: parity shards per stripe.
    public let parityShards: Int

    public init(chunkCount: Int, dataShards: Int, parityShards: Int) {
        precondition(chunkCount >= 0 && dataShards >= 1 && parityShards >= 0, "stripe layout \(chunkCount) chunks, \(dataShards)+\(parityShards)")
        self.chunkCount = chunkCount
        self.dataShards = dataShards
        self.parityShards = parityShards
    }

    /// `k + m`: the shards one stripe is coded over (the working set of one stripe).
    public var width: Int { dataShards + parityShards }
    /// ⌈chunkCount / k⌉.
    public var stripeCount: Int { (chunkCount + dataShards - 1) / dataShards }
    /// Parity pieces of the whole resource: `m` per stripe.
    public var parityCount: Int { stripeCount * parityShards }
    /// Chunks then parity.
    public var pieceCount: Int { chunkCount + parityCount }

    /// The chunk (and piece) indices of `stripe`'s data: `k` of them, fewer in a short last stripe.
    public func chunks(inStripe stripe: Int) -> Range<Int> {
        min(stripe * dataShards, chunkCount)..<min((stripe + 1) * dataShards, chunkCount)
    }

    /// The piece index of `stripe`'s parity shard `shard` (0 ..< m).
    public func parityIndex(stripe: Int, _ shard: Int) -> Int { chunkCount + stripe * parityShards + shard }

    /// The piece indices of `stripe`'s parity shards.
    public func parity(inStripe stripe: Int) -> Range<Int> {
        parityIndex(stripe: stripe, 0)..<parityIndex(stripe: stripe, parityShards)
    }

    /// The piece indices of `stripe`: its chunks, then its parity shards.
    public func pieces(inStripe stripe: Int) -> [Int] { Array(chunks(inStripe: stripe)) + Array(parity(inStripe: stripe)) }

    /// Piece `index`'s stripe and its position there: 0 ..< k among the chunks, 0 ..< m among the parity shards.
    public func stripe(ofPiece index: Int) -> (stripe: Int, position: Int, isParity: Bool) {
        guard index >= chunkCount, parityShards > 0 else { return (index / dataShards, index % dataShards, false) }
        let shard = index - chunkCount
        return (shard / parityShards, shard % parityShards, true)
    }

    /// How many leading stripes have all their parity among the first `pieceCount` pieces: the stripes a list
    /// of that many pieces can place or rebuild as stripes (none when it holds no parity).
    public func stripes(coveredBy pieceCount: Int) -> Int {
        guard parityShards > 0 else { return 0 }
        return min(stripeCount, max(0, pieceCount - chunkCount) / parityShards)
    }
}
