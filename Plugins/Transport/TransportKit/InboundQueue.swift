// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PluginABI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a transport has received but the host has not taken yet: frames and connection events, in
/// arrival order. A delivery thread offers them to the inbox; while the host pushes back (backpressure, a
/// full arena or ring) it waits and retries, and nothing is dropped or reordered. Its byte count tells
/// readers when to stop reading the network.
///
/// With ``Delivery/inline`` there is no thread: whatever appends offers the queue to the inbox at once, on
/// its own thread, so a harness that steps hosts on one thread sees every record in the receiver's inbox as
/// soon as the send returns (deterministic delivery). What the host does not take then waits, in order, for
/// the next append or ``flush()``.
package final class InboundQueue: Sendable {
    /// Who offers queued items to the inbox.
    package enum Delivery: String, Sendable {
        /// A delivery thread of the queue's own, retrying while the host pushes back.
        case thread
        /// The appending thread, at once; no thread (for in-process test harnesses).
        case inline
    }

    package enum Item: Sendable {
        case frame(connection: UInt64, bytes: [UInt8])
        case opened(connection: UInt64, inbound: Bool, peer: String)
        case closed(connection: UInt64, reason: Int32, inbound: Bool, peer: String)
        /// A connection whose send was refused takes frames again (ABI 1.3).
        case writable(connection: UInt64)
    }

    private struct State {
        var items: [Item] = []
        var head = 0
        var bytes = 0
        var stopping = false
        var thread: pthread_t?
        /// Actions waiting for the queued bytes to fall below a mark (a sender told it may write again).
        var drainWaiters: [(below: Int, action: @Sendable () -> Void)] = []
        /// Waiters whose mark was passed, to run once the lock is released.
        var due: [@Sendable () -> Void] = []
    }

    private let link: HostLink
    package let delivery: Delivery
    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    /// Bytes queued above which readers should pause (they check ``shouldPause``).
    package let pauseBytes: Int

    package init(link: HostLink, pauseBytes: Int = 8 << 20, delivery: Delivery = .thread) {
        self.link = link
        self.pauseBytes = pauseBytes
        self.delivery = delivery
    }

    /// Bytes of frames waiting for the host.
    package var queuedBytes: Int { state.withLock { $0.bytes } }

    /// True while network reads should wait: the host pushes back or too much is queued here.
    package var shouldPause: Bool { link.backpressure || queuedBytes >= pauseBytes }

    package func append(_ item: Item) {
        state.withLock { state in
            state.items.append(item)
            if case .frame(_, let bytes) = item { state.bytes += bytes.count }
            if delivery == .inline { deliverQueued(&state) }
        }
        runDue()
        if delivery == .thread { wakeup.signal() }
    }

    /// Runs `action` once the bytes queued here fall below `mark` (at once if they are below it now): how an
    /// in-process sender refused for a full queue learns it may send again (its WRITABLE record).
    package func whenBelow(_ mark: Int, _ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            guard state.bytes >= mark else { return true }
            state.drainWaiters.append((mark, action))
            return false
        }
        if now { action() }
    }

    /// Moves the waiters whose mark the queue is below now to `due` (called under the lock after deliveries).
    private func collectDrained(_ state: inout State) {
        guard !state.drainWaiters.isEmpty else { return }
        let bytes = state.bytes
        state.due += state.drainWaiters.filter { bytes < $0.below }.map(\.action)
        state.drainWaiters.removeAll { bytes < $0.below }
    }

    /// Runs the due waiters, outside the lock (they append to other queues).
    private func runDue() {
        let due = state.withLock { state -> [@Sendable () -> Void] in
            defer { state.due.removeAll() }
            return state.due
        }
        for action in due { action() }
    }

    /// Offers what is queued to the inbox now, in order, until the host pushes back (``Delivery/inline``; with
    /// a delivery thread it only wakes the thread). Returns whether items still wait.
    @discardableResult
    package func flush() -> Bool {
        guard delivery == .inline else {
            wakeup.signal()
            return queuedBytes > 0
        }
        let waiting = state.withLock { state in
            deliverQueued(&state)
            return state.head < state.items.count
        }
        runDue()
        return waiting
    }

    /// Offers queued items in order until one is not taken. Under the state lock, like the delivery thread's
    /// offers, so nothing overtakes a queued item.
    private func deliverQueued(_ state: inout State) {
        while !state.stopping, state.head < state.items.count, !link.backpressure, offer(state.items[state.head]) == .delivered {
            if case .frame(_, let bytes) = state.items[state.head] { state.bytes -= bytes.count }
            state.head += 1
        }
        if state.head == state.items.count {
            state.items.removeAll(keepingCapacity: true)
            state.head = 0
        }
        collectDrained(&state)
    }

    /// Delivers a received frame straight from the reader's buffer into the arena when nothing is waiting
    /// ahead of it and the host takes it; otherwise queues a copy behind what is waiting.
    package func appendFrame(connection: UInt64, _ bytes: UnsafeRawBufferPointer) {
        let delivered = state.withLock { state -> Bool in
            if delivery == .inline { deliverQueued(&state) }
            guard state.head == state.items.count, !link.backpressure, !(delivery == .inline && state.stopping) else { return false }
            return link.deliver(connection: connection, frame: bytes) == .delivered
        }
        if !delivered { append(.frame(connection: connection, bytes: Array(bytes))) } else { runDue() }
    }

    /// Starts the delivery thread (nothing with ``Delivery/inline``).
    package func start() {
        guard delivery == .thread else { return }
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let queue = Unmanaged<InboundQueue>.fromOpaque(raw!).takeRetainedValue()
            setThreadName("inos.inbound")
            queue.deliverLoop()
            return nil
        }, box.toOpaque())
        if created == 0 {
            state.withLock { $0.thread = thread }
        } else {
            box.release()
        }
    }

    /// Delivers what is queued (waiting out backpressure for at most `drainMilliseconds`), then stops the
    /// delivery thread and joins it.
    package func stop(drainMilliseconds: Int = 2_000) {
        if delivery == .inline {
            // No thread to wait for: one last offer, then what the host did not take is dropped.
            flush()
            state.withLock { $0.stopping = true }
            return
        }
        var waited = 0
        while state.withLock({ $0.head < $0.items.count }) && waited < drainMilliseconds {
            usleep(1_000)
            waited += 1
        }
        let thread = state.withLock { state -> pthread_t? in
            state.stopping = true
            return state.thread
        }
        wakeup.signal()
        if let thread { pthread_join(thread, nil) }
    }

    private func deliverLoop() {
        while true {
            let (next, stopping) = state.withLock { state -> (Item?, Bool) in
                (state.head < state.items.count ? state.items[state.head] : nil, state.stopping)
            }
            if stopping { return }
            guard let next else {
                // Nothing queued: sleep until ``append(_:)`` or ``stop(drainMilliseconds:)`` signals. An idle
                // transport costs no wake-ups.
                wakeup.wait()
                continue
            }
            // Offered under the lock, so a frame taken by the direct path cannot overtake a queued one.
            let delivered = state.withLock { state -> Bool in
                guard !link.backpressure, offer(next) == .delivered else { return false }
                if case .frame(_, let bytes) = state.items[state.head] { state.bytes -= bytes.count }
                state.head += 1
                if state.head > 1024 && state.head * 2 > state.items.count {
                    state.items.removeFirst(state.head)
                    state.head = 0
                }
                collectDrained(&state)
                return true
            }
            if delivered { runDue() }
            if !delivered { usleep(500) }  // the host is behind: retry the same item, nothing is dropped
        }
    }

    private func offer(_ item: Item) -> HostLink.Delivery {
        switch item {
        case .frame(let connection, let bytes):
            bytes.withUnsafeBytes { link.deliver(connection: connection, frame: $0) }
        case .opened(let connection, let inbound, let peer):
            link.connectionEvent(connection, event: INOS_CONNECTION_OPENED, inbound: inbound, peer: peer)
        case .closed(let connection, let reason, let inbound, let peer):
            link.connectionEvent(connection, event: INOS_CONNECTION_CLOSED, reason: reason, inbound: inbound, peer: peer)
        case .writable(let connection):
            link.connectionEvent(connection, event: INOS_CONNECTION_WRITABLE, inbound: false, peer: "")
        }
    }
}

