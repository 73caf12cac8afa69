// SPDX-License-Identifier: Apache-2.0
import Foundation
import InosStoreKit
import InosSystem
@testable import InosPackStore

/// A fresh folder per test under the system's temporary folder, removed when the value goes away.
final class ScratchFolder {
    let path: String

    init(_ label: String) {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("inos-store-\(label)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func packs(_ store: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: store + "/packs")) ?? []).filter { $0.hasSuffix(".pack") }.sorted()
    }

    func size(_ file: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? -1 }
}

func chunkBytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7) ^ seed } }

func key(_ n: Int) -> ChunkKey { ChunkKey([UInt8(n & 0xff), UInt8(n >> 8), 0xC1])! }

extension PackStore {
    func put(_ key: ChunkKey, _ bytes: [UInt8]) throws(StoreError) {
        var outcome: Result<Void, StoreError> = .success(())
        bytes.withUnsafeBytes { raw in
            do throws(StoreError) { try put(key, raw) } catch { outcome = .failure(error) }
        }
        try outcome.get()
    }

    func stage(_ key: ChunkKey, _ bytes: [UInt8]) throws(StoreError) {
        var outcome: Result<Void, StoreError> = .success(())
        bytes.withUnsafeBytes { raw in
            do throws(StoreError) { try stage(key, raw) } catch { outcome = .failure(error) }
        }
        try outcome.get()
    }

    /// The chunk's bytes, or the store's error.
    func read(_ key: ChunkKey, capacity: Int = 1 << 20) -> Result<[UInt8], StoreError> {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var outcome: Result<Int, StoreError> = .success(0)
        buffer.withUnsafeMutableBytes { raw in
            do throws(StoreError) { outcome = .success(try get(key, into: raw)) } catch { outcome = .failure(error) }
        }
        return outcome.map { Array(buffer[0..<$0]) }
    }

    var keys: Set<ChunkKey> {
        var keys: Set<ChunkKey> = []
        forEach { key, _ in
            keys.insert(key)
            return true
        }
        return keys
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
