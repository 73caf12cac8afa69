// SPDX-License-Identifier: Apache-2.0
import Host
import Identity
import Synchronization
import Wire

extension PeerLayer {
    /// Requests one connection may have queued or running in the lanes; past it, more are answered "busy".
    public static let servingLimit = 64

    /// The link's own types: PING is echoed, PONG answers it (a keepalive's PONG is taken before dispatch),
    /// ERROR answers a failed request, CLOSE closes.
    func linkFrames() -> [FrameRegistration] {
        [
            FrameRegistration(.ping, "PING", owner: "link", kind: .request) { [self] frame throws(MeshError) in
                try reply(to: frame, .pong, Array(frame.payload.prefix(64)))
            },
            .response(.pong, "PONG", owner: "link"),
            .response(.error, "ERROR", owner: "link"),
            FrameRegistration(.close, "CLOSE", owner: "link", kind: .oneWay) { [self] frame in transport.close(frame.connection) },
        ]
    }

    /// The share of the arena's payload heap that one lane's queued and running handlers may hold as received
    /// blocks (frames read in place): past it a frame is copied out and its block freed at once, so queued work
    /// cannot drain the arena the transport receives into.
    public static let inPlaceBudgetFraction = 4

    /// Hands an opened message to the service that registered its type (reactor thread). Throws for what
    /// closes the connection: framing inside a sealed frame, or a handler's refusal of malformed input.
    ///
    /// `block` holds the decrypted frame; `payload` is the message payload's range in it. Answers are read in
    /// place; a handler that reads in place gets the block itself (moved to its lane within the lane's budget);
    /// any other handler gets a copy and the block is freed when this returns.
    func dispatch(_ header: WireHeader, block: consuming ArenaBlock, payload: Range<Int>, on connection: UInt64) throws(MeshError) {
        if header.type.isFraming { throw MeshError(.malformed, "\(header.type) inside a sealed frame") }
        guard let registration = registry.lookup(header.type) else {
            registry.countUnknown()
            // A newer peer may probe for a type: a request is told the type is unknown here, the session stays.
            // (Answers are only ever of registered response types — each module declares the answers its
            // requests expect — so this never answers an answer.)
            if header.requestID != 0 {
                replyError(header.requestID, on: connection, ErrorPayload(.unknownType, "this node does not know frame type \(header.type)"))
            }
            logger.debug("frame of unknown type \(header.type) on connection \(connection): \(header.requestID != 0 ? "answered ERROR" : "dropped")")
            return
        }
        guard let handler = registration.handler else {
            router.answer(header, block: block, payload: payload, on: connection)  // a late or foreign answer is dropped
            return
        }
        guard let peer = node(on: connection) else { return }
        let pool = lanes.pool(registration.lane)
        let storage: InboundFrame.Storage
        if registration.readsInPlace, let reservation = reserve(block, for: registration.lane) {
            storage = .block(ReceivedBlock(block, payload: payload, reservation: reservation))
        } else {
            storage = .bytes(block.withBytes { ReceiveCopies.copy(UnsafeRawBufferPointer(rebasing: $0[payload])) })
        }
        let frame = InboundFrame(type: header.type, requestID: header.requestID, storage: storage, connection: connection, peer: peer)
        guard let pool else { return try handler(frame) }
        // The job takes the frame out of a one-shot slot, so the frame (and a block it owns) goes when the handler
        // returns, not when the pool lets go of the job.
        let slot = OneShot(frame)
        offload(pool, frame) { [self] in
            guard let frame = slot.take() else { return }
            do throws(MeshError) { try handler(frame) } catch {
                logger.info("\(registration.name) from connection \(connection) refused: \(error.message)")
                if frame.requestID != 0 { replyError(frame.requestID, on: connection, ErrorPayload(.malformed, error.message)) }
            }
        }
    }

    /// Reserves `block`'s heap bytes in `lane`'s budget (the reactor has none: its handlers return before the
    /// next frame); nil when the lane already holds its share of the heap.
    private func reserve(_ block: borrowing ArenaBlock, for lane: Lane) -> BlockBudget.Reservation? {
        guard let budget = lanes.blockBudgets[lane] else { return BlockBudget.Reservation(budget: nil, bytes: 0) }
        let bytes = arena.heap.blockSize(at: block.offset) ?? block.length
        return budget.reserve(bytes, limit: arena.heap.capacity / Self.inPlaceBudgetFraction)
    }

    /// Runs `job` for `frame` in `pool`, off the reactor. A connection that already has ``servingLimit``
    /// requests being served, or a full pool, gets an ERROR `busy` instead: the reactor never waits, and one
    /// peer's flood cannot take every worker.
    private func offload(_ pool: WorkerPool, _ frame: InboundFrame, _ job: @escaping @Sendable () -> Void) {
        let connection = frame.connection
        let admitted = state.withLock { state -> Bool in
            guard state.serving[connection, default: 0] < Self.servingLimit else { return false }
            state.serving[connection, default: 0] += 1
            return true
        }
        // One place gives the admission back: after the job, or at once when the lane refused it.
        @Sendable func done() {
            state.withLock { state in
                let left = state.serving[connection, default: 1] - 1
                state.serving[connection] = left > 0 ? left : nil
            }
        }
        let queued = admitted && pool.submit {
            job()
            done()
        }
        guard !queued else { return }
        if admitted { done() }
        logger.debug("busy: request \(frame.requestID) on connection \(connection) refused (\(pool.name) lane full or too many requests from this peer)")
        if frame.requestID != 0 { replyError(frame.requestID, on: connection, ErrorPayload(.busy, "too many requests in flight; retry later")) }
    }
}

/// The one-shot box a received arena block moves into when its frame's handler reads it in place: the frame
/// (and the lane's job that captures it) owns the box, and the box owns the block — freed, and its bytes given
/// back to the lane's budget, when the last reference to the frame goes.
final class ReceivedBlock: Sendable {
    private let block: ArenaBlock
    private let payload: Range<Int>
    private let reservation: BlockBudget.Reservation

    init(_ block: consuming ArenaBlock, payload: Range<Int>, reservation: BlockBudget.Reservation) {
        self.block = block
        self.payload = payload
        self.reservation = reservation
    }

    deinit { reservation.release() }

    /// Calls `body` with the payload, in the block.
    /// - warning: the buffer is valid only inside `body`.
    func withPayload<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try block.withBytes { (frame) throws(E) -> R in try body(UnsafeRawBufferPointer(rebasing: frame[payload])) }
    }
}

/// A value handed to exactly one taker.
final class OneShot<Value: Sendable>: Sendable {
    private let value: Mutex<Value?>
    init(_ value: Value) { self.value = Mutex(value) }
    func take() -> Value? { value.withLock { $0.take() } }
}

/// Bytes of received arena blocks that one lane holds; reservations past a limit are refused.
final class BlockBudget: Sendable {
    private let used = Atomic<Int>(0)

    /// Bytes held now.
    var bytesHeld: Int { used.load(ordering: .relaxed) }

    struct Reservation: Sendable {
        let budget: BlockBudget?
        let bytes: Int
        func release() { budget?.used.subtract(bytes, ordering: .relaxed) }
    }

    /// Takes `bytes` if the lane then holds at most `limit`.
    func reserve(_ bytes: Int, limit: Int) -> Reservation? {
        var current = used.load(ordering: .relaxed)
        while current + bytes <= limit {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return Reservation(budget: self, bytes: bytes) }
            current = original
        }
        return nil
    }
}

extension PeerLayer {
    /// Bytes copied out of received arena blocks into arrays, process-wide, and how many times (the zero-copy
    /// receive path's counter: a frame read in place adds nothing; the benchmark and tests read it).
    public enum ReceiveCopies {
        private static let counters = Atomic<Int>(0)
        private static let bytesCounter = Atomic<Int>(0)

        /// Copies made so far, and their bytes.
        public static var count: Int { counters.load(ordering: .relaxed) }
        public static var bytes: Int { bytesCounter.load(ordering: .relaxed) }

        /// Copies `bytes` out of a received block into an array, counting it.
        static func copy(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            counters.add(1, ordering: .relaxed)
            bytesCounter.add(bytes.count, ordering: .relaxed)
            return Array(bytes)
        }

        /// Counts a copy made elsewhere on the receive path (the request router's answer).
        static func count(_ bytes: Int) {
            counters.add(1, ordering: .relaxed)
            bytesCounter.add(bytes, ordering: .relaxed)
        }
    }
}
