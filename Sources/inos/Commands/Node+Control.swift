// SPDX-License-Identifier: Apache-2.0
import API
import APIModel
import ArgumentParser
import Foundation
import Logging
import Node
import Primitives
import ServiceLifecycle

/// `inos node`'s operator plane options (docs/api.md).
struct ControlOptions: ParsableArguments {
    @Flag(name: .long, help: "Serve no control API on the data directory's socket (inos status and the other commands then cannot reach this node).")
    var noApiSocket = false

    @Option(name: .long, help: "Also serve the control API on TCP at HOST:PORT, behind the bearer token in <data dir>/api.token (made at first start, mode 0600).")
    var apiListen: String?

    @Option(name: .long, help: "Where Prometheus scrapes /metrics (and /healthz, /readyz): HOST:PORT, or none. Port 0: any free port.")
    var metricsListen = "127.0.0.1:9474"

    @Option(name: .long, help: "Serve the read-only content gateway (GET /ipfs/ID, Range, ?format=raw|car) at HOST:PORT. Off by default.")
    var gatewayListen: String?

    func serverOptions() throws -> ControlServer.Options {
        var options = ControlServer.Options()
        options.unixSocket = !noApiSocket
        options.tcp = try apiListen.map { try Self.hostPort($0, option: "--api-listen") }
        options.metrics = metricsListen == "none" ? nil : try Self.hostPort(metricsListen, option: "--metrics-listen")
        options.gateway = try gatewayListen.map { try Self.hostPort($0, option: "--gateway-listen") }
        return options
    }

    static func hostPort(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("\(option) \(text) must be HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(option) \(text): the host is missing") }
        return (host, port)
    }
}

extension NodeLog {
    /// How the control API reaches this process's log (its level and its tail).
    var control: LogControl {
        LogControl(
            level: { [self] in level.rawValue },
            setLevel: { [self] name throws(InosError) in
                guard let level = Logger.Level(rawValue: name.lowercased()) else {
                    throw InosError(.invalidArgument, "unknown log level \(name): one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                setLevel(level)
            },
            tail: { [self] replay in
                let records = tail(replay: replay)
                return AsyncStream { continuation in
                    let task = Task {
                        for await record in records { continuation.yield(Array(record.jsonLine().utf8)) }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in task.cancel() }
                }
            })
    }
}

/// A listener the node runs without when it cannot bind (the metrics port taken by another node on this
/// machine): the failure is logged as an error, and the node goes on until it is stopped.
struct TolerantService: Service {
    let inner: any Service
    let name: String
    let logger: Logger

    func run() async throws {
        do {
            try await inner.run()
        } catch {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            logger.error("\(name) is not served: \(error) (the node runs on without it; give another address with --metrics-listen, or none)")
            try? await gracefulShutdown()
        }
    }
}

extension Node {
    /// The control server's listeners as services of the node's group (the metrics one tolerant of a taken
    /// port); each bound address is printed on stdout, as the transport's are.
    static func controlServices(_ node: MeshNode, _ options: ControlServer.Options, logger: Logger) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let server = ControlServer(node: node, options: options, logControl: NodeLog.shared.control, logger: logger)
        let services = try server.services { name, address in
            switch name {
            case "api": FileHandle.standardOutput.write(Data("api on \(address)\n".utf8))
            case "api-tcp": FileHandle.standardOutput.write(Data("api on \(address) (token in \(server.tokenPath))\n".utf8))
            case "gateway": FileHandle.standardOutput.write(Data("gateway on \(address)/ipfs/\n".utf8))
            default: FileHandle.standardOutput.write(Data("metrics on \(address)/metrics\n".utf8))
            }
        }
        return services.enumerated().map { index, service in
            // The last one is the metrics listener when it is enabled (ControlServer.services' order).
            if options.metrics != nil, index == services.count - 1 {
                return .init(service: TolerantService(inner: service, name: "the metrics listener", logger: logger))
            }
            return .init(service: service)
        }
    }
}
