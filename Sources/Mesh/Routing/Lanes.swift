// SPDX-License-Identifier: Apache-2.0

/// Where requests are served off the reactor, one pool per ``Lane`` so that no lane starves another.
public struct Lanes: Sendable {
    public let control: WorkerPool
    public let bulk: WorkerPool
    public let compute: WorkerPool
    public let background: WorkerPool
    /// Bytes of received arena blocks each lane's queued and running handlers hold (frames read in place).
    let blockBudgets: [Lane: BlockBudget] = [.control: BlockBudget(), .bulk: BlockBudget(), .compute: BlockBudget(), .background: BlockBudget()]

    init() {
        control = WorkerPool(name: "control", threads: 4, queueLimit: 1024)
        bulk = WorkerPool(name: "bulk", threads: 8, queueLimit: 512)
        compute = WorkerPool(name: "compute", threads: 4, queueLimit: 64)
        background = WorkerPool(name: "background", threads: 1, queueLimit: 64)
    }

    /// The pool of `lane`; nil for the reactor, which runs handlers inline.
    func pool(_ lane: Lane) -> WorkerPool? {
        switch lane {
        case .reactor: nil
        case .control: control
        case .bulk: bulk
        case .compute: compute
        case .background: background
        }
    }

    func stop() { for pool in [control, bulk, compute, background] { pool.stop() } }
}
