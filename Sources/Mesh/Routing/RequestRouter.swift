// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import Synchronization
import Wire

/// Matches answers to the requests this node sent: gives each request an id, keeps it until its answer, its
/// deadline or its connection's close finishes it — whichever comes first, exactly once.
///
/// An answer counts only from the connection the request went out on: request ids are sequential, so a
/// peer could otherwise finish (or poison) requests this node sent to others by guessing their ids. An ERROR
/// answer finishes its request with a ``MeshError`` carrying the peer's code and text.
final class RequestRouter: Sendable {
    /// One request in flight. `completion` (or `inPlace`) runs on the finishing thread (the reactor or the
    /// tick): it must not wait. A waiter with `inPlace` is answered with the arena block itself (``InPlaceAnswer``),
    /// not a copy; failures reach it there too.
    final class Waiter: Sendable {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<WireMessage, MeshError>?>(nil)
        let completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)?
        let inPlace: (@Sendable (Result<InPlaceAnswer, MeshError>) -> Void)?
        private let finished = Atomic<Bool>(false)

        init(completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)? = nil) {
            self.completion = completion
            inPlace = nil
        }

        init(inPlace: @escaping @Sendable (Result<InPlaceAnswer, MeshError>) -> Void) {
            completion = nil
            self.inPlace = inPlace
        }

        /// Whether this finish is the first (a request finishes exactly once).
        private func first() -> Bool { !finished.exchange(true, ordering: .acquiringAndReleasing) }

        func finish(_ outcome: Result<WireMessage, MeshError>) {
            guard first() else { return }
            if let inPlace {
                switch outcome {
                case .failure(let error): inPlace(.failure(error))
                case .success: preconditionFailure("an in-place waiter is answered with its block")
                }
            } else {
                result.withLock { $0 = outcome }
                completion?(outcome)
            }
            done.signal()
        }

        func finish(inPlace answer: InPlaceAnswer) {
            guard first() else { return }
            inPlace?(.success(answer))
            done.signal()
        }
    }

    struct Pending {
        var connection: UInt64
        var type: FrameType
        var waiter: Waiter
        /// For a keyed request (CHUNK_GET), the key an answer must start with (length byte, key); the answer's
        /// payload is then what follows it — for CHUNK_DATA the chunk alone, copied once out of the arena block.
        var key: [UInt8]
        var deadline: UInt64
        var timeout: Double
        var openedAt: UInt64
    }

    private let clock: any MeshClock
    let observer = ObserverSlot()

    init(clock: any MeshClock) { self.clock = clock }

    private let pending = Mutex<[UInt64: Pending]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let copies = Atomic<Int>(0)

    /// Answers this router copied out of their arena blocks (the process-wide figure is ``PeerLayer/ReceiveCopies``).
    var copiedAnswers: Int { copies.load(ordering: .relaxed) }

    /// A fresh request id (keepalive pings draw from the same sequence).
    func newID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Registers a request about to be sent; its id.
    func open(_ type: FrameType, on connection: UInt64, key: [UInt8], timeout: Double, now: UInt64, waiter: Waiter) -> UInt64 {
        let id = newID()
        let deadline = now &+ UInt64(max(0, min(timeout, 86_400)) * 1e9)
        pending.withLock { $0[id] = Pending(connection: connection, type: type, waiter: waiter, key: key, deadline: deadline, timeout: timeout, openedAt: now) }
        return id
    }

    /// Finishes request `id` with `failure` (its send failed).
    func fail(_ id: UInt64, _ failure: MeshError) {
        guard let entry = pending.withLock({ $0.removeValue(forKey: id) }) else { return }
        observe(entry, failure.code == .timeout ? .timeout : .failed)
        entry.waiter.finish(.failure(failure))
    }

    /// An answer arrived on `connection`, in `block` (`payload` is its message payload's range). An answer
    /// nobody waits for (late, for another connection's request, or with the wrong key) is dropped with its
    /// block; an in-place waiter gets the block itself (the answer's one copy is the transport's, into the
    /// arena); any other waiter gets a copy of the bytes it is owed. Returns whether it finished a request.
    @discardableResult
    func answer(_ header: WireHeader, block: consuming ArenaBlock, payload: Range<Int>, on connection: UInt64) -> Bool {
        let entry = block.withBytes { frame in take(header, payload: UnsafeRawBufferPointer(rebasing: frame[payload]), on: connection) }
        guard let entry else { return false }
        // For a keyed answer, what the waiter is owed is what follows the key.
        let body = entry.key.isEmpty || header.type == .error ? payload : (payload.lowerBound + 1 + entry.key.count)..<payload.upperBound
        observe(entry, header.type == .error ? .refused : .answered)
        if header.type == .error {
            let error = block.withBytes { ErrorPayload(decoding: UnsafeRawBufferPointer(rebasing: $0[body])) }
            entry.waiter.finish(.failure(MeshError(.refused(error.code), "\(entry.type) refused by the peer: \(error)")))
        } else if entry.waiter.inPlace != nil {
            // Our own request's answer (one per request, bounded by what this node asks at once): no lane budget.
            let received = ReceivedBlock(block, payload: body, reservation: BlockBudget.Reservation(budget: nil, bytes: 0))
            entry.waiter.finish(inPlace: InPlaceAnswer(type: header.type, requestID: header.requestID, received))
        } else {
            // The one copy of an answer, out of the arena block (rebased, so it is a memcpy, not a byte loop).
            let bytes = block.withBytes { PeerLayer.ReceiveCopies.copy(UnsafeRawBufferPointer(rebasing: $0[body])) }
            copies.add(1, ordering: .relaxed)
            entry.waiter.finish(.success(WireMessage(header.type, requestID: header.requestID, payload: bytes)))
        }
        return true
    }

    /// The pending request an answer finishes, taken out of the table; nil when the answer is not owed (unknown
    /// or finished id, another connection, a keyed answer with the wrong key).
    private func take(_ header: WireHeader, payload: UnsafeRawBufferPointer, on connection: UInt64) -> Pending? {
        pending.withLock { pending -> Pending? in
            guard let entry = pending[header.requestID], entry.connection == connection else { return nil }
            if header.type != .error, !entry.key.isEmpty {
                guard payload.count > entry.key.count, Int(payload[0]) == entry.key.count,
                    entry.key.elementsEqual(payload[1...entry.key.count])
                else { return nil }
            }
            pending[header.requestID] = nil
            return entry
        }
    }

    /// Fails the requests that went out on a connection that closed.
    func closed(_ connection: UInt64) {
        let orphans = pending.withLock { pending -> [Pending] in
            let gone = pending.filter { $0.value.connection == connection }
            for id in gone.keys { pending[id] = nil }
            return Array(gone.values)
        }
        for entry in orphans {
            observe(entry, .failed)
            entry.waiter.finish(.failure(MeshError(.closed, "connection \(connection) closed")))
        }
    }

    /// Fails requests whose deadline passed (the tick).
    func expire(now: UInt64) {
        let expired = pending.withLock { pending -> [(UInt64, Pending)] in
            let due = pending.filter { $0.value.deadline <= now }
            for id in due.keys { pending[id] = nil }
            return Array(due)
        }
        for (id, entry) in expired {
            observe(entry, .timeout)
            entry.waiter.finish(.failure(MeshError(.timeout, "no answer to \(entry.type) request \(id) within \(entry.timeout) s")))
        }
    }

    /// Requests in flight.
    var count: Int { pending.withLock { $0.count } }

    private func observe(_ entry: Pending, _ outcome: MeshObserver.Outcome) {
        guard let observer = observer.current else { return }
        let now = clock.now()
        observer.requestFinished(entry.type, outcome, now > entry.openedAt ? Double(now - entry.openedAt) / 1e9 : 0)
    }
}

/// Who watches requests finish and keepalive round trips (the operator plane's metrics): set once, before the
/// node starts; called on the finishing thread (reactor, tick or sender), so it must be quick and must not wait.
public struct MeshObserver: Sendable {
    public enum Outcome: String, CaseIterable, Sendable {
        /// Answered with the expected type.
        case answered
        /// Answered with ERROR.
        case refused
        case timeout
        /// The send failed or the connection closed first.
        case failed
    }

    public var requestFinished: @Sendable (_ type: FrameType, _ outcome: Outcome, _ seconds: Double) -> Void
    public var roundTrip: @Sendable (_ seconds: Double) -> Void

    public init(requestFinished: @escaping @Sendable (FrameType, Outcome, Double) -> Void, roundTrip: @escaping @Sendable (Double) -> Void) {
        self.requestFinished = requestFinished
        self.roundTrip = roundTrip
    }
}

/// The observer slot the router and the keepalive read (one atomic load of a set-once box).
final class ObserverSlot: Sendable {
    private let box = Mutex<MeshObserver?>(nil)
    private let installed = Atomic<Bool>(false)
    func install(_ observer: MeshObserver) {
        box.withLock { $0 = observer }
        installed.store(true, ordering: .releasing)
    }
    var current: MeshObserver? { installed.load(ordering: .acquiring) ? box.withLock { $0 } : nil }
}

/// An answer read where it arrived: the decrypted frame's arena block, owned until the last reference goes (then
/// freed). For a keyed request (CHUNK_GET) the payload is what follows the key.
public final class InPlaceAnswer: Sendable {
    public let type: FrameType
    public let requestID: UInt64
    private let received: ReceivedBlock

    init(type: FrameType, requestID: UInt64, _ received: ReceivedBlock) {
        self.type = type
        self.requestID = requestID
        self.received = received
    }

    /// Calls `body` with the payload, in the arena.
    /// - warning: the buffer is valid only inside `body`.
    public func withPayload<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R { try received.withPayload(body) }
}
