// SPDX-License-Identifier: Apache-2.0
import InosTransportKit
import NIOCore
import NIOPosix
import PluginABI
import PluginKit
import Synchronization

/// Settings from the plugin's `[plugins.config]`.
struct TCPSettings: Sendable {
    /// Frames longer than this close their connection (INOS_ERR_CORRUPT).
    var maxFrameBytes = 16 << 20 + 64 << 10
    /// Bytes queued for one connection before `send` returns INOS_ERR_FULL.
    var sendLimitBytes = 64 << 20
    /// Connections accepted at once; more are closed right after accept, with a log line.
    var maxConnections = 1024
    /// Seconds a dial may take.
    var connectTimeoutSeconds: Int64 = 5
    /// TCP keepalive: first probe after this many idle seconds (0: off).
    var keepaliveSeconds = 30
    /// For nodes, whose connections start with the session handshake: the first frames a connection receives
    /// may be at most this many bytes each (0: no such bound, the transport carries any frames).
    var handshakeFrameBytes = 0
}

/// The TCP transport on SwiftNIO: one event-loop thread, length-prefixed frames, received frames copied from
/// NIO's buffer straight into arena blocks (`InboundQueue`), reads paused while the host pushes back.
final class TCPTransport: TransportEndpoint, Sendable {
    struct Connection: Sendable {
        var channel: Channel
        var inbound: Bool
        var peer: String
        /// Completes when everything written so far has gone to the kernel.
        var lastWrite: EventLoopFuture<Void>?
    }

    private struct State {
        var nextConnection: UInt64 = 1
        var connections: [UInt64: Connection] = [:]
        var listeners: [Channel] = []
        var closed = false
    }

    let settings: TCPSettings
    let link: HostLink
    let inbound: InboundQueue
    let group: MultiThreadedEventLoopGroup
    private let state = Mutex(State())
    /// Bytes handed to NIO and not yet written, per connection, and the connections whose last send was refused
    /// (they get a WRITABLE record once their queue is below the limit again).
    private let queued = Mutex<(bytes: [UInt64: Int], refused: Set<UInt64>)>(([:], []))

    init(settings: TCPSettings, link: HostLink) {
        self.settings = settings
        self.link = link
        inbound = InboundQueue(link: link)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        inbound.start()
    }

    /// Reserves the next connection id.
    func allocateID() -> UInt64 {
        state.withLock { state in
            defer { state.nextConnection += 1 }
            return state.nextConnection
        }
    }

    /// Called by a connection's handler once it is up; false if the node is closing or over its limit.
    func register(_ id: UInt64, _ connection: Connection) -> Bool {
        state.withLock { state in
            guard !state.closed, !connection.inbound || state.connections.count < settings.maxConnections else { return false }
            state.connections[id] = connection
            return true
        }
    }

    func unregister(_ id: UInt64) {
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
        queued.withLock { queued in
            queued.bytes[id] = nil
            queued.refused.remove(id)
        }
    }

    private func pipeline(for channel: Channel, id: UInt64, inbound: Bool, opened: EventLoopPromise<Void>?) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ReadGate(queue: self.inbound))
            // Inbound: INIT and FINISH arrive before the session is up; outbound: RESPONSE.
            let decoder = FrameDecoder(
                maxFrameBytes: settings.maxFrameBytes, handshakeFrameBytes: settings.handshakeFrameBytes, handshakeFrames: inbound ? 2 : 1)
            try sync.addHandler(ByteToMessageHandler(decoder))
            try sync.addHandler(ConnectionHandler(transport: self, id: id, inbound: inbound, opened: opened))
        }
    }

    /// Reads grow up to 4 MiB, so a 1 MiB chunk frame usually arrives in one read and reaches the decoder
    /// whole, instead of being gathered from 64 KiB reads into a growing buffer (a copy per read).
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64 << 10, initial: 256 << 10, maximum: 4 << 20)

    /// TCP_KEEPIDLE: seconds of silence before the first keepalive probe.
    private var keepIdle: ChannelOptions.Types.SocketOption {
        ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: 4 /* TCP_KEEPIDLE */))
    }

    // MARK: TransportEndpoint

    func listen(_ address: String) throws(TransportError) {
        let parsed = try TransportAddress(address, scheme: "tcp", needsPort: true)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: settings.keepaliveSeconds > 0 ? 1 : 0)
            .childChannelOption(keepIdle, value: SocketOptionValue(max(settings.keepaliveSeconds, 1)))
            .childChannelOption(.autoRead, value: true)
            .childChannelOption(.recvAllocator, value: Self.receiveBuffers)
            .childChannelInitializer { [self] channel in
                pipeline(for: channel, id: allocateID(), inbound: true, opened: nil)
            }
        do {
            let server = try bootstrap.bind(host: parsed.host, port: parsed.port!).wait()
            let closed = state.withLock { state in
                if !state.closed { state.listeners.append(server) }
                return state.closed
            }
            if closed { try? server.close().wait() }
        } catch {
            throw TransportError(.io, "cannot listen on \(address): \(error)")
        }
    }

    func dial(_ address: String) throws(TransportError) -> UInt64 {
        let parsed = try TransportAddress(address, scheme: "tcp", needsPort: true)
        let id = allocateID()
        let opened = group.next().makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(settings.connectTimeoutSeconds))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: settings.keepaliveSeconds > 0 ? 1 : 0)
            .channelOption(keepIdle, value: SocketOptionValue(max(settings.keepaliveSeconds, 1)))
            .channelOption(.recvAllocator, value: Self.receiveBuffers)
            .channelInitializer { [self] channel in pipeline(for: channel, id: id, inbound: false, opened: opened) }
        do {
            _ = try bootstrap.connect(host: parsed.host, port: parsed.port!).wait()
            try opened.futureResult.wait()
            return id
        } catch {
            opened.fail(error)
            throw TransportError(.io, "cannot connect to \(address): \(error)")
        }
    }

    func send(_ connection: UInt64, _ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        guard let entry = state.withLock({ $0.connections[connection] }) else { throw TransportError.closed(connection) }
        let size = bytes.count + 4
        let admitted = queued.withLock { queued -> Bool in
            let now = queued.bytes[connection, default: 0]
            guard now == 0 || now + size <= settings.sendLimitBytes else {
                queued.refused.insert(connection)
                return false
            }
            queued.bytes[connection] = now + size
            return true
        }
        guard admitted else {
            throw TransportError(.full, "connection \(connection) to \(entry.peer) has \(settings.sendLimitBytes >> 20) MiB waiting to be written")
        }
        var buffer = entry.channel.allocator.buffer(capacity: size)
        buffer.writeInteger(UInt32(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
        let written = entry.channel.writeAndFlush(buffer)
        written.whenComplete { [self] _ in
            // Half the limit free again after a refusal: the host may send (one WRITABLE per refusal episode).
            let writable = queued.withLock { queued -> Bool in
                guard let now = queued.bytes[connection] else { return false }
                queued.bytes[connection] = now - size
                guard queued.refused.contains(connection), now - size <= settings.sendLimitBytes / 2 else { return false }
                queued.refused.remove(connection)
                return true
            }
            if writable { inbound.append(.writable(connection: connection)) }
        }
        state.withLock { $0.connections[connection]?.lastWrite = written }
    }

    func close(_ connection: UInt64) {
        guard let entry = state.withLock({ $0.connections[connection] }) else { return }
        // After what was already sent has been written.
        if let last = entry.lastWrite {
            last.whenComplete { _ in entry.channel.close(promise: nil) }
        } else {
            entry.channel.close(promise: nil)
        }
    }

    func localAddress() throws(TransportError) -> String {
        guard let server = state.withLock({ $0.listeners.first }), let address = server.localAddress, let port = address.port else {
            throw TransportError(.notFound, "not listening")
        }
        return TransportAddress(scheme: "tcp", host: address.ipAddress ?? "127.0.0.1", port: port).description
    }

    func shutdown() {
        let (listeners, channels) = state.withLock { state -> ([Channel], [Channel]) in
            state.closed = true
            return (state.listeners, state.connections.values.map(\.channel))
        }
        for listener in listeners { try? listener.close().wait() }
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
        inbound.stop(drainMilliseconds: 200)
    }
}
