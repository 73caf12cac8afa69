// SPDX-License-Identifier: Apache-2.0
import Content

/// A resource manifest as it arrives from a peer or a store: decode, then everything a node derives from it
/// — the piece index (chunks then parity, each piece's stripe and position) and the reassembly plan (each
/// chunk's offset in the resource, each stripe's pieces) — which must be consistent for any manifest that
/// decodes, and its canonical encoding must decode to the same manifest with the same ID.
enum ManifestTarget {
    static func run(_ raw: UnsafeRawBufferPointer) {
        let bytes = Array(raw)
        guard let manifest = try? ResourceManifest(decoding: bytes) else { return }
        let encoded = manifest.encoded()
        guard let again = try? ResourceManifest(decoding: encoded, expected: manifest.id) else {
            return require(false, "a decoded manifest's encoding does not decode under its ID")
        }
        require(again == manifest, "a manifest does not round-trip")

        // Reassembly: the chunks tile the resource exactly, in order.
        var offset: UInt64 = 0
        for (index, chunk) in manifest.chunks.enumerated() {
            require(chunk.length > 0 && chunk.length <= manifest.chunkSize, "chunk \(index) has length \(chunk.length) outside 1…\(manifest.chunkSize)")
            let (end, overflow) = offset.addingReportingOverflow(chunk.length)
            require(!overflow, "chunk offsets overflow")
            offset = end
        }
        require(offset == manifest.size, "the chunks cover \(offset) bytes of a \(manifest.size)-byte resource")

        // The piece index: every piece in exactly one stripe, at the position stripe(ofPiece:) says.
        let layout = manifest.layout
        require(layout.pieceCount == manifest.chunks.count + (manifest.erasure?.parity.count ?? 0), "the layout's piece count is not the manifest's")
        var seen = [Bool](repeating: false, count: layout.pieceCount)
        for stripe in 0..<layout.stripeCount {
            let chunks = layout.chunks(inStripe: stripe), parity = layout.parity(inStripe: stripe)
            require(!chunks.isEmpty && chunks.count <= layout.dataShards, "stripe \(stripe) has \(chunks.count) chunks")
            for (position, piece) in layout.pieces(inStripe: stripe).enumerated() {
                require((0..<layout.pieceCount).contains(piece) && !seen[piece], "piece \(piece) is outside the layout or in two stripes")
                seen[piece] = true
                let located = layout.stripe(ofPiece: piece)
                let expected = position < chunks.count ? position : position - chunks.count
                require(located.stripe == stripe && located.position == expected && located.isParity == (position >= chunks.count),
                        "stripe(ofPiece: \(piece)) is \(located), the stripe lists it at \(stripe), \(position)")
                let chunk = manifest.piece(piece)
                if located.isParity { require(chunk.length <= manifest.chunkSize, "parity piece \(piece) is longer than a chunk") }
                require(parity.contains(piece) == located.isParity, "parity(inStripe:) disagrees with stripe(ofPiece:)")
            }
        }
        require(seen.allSatisfy { $0 }, "some pieces are in no stripe")
        for index in manifest.chunks.indices {
            if let (stripe, position) = manifest.stripe(of: index) {
                require(layout.chunks(inStripe: stripe).contains(index) && position < layout.dataShards, "stripe(of: \(index)) is wrong")
            } else {
                require(manifest.erasure == nil, "stripe(of:) is nil with erasure coding")
            }
        }
        for count in [0, manifest.chunks.count, layout.pieceCount, layout.pieceCount + 1] {
            require(layout.stripes(coveredBy: count) <= layout.stripeCount, "stripes(coveredBy:) above the stripe count")
        }
    }
}
