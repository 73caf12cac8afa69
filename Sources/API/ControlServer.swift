// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Node
import Primitives
import ServiceLifecycle

/// The operator plane of a running node (docs/api.md): the control API on the data directory's Unix socket
/// (mode 0600: whoever may open it is this user), optionally on TCP behind a bearer token, and the read-only
/// metrics listener Prometheus scrapes (`/metrics`, `/healthz`, `/readyz`, loopback by default).
///
/// Hummingbird serves HTTP; each listener is one of its `Application`s, run as services next to the node in the
/// node's `ServiceGroup` (so SIGTERM stops them together).
public struct ControlServer: Sendable {
    public struct Options: Sendable {
        /// Serve the API on `<data dir>/api.sock` (the default; `inos` commands find it there).
        public var unixSocket = true
        /// Also serve the API here (host, port), behind the bearer token in `<data dir>/api.token`.
        public var tcp: (host: String, port: Int)?
        /// The metrics listener (`/metrics`, `/healthz`, `/readyz`; no control), nil for none.
        public var metrics: (host: String, port: Int)? = ("127.0.0.1", 9474)
        /// The read-only content gateway (`/ipfs/{id}`), nil for none (the default).
        public var gateway: (host: String, port: Int)?
        public init() {}
    }

    public let node: MeshNode
    public let options: Options
    let state: ControlState
    let logger: Logger

    /// - Parameters:
    ///   - logControl: how `inos log level` and `inos log tail` reach the process's logging.
    public init(node: MeshNode, options: Options, logControl: LogControl, logger: Logger) {
        self.node = node
        self.options = options
        self.logger = logger
        state = ControlState(node: node, logControl: logControl, metrics: NodeMetrics.shared)
    }

    /// Where the API listens, once ``services(onListening:)``' listeners are up.
    public var socketPath: String { (node.configuration.dataDirectory as NSString).appendingPathComponent(API.socketName) }
    public var tokenPath: String { (node.configuration.dataDirectory as NSString).appendingPathComponent(API.tokenName) }

    /// The listeners as services. `onListening` gets each listener's name ("api", "api-tcp", "metrics") and
    /// address once it is bound. Throws when the socket is held by a running node, or the token cannot be made.
    public func services(onListening: @escaping @Sendable (String, String) -> Void) throws(InosError) -> [any Service] {
        state.metrics.attach(node)
        var services: [any Service] = [state.sampler]
        if options.unixSocket || options.tcp != nil {
            // The socket and the token live in the data directory; a node on a manifest without a store may not
            // have made it yet.
            do { try FileManager.default.createDirectory(atPath: node.configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw InosError(.io, "cannot create the data directory \(node.configuration.dataDirectory) for the control API", cause: error)
            }
        }
        if options.unixSocket {
            let path = socketPath
            try Self.claimSocket(path)
            let router = Routes.router(state, authorization: nil)
            services.append(
                Application(
                    router: router, configuration: Self.configuration(.unixDomainSocket(path: path)),
                    onServerRunning: { [logger] _ in
                        // Only this user may connect (a Unix socket needs write permission to connect).
                        if chmod(path, 0o600) != 0 { logger.error("cannot set mode 0600 on \(path): errno \(errno)") }
                        onListening("api", "unix:\(path)")
                    }, logger: quiet(logger)))
        }
        /// A TCP listener for `router`, named `name` when it is bound.
        func tcpListener(_ name: String, _ router: Router<BasicRequestContext>, _ at: (host: String, port: Int)) -> any Service {
            Application(
                router: router, configuration: Self.configuration(.hostname(at.host, port: at.port)),
                onServerRunning: { channel in onListening(name, Self.describe(channel.localAddress, fallback: "\(at.host):\(at.port)")) },
                logger: quiet(logger))
        }
        if let tcp = options.tcp { services.append(tcpListener("api-tcp", Routes.router(state, authorization: try Self.loadOrCreateToken(tokenPath)), tcp)) }
        if let gateway = options.gateway { services.append(tcpListener("gateway", Gateway.router(state), gateway)) }
        // Last: `inos node` runs the metrics listener tolerant of a taken port, and finds it in this place.
        if let metrics = options.metrics { services.append(tcpListener("metrics", Routes.metricsRouter(state), metrics)) }
        return services
    }

    /// Hummingbird logs every request at info; the node's operator wants its own lines, so the server's go one
    /// level down.
    private func quiet(_ logger: Logger) -> Logger {
        var logger = logger
        if logger.logLevel < .notice { logger.logLevel = .notice }
        return logger
    }

    /// Connections one listener keeps open at once (log tails and streamed puts hold theirs); past it, new
    /// ones wait in the backlog until one closes.
    public static let connectionLimit = 64

    static func configuration(_ address: BindAddress) -> ApplicationConfiguration {
        ApplicationConfiguration(address: address, serverName: "inos", backlog: 64, availableConnectionsDelegate: MaximumAvailableConnections(connectionLimit))
    }

    static func describe(_ address: SocketAddress?, fallback: String) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "http://\(fallback)" }
        return address.protocol == .inet6 ? "http://[\(ip)]:\(port)" : "http://\(ip):\(port)"
    }

    /// Makes way for the node's socket at `path`: a socket left by a node that is gone (nothing accepts on it)
    /// is removed; one that answers belongs to a node running on this data directory, which refuses the start.
    static func claimSocket(_ path: String) throws(InosError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw InosError(.alreadyExists, "\(path) exists and is not a socket; move it away so the node can serve its API there")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw InosError(.io, "socket(AF_UNIX): errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw InosError(.invalidArgument, "socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw InosError(.alreadyExists, "a node already runs on this data directory (its API answers on \(path)); stop it first, or give this one another --data-dir")
        }
        unlink(path)
    }

    /// The bearer token of the TCP listener: read from `path`, or 32 random bytes (hex) written there with mode
    /// 0600 at first start. A token file others may read is refused.
    static func loadOrCreateToken(_ path: String) throws(InosError) -> String {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & 0o077 == 0 else {
                throw InosError(.insecure, "\(path) has mode \(String(info.st_mode & 0o777, radix: 8)); others may read the API token. chmod 600 it, or remove it for a new one")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw InosError(.io, "cannot read \(path)") }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 32 else { throw InosError(.malformed, "\(path) does not hold a token (at least 32 characters); remove it for a new one") }
            return token
        }
        var generator = SystemRandomNumberGenerator()  // the kernel's CSPRNG (getrandom)
        let random = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let token = random.map { String(format: "%02x", $0) }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InosError(.io, "cannot create \(path): errno \(errno)") }
        defer { close(fd) }
        let line = Array((token + "\n").utf8)
        guard write(fd, line, line.count) == line.count, fsync(fd) == 0 else { throw InosError(.io, "cannot write \(path): errno \(errno)") }
        return token
    }
}

/// How the API reaches the process's logging (`inos log level`, `inos log tail`): given by whoever bootstrapped
/// it (the `inos` command).
public struct LogControl: Sendable {
    public var level: @Sendable () -> String
    /// Sets the level by name; throws for an unknown one.
    public var setLevel: @Sendable (String) throws(InosError) -> Void
    /// Recent lines (up to `replay`), then each new one, as NDJSON lines; nil when the process keeps no tail.
    public var tail: (@Sendable (_ replay: Int) -> AsyncStream<[UInt8]>)?

    public init(level: @escaping @Sendable () -> String, setLevel: @escaping @Sendable (String) throws(InosError) -> Void,
                tail: (@Sendable (Int) -> AsyncStream<[UInt8]>)?) {
        self.level = level
        self.setLevel = setLevel
        self.tail = tail
    }
}
