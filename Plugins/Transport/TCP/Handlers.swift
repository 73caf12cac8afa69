// SPDX-License-Identifier: Apache-2.0
import InosTransportKit
import NIOCore
import PluginABI
import PluginKit

/// A frame longer than the transport accepts: the connection is closed, the node goes on.
struct FrameTooLarge: Error, CustomStringConvertible {
    var length: Int
    var maximum: Int
    var description: String { "frame of \(length) bytes exceeds the maximum of \(maximum)" }
}

/// Splits the byte stream into frames: a 4-byte little-endian length, then that many bytes. Checks the
/// length before buffering the frame, so a hostile length costs nothing.
///
/// The first `handshakeFrames` frames of a connection carry the session handshake (a few hundred bytes each):
/// they may be at most `handshakeFrameBytes`, so a stranger cannot make the node buffer and copy a 16 MiB frame
/// before it has proved who it is.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxFrameBytes: Int
    var handshakeFrameBytes = 0
    var handshakeFrames = 0

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        let limit = handshakeFrames > 0 && handshakeFrameBytes > 0 ? min(handshakeFrameBytes, maxFrameBytes) : maxFrameBytes
        guard Int(length) <= limit else { throw FrameTooLarge(length: Int(length), maximum: limit) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        if handshakeFrames > 0 { handshakeFrames -= 1 }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData  // a partial frame at EOF is dropped with the connection
    }
}

/// Holds back socket reads while the host pushes back (backpressure line, full arena or inbox, or frames
/// already waiting in the transport), and lets them through again once it takes frames.
final class ReadGate: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    let queue: InboundQueue
    private var waiting = false

    init(queue: InboundQueue) { self.queue = queue }

    func read(context: ChannelHandlerContext) {
        guard queue.shouldPause else {
            context.read()
            return
        }
        guard !waiting else { return }
        waiting = true
        recheck(context)
    }

    private func recheck(_ context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(1)) { [self] in
            let context = loopBound.value
            guard context.channel.isActive else { return }
            if queue.shouldPause {
                recheck(context)
            } else {
                waiting = false
                context.read()
            }
        }
    }
}

/// One connection's life: registers it, hands frames to the inbound queue, reports OPENED and CLOSED
/// (with the reason: an oversized or malformed frame is INOS_ERR_CORRUPT and is logged).
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let transport: TCPTransport
    let id: UInt64
    let inbound: Bool
    let opened: EventLoopPromise<Void>?
    private var peer = "tcp://unknown"
    private var registered = false
    private var reason: PluginStatus = .ok

    init(transport: TCPTransport, id: UInt64, inbound: Bool, opened: EventLoopPromise<Void>?) {
        self.transport = transport
        self.id = id
        self.inbound = inbound
        self.opened = opened
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress, let port = remote.port {
            peer = TransportAddress(scheme: "tcp", host: remote.ipAddress ?? "?", port: port).description
        }
        let connection = TCPTransport.Connection(channel: context.channel, inbound: inbound, peer: peer, lastWrite: nil)
        guard transport.register(id, connection) else {
            transport.link.log(Int32(INOS_LOG_WARNING), "refusing connection from \(peer): \(transport.settings.maxConnections) connections already open")
            opened?.fail(TransportError(.closed, "transport is closing"))
            context.close(promise: nil)
            return
        }
        registered = true
        transport.inbound.append(.opened(connection: id, inbound: inbound, peer: peer))
        opened?.succeed()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        frame.withUnsafeReadableBytes { transport.inbound.appendFrame(connection: id, $0) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let cause = (error as? ByteToMessageDecoderError.PayloadTooLargeError) != nil ? "frame too large" : "\(error)"
        if error is FrameTooLarge || error is ByteToMessageDecoderError {
            reason = .corrupt
        } else if reason == .ok {
            reason = .io
        }
        transport.link.log(Int32(INOS_LOG_WARNING), "closing connection \(id) with \(peer): \(error is FrameTooLarge ? "\(error)" : cause)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        opened?.fail(TransportError(.io, "connection closed during set-up"))
        guard registered else { return }
        registered = false
        transport.unregister(id)
        transport.inbound.append(.closed(connection: id, reason: reason.rawValue, inbound: inbound, peer: peer))
        context.fireChannelInactive()
    }
}
