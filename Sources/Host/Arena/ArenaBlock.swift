// SPDX-License-Identifier: Apache-2.0

/// One owned block of the arena's payload heap: `length` bytes at `offset`. Dropping it frees the block.
///
/// A received frame arrives as such a block (the transport allocated it and the inbox record names it); whoever
/// holds the `ArenaBlock` owns it, and there is exactly one holder because the type is `~Copyable`. Moving it
/// (`consume`) hands it on — to a lane, for instance — and the last owner's scope end frees it, once, with no
/// `free` call to forget or repeat. Code that only reads the bytes borrows the block; the bytes are reachable
/// only inside ``withBytes(_:)`` and ``withMutableBytes(_:)``, so no pointer outlives the block.
///
/// - Note: `Sendable`: the block has one owner at a time (it cannot be copied), the arena's mapping is shared
///   on purpose, and the heap's `free` is thread-safe, so the owner may be a different thread than the one that
///   received it.
public struct ArenaBlock: ~Copyable, Sendable {
    /// Absolute arena offset of the block (what records and manifest slots carry).
    public let offset: Int
    /// Bytes of the block in use (the heap's block may be larger).
    public let length: Int
    private let arena: Arena

    /// Takes ownership of the live heap block at `offset`, of which `length` bytes are in use: from here it is
    /// freed when this value is dropped, and nobody else may free it.
    /// - Precondition: `offset..<offset+length` lies inside the arena.
    public init(adopting offset: Int, length: Int, in arena: Arena) {
        precondition(offset >= 0 && length >= 0 && offset + length <= arena.size, "arena block out of bounds")
        self.offset = offset
        self.length = length
        self.arena = arena
    }

    /// Allocates a block of `length` bytes (uninitialised) from `arena`'s heap; nil when the heap has no
    /// block that large free (backpressure: the caller falls back or retries).
    public init?(allocating length: Int, in arena: Arena) {
        guard let offset = arena.heap.allocate(max(length, 1)) else { return nil }
        self.init(adopting: offset, length: length, in: arena)
    }

    deinit { arena.heap.free(offset) }

    /// Calls `body` with the block's bytes.
    /// - warning: the buffer is valid only inside `body`: never store it or a pointer derived from it.
    public borrowing func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: arena.base + offset, count: length))
    }

    /// Calls `body` with the block's bytes, writable (decrypting a frame in place).
    /// - warning: the buffer is valid only inside `body`: never store it or a pointer derived from it.
    public mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: arena.base + offset, count: length))
    }
}
