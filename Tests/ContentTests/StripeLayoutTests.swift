// SPDX-License-Identifier: Apache-2.0
import Content
import Testing

/// ``StripeLayout`` against the stripe arithmetic the five files did by hand before it existed (ContentStore's put
/// and walk, PlacementMap, Repair, MeshRead, the manifest's decode check), written out here as they were.
@Suite("Stripe layout")
struct StripeLayoutTests {
    static let shapes: [(chunks: Int, k: Int, m: Int)] = {
        var shapes: [(Int, Int, Int)] = []
        for chunks in [0, 1, 2, 3, 9, 10, 11, 19, 20, 21, 25, 100, 101] {
            for (k, m) in [(1, 0), (1, 1), (2, 1), (3, 2), (4, 0), (10, 2), (10, 4), (16, 4), (200, 55)] { shapes.append((chunks, k, m)) }
        }
        return shapes
    }()

    @Test("stripe count and parity count are the put's and the decode check's")
    func counts() {
        for (chunks, k, m) in Self.shapes {
            let layout = StripeLayout(chunkCount: chunks, dataShards: k, parityShards: m)
            #expect(layout.stripeCount == (chunks + k - 1) / k)  // ContentStore.put
            let decodeStripes = UInt64(chunks) / UInt64(k) + (UInt64(chunks) % UInt64(k) == 0 ? 0 : 1)  // manifest decode
            #expect(UInt64(layout.parityCount) == decodeStripes * UInt64(m))
            #expect(layout.pieceCount == chunks + layout.parityCount)
            #expect(layout.width == k + m)
            // The old `Erasure.stripeCount`: parity pieces over m.
            if m > 0 { #expect(layout.stripeCount == layout.parityCount / m) }
        }
    }

    @Test("a stripe's chunks are the walk's stride and the put's start and count")
    func chunksOfStripes() {
        for (chunks, k, m) in Self.shapes {
            let layout = StripeLayout(chunkCount: chunks, dataShards: k, parityShards: m)
            let walk = Array(stride(from: 0, to: chunks, by: k).enumerated())  // ContentStore.walk
            #expect(walk.count == layout.stripeCount)
            for (stripe, start) in walk {
                let count = min(k, chunks - start)
                #expect(layout.chunks(inStripe: stripe) == start..<(start + count))
                for p in 0..<m { #expect(layout.parityIndex(stripe: stripe, p) == chunks + stripe * m + p) }
            }
            #expect(layout.chunks(inStripe: layout.stripeCount).isEmpty)
        }
    }

    @Test("a piece's stripe and members are Repair's, clamped to the pieces there are")
    func repairMembers() {
        for (chunks, k, m) in Self.shapes where m > 0 {
            let layout = StripeLayout(chunkCount: chunks, dataShards: k, parityShards: m)
            let pieceCount = layout.pieceCount
            for index in 0..<pieceCount {
                let stripe = index < chunks ? index / k : (index - chunks) / m  // Repair.localCopy
                let members = Array((stripe * k)..<min((stripe + 1) * k, chunks)) + Array((chunks + stripe * m)..<min(chunks + (stripe + 1) * m, pieceCount))
                let found = layout.stripe(ofPiece: index)
                #expect(found.stripe == stripe)
                #expect(found.isParity == (index >= chunks))
                #expect(found.position == (index < chunks ? index % k : (index - chunks) % m))
                #expect(layout.pieces(inStripe: stripe) == members)
                #expect(layout.pieces(inStripe: stripe).contains(index))
            }
        }
    }

    @Test("the parity of lost chunks' stripes is MeshRead's")
    func meshReadParity() {
        for (chunks, k, m) in Self.shapes where m > 0 && chunks > 0 {
            let layout = StripeLayout(chunkCount: chunks, dataShards: k, parityShards: m)
            let unreachable = Array(Set([0, chunks / 2, chunks - 1]))
            let stripes = Set(unreachable.map { $0 / k })
            let old = Set(stripes.flatMap { s in (0..<m).map { chunks + s * m + $0 } }.filter { $0 < layout.pieceCount })
            let new = Set(Set(unreachable.map { layout.stripe(ofPiece: $0).stripe }).flatMap { layout.parity(inStripe: $0) })
            #expect(new == old)
        }
    }

    @Test("the stripes a piece list covers are PlacementMap's, and never run past the pieces")
    func placementStripes() {
        for (chunks, k, m) in Self.shapes {
            let layout = StripeLayout(chunkCount: chunks, dataShards: k, parityShards: m)
            // With all parity present (a put's or repair's piece list) and without any (stored without erasure).
            for pieceCount in [layout.pieceCount, chunks] {
                let old = m == 0 ? 0 : (pieceCount - chunks) / m  // PlacementMap.build
                let covered = layout.stripes(coveredBy: pieceCount)
                #expect(covered == old)
                for stripe in 0..<covered {
                    let members = Array((stripe * k)..<min((stripe + 1) * k, chunks)) + Array((chunks + stripe * m)..<(chunks + (stripe + 1) * m))
                    #expect(layout.pieces(inStripe: stripe) == members)
                    #expect(members.allSatisfy { $0 < pieceCount })
                }
                // Chunks placed one by one: those outside any covered stripe.
                #expect((0..<chunks).filter { $0 / k >= old } == (0..<chunks).filter { layout.stripe(ofPiece: $0).stripe >= covered })
            }
            // Part of the parity only: the stripes whose parity is all there, no more.
            if m > 0, layout.stripeCount > 1 {
                let partial = chunks + m + m / 2
                #expect(layout.stripes(coveredBy: partial) == 1)
                #expect(layout.stripes(coveredBy: layout.pieceCount + 5 * m) == layout.stripeCount)
            }
        }
    }

    @Test("a manifest's layout is its erasure's, or one chunk per stripe without")
    func manifestLayout() {
        let coded = ResourceManifestTests.sample()
        #expect(coded.layout == StripeLayout(chunkCount: 25, dataShards: 10, parityShards: 2))
        #expect(coded.layout.parityCount == coded.erasure?.parity.count)
        #expect(coded.stripe(of: 13)! == (1, 3))
        let plain = ResourceManifestTests.sample(erasure: false)
        #expect(plain.layout == StripeLayout(chunkCount: 25, dataShards: 1, parityShards: 0))
        #expect(plain.layout.stripeCount == 25)
        #expect(plain.stripe(of: 13) == nil)
    }
}
