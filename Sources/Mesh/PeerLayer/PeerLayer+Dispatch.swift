// SPDX-License-Identifier: Apache-2.0
import Identity
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

    /// Hands an opened message to the service that registered its type (reactor thread). Throws for what
    /// closes the connection: framing inside a sealed frame, or a handler's refusal of malformed input.
    func dispatch(_ header: WireHeader, payload: UnsafeRawBufferPointer, on connection: UInt64) throws(MeshError) {
        if header.type.isFraming { throw MeshError("\(header.type) inside a sealed frame") }
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
            router.answer(header, payload: payload, on: connection)  // a late or foreign answer is dropped
            return
        }
        guard let peer = node(on: connection) else { return }
        let frame = InboundFrame(type: header.type, requestID: header.requestID, payload: Array(payload), connection: connection, peer: peer)
        guard let pool = lanes.pool(registration.lane) else { return try handler(frame) }
        offload(pool, frame) { [self] in
            do throws(MeshError) { try handler(frame) } catch {
                logger.info("\(registration.name) from connection \(connection) refused: \(error.message)")
                if frame.requestID != 0 { replyError(frame.requestID, on: connection, ErrorPayload(.malformed, error.message)) }
            }
        }
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
