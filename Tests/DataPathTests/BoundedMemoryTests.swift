// SPDX-License-Identifier: Apache-2.0
import Content
import DataPath
import Foundation
import Host
import HostTestSupport
import Testing

@Suite("Bounded memory")
struct BoundedMemoryTests {
    @Test("a put's arena use does not grow with the file: the same peak for 12 MiB and 40 MiB, all freed after")
    func peakIndependentOfSize() throws {
        var peaks: [Int] = []
        for mib in [12, 40] {
            let node = try DataPathFixture()
            let report = try node.store.put(file: try node.file(mib << 20, seed: UInt64(mib)))
            let heap = node.host.arena.heap.statistics
            peaks.append(heap.peakBytesInUse)
            #expect(heap.bytesInUse == 0, "the working sets are released after the put")
            #expect(try node.store.verify(report.id).isHealthy)
            _ = try node.store.get(report.id, to: node.folder + "/out")
            #expect(node.host.arena.heap.statistics.bytesInUse == 0, "and after a get")
        }
        #expect(peaks[0] == peaks[1])
        // At most one working set (10+2 chunks of 1 MiB, plus one block for the compressed form) per core.
        #expect(peaks[1] <= ProcessInfo.processInfo.activeProcessorCount * (12 + 2) << 20)
    }
}
