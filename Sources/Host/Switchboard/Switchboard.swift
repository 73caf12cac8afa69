// SPDX-License-Identifier: Apache-2.0
import InosSystem
import PluginABI
import Synchronization

/// The arena's switchboard: event bits plus a futex word that wakes the host, and the backpressure flag
/// transports obey.
///
/// A producer *mutates* (writes a record, publishes a slot), then *signals* (``signal(_:)``: one atomic OR,
/// one atomic increment and — only when someone sleeps — one futex wake). The host *reacts* after
/// ``wait(timeoutNanoseconds:)`` returns the bits. An idle node sleeps in the kernel: no spinning.
public struct Switchboard: @unchecked Sendable {  // a borrowed address into the arena; all access is atomic
    public let raw: UnsafeMutablePointer<inos_switchboard>

    /// The watermarks in per mille, as validated by ``ArenaConfiguration/problems()``.
    init(_ raw: UnsafeMutablePointer<inos_switchboard>, highPermille: Int, lowPermille: Int) {
        self.raw = raw
        raw.pointee = inos_switchboard()
        raw.pointee.high_watermark_permille = UInt32(highPermille)
        raw.pointee.low_watermark_permille = UInt32(lowPermille)
    }

    /// Borrows a switchboard that is already initialised (another process' — the node's, in an isolated
    /// job runner — or a doorbell). Nothing is written.
    package init(borrowing raw: UnsafeMutablePointer<inos_switchboard>) {
        self.raw = raw
    }

    /// Initialises a switchboard used only for its event word: a doorbell between two processes (an
    /// isolated job runner's channel). Its backpressure line stays unused.
    package init(initializingDoorbell raw: UnsafeMutablePointer<inos_switchboard>) {
        self.init(raw, highPermille: 750, lowPermille: 250)
    }

    private var eventSeq: UnsafeMutablePointer<UInt32> { pointer(\.event_seq) }
    private var waiters: UnsafeMutablePointer<UInt32> { pointer(\.waiters) }
    private var pending: UnsafeMutablePointer<UInt32> { pointer(\.pending) }
    private var backpressureWord: UnsafeMutablePointer<UInt32> { pointer(\.backpressure) }
    private var highPermille: UnsafeMutablePointer<UInt32> { pointer(\.high_watermark_permille) }
    private var lowPermille: UnsafeMutablePointer<UInt32> { pointer(\.low_watermark_permille) }
    private var pauseCount: UnsafeMutablePointer<UInt64> { pointer(\.pause_count) }
    private var resumeCount: UnsafeMutablePointer<UInt64> { pointer(\.resume_count) }

    /// One field, by address. Never `raw.pointee.field` after init: that is an access to the whole struct,
    /// while signallers on other threads change its event words atomically — a data race in Swift's model
    /// (ThreadSanitizer reported `raw.pointee.pause_count += 1` against `signal`'s fetch-add on `event_seq`).
    private func pointer<Field>(_ field: KeyPath<inos_switchboard, Field>) -> UnsafeMutablePointer<Field> {
        let offset = MemoryLayout<inos_switchboard>.offset(of: field)!
        return (UnsafeMutableRawPointer(raw) + offset).assumingMemoryBound(to: Field.self)
    }

    /// Raises event bits and wakes a sleeping host. Any thread, any process mapping the arena.
    public func signal(_ bits: UInt32) {
        _ = AtomicWord.fetchOr(pending, bits)
        _ = AtomicWord.fetchAdd(eventSeq, 1)
        if AtomicWord.load(waiters) != 0 { sysFutexWake(eventSeq) }
    }

    /// Takes the pending event bits, sleeping until some arrive or the time-out passes (`nil`: forever).
    /// Returns the bits taken (0 on time-out). One thread at a time — the host's event loop.
    public func wait(timeoutNanoseconds: Int64? = nil) -> UInt32 {
        while true {
            let seq = AtomicWord.load(eventSeq)
            let bits = AtomicWord.exchange(pending, 0)
            if bits != 0 { return bits }
            _ = AtomicWord.fetchAdd(waiters, 1)
            let woke = sysFutexWait(eventSeq, expected: seq, timeoutNanoseconds: timeoutNanoseconds)
            _ = AtomicWord.fetchAdd(waiters, UInt32.max)  // -1
            if !woke { return AtomicWord.exchange(pending, 0) }
        }
    }

    /// Event bits raised and not yet taken (a snapshot).
    public var pendingBits: UInt32 { AtomicWord.load(pending) }

    // MARK: Backpressure

    /// `true` while transports should pause network reads.
    public var isBackpressured: Bool { AtomicWord.load(backpressureWord) != 0 }

    /// Inbox fill (per mille) at which reads pause, and at which they resume.
    public var watermarksPermille: (high: UInt32, low: UInt32) {
        (highPermille.pointee, lowPermille.pointee)
    }

    /// Applies the watermark hysteresis to the inbox's current fill and publishes the result.
    /// Host thread only (the single writer of the backpressure line). Returns the transition, if any.
    @discardableResult
    public func updateBackpressure(fill: Double) -> Watermarks.Transition? {
        var watermarks = Watermarks(
            highPermille: highPermille.pointee, lowPermille: lowPermille.pointee,
            paused: isBackpressured)
        let transition = watermarks.update(fillPermille: UInt32((fill * 1000).rounded(.down)))
        switch transition {
        case .pause:
            pauseCount.pointee += 1
            AtomicWord.store(backpressureWord, 1)
        case .resume:
            resumeCount.pointee += 1
            AtomicWord.store(backpressureWord, 0)
        case nil: break
        }
        return transition
    }

    /// How often reads were paused and resumed since start.
    public var backpressureCounts: (pauses: UInt64, resumes: UInt64) {
        (pauseCount.pointee, resumeCount.pointee)
    }
}

/// The hysteresis between the high and low watermark, as a value type that returns actions.
public struct Watermarks: Hashable, Sendable {
    public enum Transition: Hashable, Sendable {
        case pause
        case resume
    }

    public var highPermille: UInt32
    public var lowPermille: UInt32
    public private(set) var paused: Bool

    public init(highPermille: UInt32, lowPermille: UInt32, paused: Bool = false) {
        precondition(lowPermille < highPermille)
        self.highPermille = highPermille
        self.lowPermille = lowPermille
        self.paused = paused
    }

    /// Pause at or above the high mark; resume only at or below the low mark; otherwise keep the state.
    public mutating func update(fillPermille: UInt32) -> Transition? {
        if !paused && fillPermille >= highPermille {
            paused = true
            return .pause
        }
        if paused && fillPermille <= lowPermille {
            paused = false
            return .resume
        }
        return nil
    }
}

/// Sequentially consistent atomics on 32-bit words inside the shared arena. Swift's `Atomic` needs storage
/// Swift owns, so these call the `__atomic` helpers of inos_arena.h, which any process mapping the arena shares.
enum AtomicWord {
    @inline(__always) static func load(_ p: UnsafeMutablePointer<UInt32>) -> UInt32 { inos_atomic_load_u32(p) }
    @inline(__always) static func store(_ p: UnsafeMutablePointer<UInt32>, _ v: UInt32) { inos_atomic_store_u32(p, v) }
    @inline(__always) static func exchange(_ p: UnsafeMutablePointer<UInt32>, _ v: UInt32) -> UInt32 {
        inos_atomic_exchange_u32(p, v)
    }
    @inline(__always) static func fetchAdd(_ p: UnsafeMutablePointer<UInt32>, _ v: UInt32) -> UInt32 {
        inos_atomic_fetch_add_u32(p, v)
    }
    @inline(__always) static func fetchOr(_ p: UnsafeMutablePointer<UInt32>, _ v: UInt32) -> UInt32 {
        inos_atomic_fetch_or_u32(p, v)
    }
}
