// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import Wire

/// Matches answers to the requests this node sent: gives each request an id, keeps it until its answer, its
/// deadline or its connection's close finishes it — whichever comes first, exactly once.
///
/// An answer counts only from the connection the request went out on: request ids are sequential, so a
/// peer could otherwise finish (or poison) requests this node sent to others by guessing their ids. An ERROR
/// answer finishes its request with a ``MeshError`` carrying the peer's code and text.
final class RequestRouter: Sendable {
    /// One request in flight. `completion` runs on the finishing thread (the reactor or the tick): it must not wait.
    final class Waiter: Sendable {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<WireMessage, MeshError>?>(nil)
        let completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)?
        init(completion: (@Sendable (Result<WireMessage, MeshError>) -> Void)? = nil) { self.completion = completion }
        func finish(_ outcome: Result<WireMessage, MeshError>) {
            let first = result.withLock { value -> Bool in
                guard value == nil else { return false }
                value = outcome
                return true
            }
            guard first else { return }
            completion?(outcome)
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
    }

    private let pending = Mutex<[UInt64: Pending]>([:])
    private let nextID = Atomic<UInt64>(1)

    /// A fresh request id (keepalive pings draw from the same sequence).
    func newID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// Registers a request about to be sent; its id.
    func open(_ type: FrameType, on connection: UInt64, key: [UInt8], timeout: Double, now: UInt64, waiter: Waiter) -> UInt64 {
        let id = newID()
        let deadline = now &+ UInt64(max(0, min(timeout, 86_400)) * 1e9)
        pending.withLock { $0[id] = Pending(connection: connection, type: type, waiter: waiter, key: key, deadline: deadline, timeout: timeout) }
        return id
    }

    /// Finishes request `id` with `failure` (its send failed).
    func fail(_ id: UInt64, _ failure: MeshError) {
        let waiter = pending.withLock { $0.removeValue(forKey: id)?.waiter }
        waiter?.finish(.failure(failure))
    }

    /// An answer arrived on `connection`. Read in place: only the bytes handed on are copied. An answer nobody
    /// waits for (late, for another connection's request, or with the wrong key) is dropped; returns whether
    /// it finished a request.
    @discardableResult
    func answer(_ header: WireHeader, payload: UnsafeRawBufferPointer, on connection: UInt64) -> Bool {
        let entry = pending.withLock { pending -> Pending? in
            guard let entry = pending[header.requestID], entry.connection == connection else { return nil }
            if header.type != .error, !entry.key.isEmpty {
                guard payload.count > entry.key.count, Int(payload[0]) == entry.key.count,
                    entry.key.elementsEqual(payload[1...entry.key.count])
                else { return nil }
            }
            pending[header.requestID] = nil
            return entry
        }
        guard let entry else { return false }
        if header.type == .error {
            let error = ErrorPayload(decoding: payload)
            entry.waiter.finish(.failure(MeshError(.refused(error.code), "\(entry.type) refused by the peer: \(error)")))
        } else {
            // The one copy of an answer, out of the arena block (rebased, so it is a memcpy, not a byte loop).
            let body = Array(entry.key.isEmpty ? payload : UnsafeRawBufferPointer(rebasing: payload[(1 + entry.key.count)...]))
            PeerLayer.ReceiveCopies.count(body.count)
            entry.waiter.finish(.success(WireMessage(header.type, requestID: header.requestID, payload: body)))
        }
        return true
    }

    /// Fails the requests that went out on a connection that closed.
    func closed(_ connection: UInt64) {
        let orphans = pending.withLock { pending -> [Waiter] in
            let gone = pending.filter { $0.value.connection == connection }
            for id in gone.keys { pending[id] = nil }
            return gone.values.map(\.waiter)
        }
        for waiter in orphans { waiter.finish(.failure(MeshError(.closed, "connection \(connection) closed"))) }
    }

    /// Fails requests whose deadline passed (the tick).
    func expire(now: UInt64) {
        let expired = pending.withLock { pending -> [(UInt64, Pending)] in
            let due = pending.filter { $0.value.deadline <= now }
            for id in due.keys { pending[id] = nil }
            return Array(due)
        }
        for (id, entry) in expired {
            entry.waiter.finish(.failure(MeshError(.timeout, "no answer to \(entry.type) request \(id) within \(entry.timeout) s")))
        }
    }

    /// Requests in flight.
    var count: Int { pending.withLock { $0.count } }
}
