// SPDX-License-Identifier: Apache-2.0

/// What a chunk store plugin implements; `StoreTable` turns it into the `inos.store/1` ABI table. Methods
/// are called from any thread, concurrently.
package protocol ChunkStore: AnyObject {
    /// Durably stores `data` under `key`; storing a key that is already there does nothing.
    func put(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError)
    /// Writes a chunk that becomes durable and visible at the next `commit()`.
    func stage(_ key: ChunkKey, _ data: UnsafeRawBufferPointer) throws(StoreError)
    /// Makes every chunk staged before the call durable and visible.
    func commit() throws(StoreError)
    /// Reads a chunk into `destination` and returns its length, after checking its checksum. A chunk that
    /// fails the check is quarantined and reported as `INOS_ERR_CORRUPT`.
    func get(_ key: ChunkKey, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int
    func remove(_ key: ChunkKey) throws(StoreError)
    func statistics() -> StoreStatistics
    /// Calls `visit` with each stored key and the bytes it takes on disk until `visit` returns false.
    func forEach(_ visit: (ChunkKey, UInt64) -> Bool)
}

package struct StoreStatistics: Sendable, Equatable {
    package var capacity: UInt64
    package var used: UInt64
    package var count: UInt64
    package var quarantined: UInt64

    package init(capacity: UInt64, used: UInt64, count: UInt64, quarantined: UInt64) {
        self.capacity = capacity
        self.used = used
        self.count = count
        self.quarantined = quarantined
    }
}
