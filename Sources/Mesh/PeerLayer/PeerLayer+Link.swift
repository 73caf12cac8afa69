// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Host
import PluginABI
import PluginKit
import Identity
import Session
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#endif

extension PeerLayer {
    /// One connection's session: the handshake until it completes, then the channel.
    final class Link: Sendable {
        let handshake: Mutex<Handshake?>
        let channel = Mutex<SecureChannel?>(nil)
        /// Sealed frames the transport had no room for, in order. Guarded by `channel`'s lock.
        nonisolated(unsafe) var outbound = Outbound()
        init(_ handshake: Handshake) { self.handshake = Mutex(handshake) }
        deinit { outbound.clear() }
    }

    struct Outbound {
        var frames: [UnsafeMutableRawBufferPointer] = []
        var bytes = 0
        /// When a frame last left (or the queue started).
        var progressAt: UInt64 = 0
        mutating func clear() {
            for frame in frames { frame.deallocate() }
            frames = []
            bytes = 0
        }
    }

    /// Bytes of sealed frames one connection may have waiting in its outbound queue (beyond the transport's own).
    public static let outboundLimitBytes = 8 << 20

    // MARK: Receiving

    /// One frame from the transport, in its arena block. The frame is opened in place; the block is freed when
    /// this returns, unless the frame's handler reads it in place and took it (``dispatch(_:block:payload:on:)``).
    func receive(_ block: consuming ArenaBlock, on connection: UInt64, now: UInt64) {
        guard let link = state.withLock({ $0.links[connection] }) else {
            logger.debug("frame on connection \(connection), which has no session state: dropped")
            return
        }
        do throws(MeshError) {
            if link.channel.withLock({ $0 == nil }) {
                // Before the session a peer is a stranger: its frames are handshake messages, a few hundred bytes.
                guard block.length <= Limits.handshakeFrameBytes else {
                    throw MeshError(.malformed, "a \(block.length)-byte frame before the session is up (at most \(Limits.handshakeFrameBytes))")
                }
                traffic.record(.in, type: .handshakeInit, bytes: block.length, peer: nil)
                reactorWatch.enter(.handshake)
                try advanceHandshake(link, block.withBytes { Array($0) }, on: connection)
                return
            }
            let sealedBytes = block.length
            var sender: NodeID?
            // The inner message's range within the frame (decrypted in place, in its arena block).
            let (header, payload) = try block.withMutableBytes { (frame) throws(MeshError) -> (WireHeader, Range<Int>) in
                let range = try link.channel.withLock { (channel) throws(MeshError) -> Range<Int> in
                    do throws(SessionError) {
                        let inner = try channel!.openInPlace(frame)
                        sender = channel!.peer
                        let start = inner.baseAddress! - frame.baseAddress!
                        return start..<(start + inner.count)
                    } catch { throw MeshError(.session, error.message, cause: error) }
                }
                do throws(WireError) {
                    return (try WireHeader.parse(UnsafeRawBufferPointer(rebasing: frame[range])), (range.lowerBound + WireHeader.size)..<range.upperBound)
                } catch {
                    throw MeshError(.malformed, "malformed message: \(error.message)", cause: error)
                }
            }
            traffic.record(.in, type: header.type, bytes: sealedBytes, peer: sender)
            reactorWatch.enter(.frame, type: header.type)
            if header.type == .pong, keepaliveAnswered(header.requestID, on: connection, now: now) { return }
            try dispatch(header, block: block, payload: payload, on: connection)
        } catch {
            let address = state.withLock { $0.peers[connection]?.address } ?? "?"
            logger.warning("closing connection \(connection) with \(address): \(error.message)")
            transport.close(connection)
        }
    }

    private func advanceHandshake(_ link: Link, _ bytes: [UInt8], on connection: UInt64) throws(MeshError) {
        let step = try link.handshake.withLock { (handshake) throws(MeshError) -> Handshake.Step in
            guard handshake != nil else { throw MeshError(.unexpected, "handshake already finished") }
            do throws(SessionError) { return try handshake!.receive(bytes) } catch { throw MeshError(.session, error.message, cause: error) }
        }
        switch step {
        case .send(let reply):
            sendPlain(reply, on: connection)
        case .established(let channel, let reply):
            if let reply { sendPlain(reply, on: connection) }
            link.channel.withLock { $0 = channel }
            link.handshake.withLock { $0 = nil }
            let (peer, bootstrap, pinned) = state.withLock { state -> (Peer?, Bool, NodeID?) in
                state.peers[connection]?.node = channel.peer
                return (state.peers[connection], state.bootstrap.values.contains(connection), state.pinned[connection])
            }
            // A pin that came after RESPONSE (a dial that returned late) is checked here.
            if let pinned, pinned != channel.peer { return refusePinned(connection, expected: pinned, peer: channel.peer) }
            logger.info("secure session with node \(channel.peer) on connection \(connection) (\(channel.suite))")
            finishSessionWaiters(connection, .success(channel.peer))
            if let membership, let peer {
                membership.sessionUp(
                    channel.peer, connection: connection, dialedAddress: peer.inbound ? nil : peer.address, bootstrap: bootstrap,
                    now: clock.now()
                ) { connection, bytes in try? send(WireMessage(.membership, payload: bytes), on: connection) }
            }
        }
    }

    // MARK: Sending

    func sendPlain(_ bytes: [UInt8], on connection: UInt64) {
        traffic.record(.out, type: .handshakeInit, bytes: bytes.count, peer: nil)
        do throws(TransportCallError) { try transport.send(connection, bytes) } catch {
            logger.warning("handshake on connection \(connection) failed to send: \(error.message)")
            transport.close(connection)
        }
    }

    /// Seals and sends a message. Never waits: see ``send(_:requestID:parts:on:)``.
    public func send(_ message: WireMessage, on connection: UInt64) throws(MeshError) {
        var failure: MeshError?
        message.payload.withUnsafeBytes { payload in
            do throws(MeshError) {
                try send(message.header.type, requestID: message.header.requestID, parts: [payload], on: connection)
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Seals and sends a message whose payload is `parts` in order. The parts are copied once, straight into
    /// the frame that is then sealed in place — the hot path of serving chunks.
    ///
    /// Never waits, so the reactor and the workers may call it: when the transport's queue for the connection is
    /// full (the peer reads slower than we write), the sealed frame waits in the connection's own outbound queue
    /// (frames keep their order: later ones queue behind it) and ``flushOutbound(now:)`` offers it again. A queue
    /// over ``outboundLimitBytes``, or one that made no progress for ``stallSeconds``, closes the connection:
    /// a peer that stops reading loses its connection, and nobody else waits for it.
    public func send(_ type: FrameType, requestID: UInt64, parts: [UnsafeRawBufferPointer], on connection: UInt64) throws(MeshError) {
        guard let link = state.withLock({ $0.links[connection] }) else { throw MeshError(.closed, "connection \(connection) is closed") }
        let innerLength = WireHeader.size + parts.reduce(0) { $0 + $1.count }
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: innerLength + SecureChannel.overhead, alignment: 16)
        WireHeader(type: type, requestID: requestID).write(into: UnsafeMutableRawBufferPointer(rebasing: frame[WireHeader.size...]))
        var offset = 2 * WireHeader.size
        for part in parts where !part.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: frame[offset..<(offset + part.count)]).copyMemory(from: part)
            offset += part.count
        }
        enum Outcome { case sent, queued(startedStall: Bool), noSession, failed(PluginCallError), overflow }
        let outcome = link.channel.withLock { channel -> Outcome in
            guard channel != nil else { return .noSession }
            _ = channel!.sealInPlace(frame, messageLength: innerLength)
            traffic.record(.out, type: type, bytes: frame.count, peer: channel!.peer)
            // Sealed and sent (or queued) under the channel's lock: frames leave in counter order.
            if link.outbound.frames.isEmpty {
                do throws(TransportCallError) {
                    try transport.send(connection, UnsafeRawBufferPointer(frame))
                    return .sent
                } catch where error.code.isBackpressure {
                    // fall through to the queue
                } catch {
                    return .failed(error)
                }
            }
            guard link.outbound.bytes + frame.count <= Self.outboundLimitBytes else { return .overflow }
            let first = link.outbound.frames.isEmpty
            link.outbound.frames.append(frame)
            link.outbound.bytes += frame.count
            if first { link.outbound.progressAt = clock.now() }
            return .queued(startedStall: first)
        }
        switch outcome {
        case .sent:
            frame.deallocate()
        case .queued(let first):
            if first { flusher.signal() }
        case .noSession:
            frame.deallocate()
            throw MeshError(.closed, "cannot send on connection \(connection): no session")
        case .failed(let why):
            frame.deallocate()
            throw MeshError(.transport, "cannot send on connection \(connection): \(why.message)", cause: why)
        case .overflow:
            frame.deallocate()
            let address = state.withLock { $0.peers[connection]?.address } ?? "?"
            logger.warning("closing connection \(connection) with \(address): more than \(Self.outboundLimitBytes >> 20) MiB waiting to be sent (the peer does not read)")
            transport.close(connection)
            throw MeshError(.closed, "connection \(connection): the peer does not read; closed")
        }
    }

    /// Offers every waiting outbound frame to the transport again, in order, until the transport is full;
    /// closes connections whose queue is stalled. Returns whether frames still wait.
    @discardableResult
    func flushOutbound(now: UInt64) -> Bool {
        let links = state.withLock { state in state.links.map { ($0.key, $0.value, state.peers[$0.key]?.address ?? "?") } }
        var waiting = false
        for (connection, link, address) in links {
            enum Result { case idle, drained, waiting, stalled, failed(String) }
            let result = link.channel.withLock { _ -> Result in
                guard !link.outbound.frames.isEmpty else { return .idle }
                while let frame = link.outbound.frames.first {
                    do throws(TransportCallError) {
                        try transport.send(connection, UnsafeRawBufferPointer(frame))
                    } catch where error.code.isBackpressure {
                        return now - link.outbound.progressAt > clock.nanoseconds(stallSeconds) ? .stalled : .waiting
                    } catch {
                        link.outbound.clear()
                        return .failed(error.message)
                    }
                    link.outbound.frames.removeFirst()
                    link.outbound.bytes -= frame.count
                    link.outbound.progressAt = now
                    frame.deallocate()
                }
                return .drained
            }
            switch result {
            case .idle: break
            case .drained: break
            case .waiting: waiting = true
            case .stalled:
                link.channel.withLock { _ in link.outbound.clear() }
                logger.warning("closing connection \(connection) with \(address): the peer read nothing for \(stallSeconds) s")
                transport.close(connection)
            case .failed(let why):
                logger.warning("closing connection \(connection) with \(address): send failed: \(why)")
                transport.close(connection)
            }
        }
        return waiting
    }

    /// The flusher: sleeps until a connection's outbound queue has frames, offers them, and while a transport
    /// refuses (INOS_ERR_FULL) sleeps until its WRITABLE record (ABI 1.3) or a new frame wakes it — at the
    /// latest after a stall interval, to close connections whose peer reads nothing. A 1.2 transport posts no
    /// WRITABLE records: for it the flusher retries every 2 ms while frames wait.
    func flushLoop() {
        while !stopped {
            flusher.wait()  // stop() signals it too
            while flushOutbound(now: clock.now()), !stopped {
                let writableEvents = transport.slot.active.map { $0.abiVersion.major > 1 || $0.abiVersion.minor >= 3 } ?? false
                _ = flusher.wait(timeout: .now() + (writableEvents ? max(0.1, stallSeconds / 4) : 0.002))
            }
        }
    }
}
