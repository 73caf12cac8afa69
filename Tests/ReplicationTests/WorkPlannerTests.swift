// SPDX-License-Identifier: Apache-2.0
import Content
import Testing
import WorkAllocation

@Suite("Work allocation")
struct WorkPlannerTests {
    @Test("the seed's node tiers: 1 / 5 / 20 / 50 by 10 MB / 100 MB / 1 GB")
    func tiers() {
        #expect(WorkPlanner.requiredNodes(jobBytes: 5 << 20) == 1)
        #expect(WorkPlanner.requiredNodes(jobBytes: 50 << 20) == 5)
        #expect(WorkPlanner.requiredNodes(jobBytes: 500 << 20) == 20)
        #expect(WorkPlanner.requiredNodes(jobBytes: 5 << 30) == 50)
    }

    @Test("chunks run where they are, on the least-loaded holders, spread evenly; failed nodes are left out")
    func assignment() {
        let all = [Bool](repeating: true, count: 8)
        let workers = [
            WorkPlanner.Worker(member: 1, load: 0.9, holds: all),
            WorkPlanner.Worker(member: 2, load: 0.1, holds: all),
            WorkPlanner.Worker(member: 3, load: 0.2, holds: [true, true, true, true, false, false, false, false]),
            WorkPlanner.Worker(member: 4, load: 0.3, holds: [false, false, false, false, false, false, false, true]),
        ]
        let (parts, unplaced) = WorkPlanner.assign(chunks: Array(0..<8), workers: workers, required: 2)
        #expect(unplaced.isEmpty)
        #expect(parts[0] == nil, "the busiest node gets nothing while lighter holders can run it")
        #expect(Set(parts[1]!).union(parts[2]!) == Set(0..<8), "the two least-loaded run everything they hold")
        #expect(parts[2]!.allSatisfy { $0 < 4 }, "only chunks it holds (data-local)")
        #expect(parts[1]!.count == 4 && parts[2]!.count == 4, "the chunks only one holds go first, so the load evens out")
        // Node 2 failed: its chunks go to the remaining holders, even beyond the two asked for.
        let (retry, lost) = WorkPlanner.assign(chunks: [4, 5, 6, 7], workers: workers, required: 2, excluding: [2])
        #expect(lost.isEmpty && Set(retry.values.joined()) == [4, 5, 6, 7])
        #expect(retry[1] == nil, "not to the failed node")
        #expect(retry[0] == [4, 5, 6] && retry[3] == [7], "to whoever holds them, the least loaded first")
        // Nobody left holding chunk 7.
        let (_, nowhere) = WorkPlanner.assign(chunks: [7], workers: workers, required: 2, excluding: [1, 2, 4])
        #expect(nowhere == [7])
    }

    @Test("reduce: concat in order; sum element-wise; sum refuses results that are not numbers of one shape")
    func reduce() {
        #expect(WorkPlanner.reduce([Array("a\n".utf8), Array("b\n".utf8)], .concat) == Array("a\nb\n".utf8))
        #expect(WorkPlanner.reduce([Array("1 2 3\n".utf8), Array("10 20 30\n".utf8)], .sum) == Array("11 22 33\n".utf8))
        #expect(WorkPlanner.reduce([Array("1 2\n".utf8), Array("1 2 3\n".utf8)], .sum) == nil)
        #expect(WorkPlanner.reduce([Array("x\n".utf8)], .sum) == nil)
    }

    @Test("JOB_RUN and JOB_DONE round-trip; malformed payloads are refused")
    func wire() {
        let run = JobWire.Run(resource: ContentID(hashing: [1, 2]), function: "grep", parameters: "mesh", chunks: [0, 5, 9])
        #expect(JobWire.decodeRun(JobWire.encode(run)) == run)
        let done: [JobWire.Outcome] = [
            .init(chunk: 0, result: .success([1, 2, 3])), .init(chunk: 5, result: .failure(.init("boom"))),
            .init(chunk: 9, result: .failure(.init("not here", retryable: true))),
        ]
        #expect(JobWire.decodeDone(JobWire.encode(done)) == done)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = JobWire.encode(run)
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = JobWire.decodeRun(Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))))
            _ = JobWire.decodeDone(Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))))
        }
        #expect(JobWire.decodeDone(JobWire.encode(done) + [0]) == nil, "trailing bytes")
    }
}
