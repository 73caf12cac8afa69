// SPDX-License-Identifier: Apache-2.0

/// How far a transfer over the mesh has come, for progress reports: a put's pushes, a get's pieces, a job's
/// chunks. A field the operation cannot know is nil.
public struct TransferProgress: Sendable, Equatable {
    public var bytesDone: Int?
    public var bytesTotal: Int?
    /// Pieces (a put: piece copies pushed; a get: pieces fetched; a job: chunks computed) done so far.
    public var piecesDone: Int?
    public var piecesTotal: Int?
    /// The nodes taking part (a put's holders, a get's sources, a job's holders).
    public var holders: Int?

    public init(bytesDone: Int? = nil, bytesTotal: Int? = nil, piecesDone: Int? = nil, piecesTotal: Int? = nil, holders: Int? = nil) {
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.piecesDone = piecesDone
        self.piecesTotal = piecesTotal
        self.holders = holders
    }
}
