// SPDX-License-Identifier: Apache-2.0
import Host
import PluginABI
import Primitives

/// The channel between a ``JobService`` and its isolated runner's process: two SPSC rings and two
/// doorbells in one block of the node's payload heap, which both processes map.
///
/// Layout (offsets from the start of the block, which is page-aligned so the runner's process can map it
/// writable while the rest of the arena stays read-only for it):
///
///     0       header: magic "IJCH", version, block length, lease offset and size (arena offsets),
///             ring capacity, state (starting → ready | failed), start-up failure message
///     512     doorbell to the runner — an `inos_switchboard`, whose event word is a futex
///     …       doorbell to the node
///     …       job ring, node → runner: JOB, RELEASE, STOP
///     …       result ring, runner → node: JOB_RESULT
///
/// **Ownership.** The node is the only producer of the job ring and the only consumer of the result ring,
/// one thread at a time (the holder of ``IsolatedRunner``'s gate); the runner's process is the only
/// consumer of the job ring and the only producer of the result ring (its one serving thread). The
/// arena's inbox and outbox are not used, so the in-process worker and a runner's process can never take
/// each other's records. The node creates the channel before it starts the process and frees the block
/// only after it has reaped the process.
struct JobChannel {
    static let magic: UInt32 = 0x4843_4A49  // "IJCH"
    static let version: UInt32 = 1
    /// Record bytes of each ring: records are small (a JOB is 24 bytes, a JOB_RESULT at most 233).
    static let ringCapacity = 16 << 10

    enum State: UInt32 {
        case starting = 0
        case ready = 1
        case failed = 2
    }

    // Header fields (byte offsets).
    private static let magicField = 0, versionField = 4, lengthField = 8, leaseOffsetField = 16
    private static let leaseSizeField = 24, ringCapacityField = 32, stateField = 40, messageLengthField = 44
    private static let messageField = 64, messageCapacity = 240, headerSize = 512

    private static var doorbellSize: Int { (MemoryLayout<inos_switchboard>.size + 127) & ~127 }
    private static var toRunnerOffset: Int { headerSize }
    private static var toNodeOffset: Int { toRunnerOffset + doorbellSize }
    private static var jobsOffset: Int { toNodeOffset + doorbellSize }
    private static var resultsOffset: Int { jobsOffset + Int(inos_ring_region_size(UInt64(ringCapacity))) }
    /// Bytes the channel needs, before rounding to whole pages.
    static var requiredLength: Int { resultsOffset + Int(inos_ring_region_size(UInt64(ringCapacity))) }

    /// The block's arena offset and length.
    let offset: Int
    let length: Int
    /// Where the runner's plugin allocates (arena offsets).
    let lease: Range<Int>
    /// Node → runner: JOB, RELEASE, STOP.
    let jobs: Ring
    /// Runner → node: JOB_RESULT.
    let results: Ring
    /// Rung by the node after it writes to ``jobs``; the runner sleeps on it.
    let toRunner: Switchboard
    /// Rung by the runner after it writes to ``results`` or changes state; the node sleeps on it.
    let toNode: Switchboard
    private let base: UnsafeMutableRawPointer

    private init(arenaBase: UnsafeMutableRawPointer, offset: Int, length: Int, lease: Range<Int>, jobs: Ring, results: Ring, toRunner: Switchboard, toNode: Switchboard) {
        self.base = arenaBase + offset
        self.offset = offset
        self.length = length
        self.lease = lease
        self.jobs = jobs
        self.results = results
        self.toRunner = toRunner
        self.toNode = toNode
    }

    /// Writes a new channel into the block at `offset` (node side).
    /// - Precondition: the block holds at least ``requiredLength`` bytes.
    static func create(in arena: Arena, offset: Int, length: Int, lease: Range<Int>) -> JobChannel {
        precondition(length >= requiredLength && offset >= 0 && offset + length <= arena.size)
        let block = arena.base + offset
        block.initializeMemory(as: UInt8.self, repeating: 0, count: headerSize)
        block.storeBytes(of: magic, toByteOffset: magicField, as: UInt32.self)
        block.storeBytes(of: version, toByteOffset: versionField, as: UInt32.self)
        block.storeBytes(of: UInt64(length), toByteOffset: lengthField, as: UInt64.self)
        block.storeBytes(of: UInt64(lease.lowerBound), toByteOffset: leaseOffsetField, as: UInt64.self)
        block.storeBytes(of: UInt64(lease.count), toByteOffset: leaseSizeField, as: UInt64.self)
        block.storeBytes(of: UInt64(ringCapacity), toByteOffset: ringCapacityField, as: UInt64.self)
        return JobChannel(
            arenaBase: arena.base, offset: offset, length: length, lease: lease,
            jobs: Ring(initializing: (block + jobsOffset).assumingMemoryBound(to: inos_ring.self), capacity: ringCapacity),
            results: Ring(initializing: (block + resultsOffset).assumingMemoryBound(to: inos_ring.self), capacity: ringCapacity),
            toRunner: Switchboard(initializingDoorbell: (block + toRunnerOffset).assumingMemoryBound(to: inos_switchboard.self)),
            toNode: Switchboard(initializingDoorbell: (block + toNodeOffset).assumingMemoryBound(to: inos_switchboard.self)))
    }

    /// Borrows the channel the node wrote at `offset` (runner side), checking it against what the runner
    /// was told on its command line.
    static func attach(in arena: Arena, offset: Int, length: Int, lease: Range<Int>) -> Result<JobChannel, InosError> {
        guard offset >= 0, length >= requiredLength, offset <= arena.size - length else {
            return .failure(InosError(.invalidArgument, "channel \(offset):\(length) does not fit the \(arena.size)-byte arena"))
        }
        let block = arena.base + offset
        guard block.load(fromByteOffset: magicField, as: UInt32.self) == magic else {
            return .failure(InosError(.invalidArgument, "no job channel at offset \(offset)"))
        }
        let version = block.load(fromByteOffset: versionField, as: UInt32.self)
        guard version == Self.version else {
            return .failure(InosError(.unsupported, "job channel version \(version); this worker speaks \(Self.version)"))
        }
        guard block.load(fromByteOffset: lengthField, as: UInt64.self) == UInt64(length),
            block.load(fromByteOffset: leaseOffsetField, as: UInt64.self) == UInt64(lease.lowerBound),
            block.load(fromByteOffset: leaseSizeField, as: UInt64.self) == UInt64(lease.count),
            block.load(fromByteOffset: ringCapacityField, as: UInt64.self) == UInt64(ringCapacity)
        else { return .failure(InosError(.invalidArgument, "the job channel's header differs from the command line")) }
        return .success(JobChannel(
            arenaBase: arena.base, offset: offset, length: length, lease: lease,
            jobs: Ring(borrowing: (block + jobsOffset).assumingMemoryBound(to: inos_ring.self)),
            results: Ring(borrowing: (block + resultsOffset).assumingMemoryBound(to: inos_ring.self)),
            toRunner: Switchboard(borrowing: (block + toRunnerOffset).assumingMemoryBound(to: inos_switchboard.self)),
            toNode: Switchboard(borrowing: (block + toNodeOffset).assumingMemoryBound(to: inos_switchboard.self))))
    }

    private var stateWord: UnsafeMutablePointer<UInt32> { (base + Self.stateField).assumingMemoryBound(to: UInt32.self) }

    /// The runner's start-up state (any process, any thread).
    var state: State { State(rawValue: inos_atomic_load_u32(stateWord)) ?? .failed }

    /// Runner side: the plugin is loaded and initialised; jobs may come.
    func markReady() {
        inos_atomic_store_u32(stateWord, State.ready.rawValue)
        toNode.signal(UInt32(INOS_SIGNAL_CONTROL))
    }

    /// Runner side: start-up failed, with why (read by the node before it reaps the process).
    func markFailed(_ message: String) {
        let bytes = Array(message.utf8.prefix(Self.messageCapacity))
        bytes.withUnsafeBytes { (base + Self.messageField).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        base.storeBytes(of: UInt32(bytes.count), toByteOffset: Self.messageLengthField, as: UInt32.self)
        inos_atomic_store_u32(stateWord, State.failed.rawValue)  // sequentially consistent: the message is visible first
        toNode.signal(UInt32(INOS_SIGNAL_CONTROL))
    }

    /// Node side: the message of a runner that marked its start-up failed.
    var failureMessage: String {
        let count = min(Int(base.load(fromByteOffset: Self.messageLengthField, as: UInt32.self)), Self.messageCapacity)
        return String(decoding: UnsafeRawBufferPointer(start: base + Self.messageField, count: count), as: UTF8.self)
    }
}
