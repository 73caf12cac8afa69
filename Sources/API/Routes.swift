// SPDX-License-Identifier: Apache-2.0
import APIModel
import Content
import DataPath
import Foundation
import Host
import Hummingbird
import Logging
import NIOCore
import Node
import Primitives

/// The control API's routes (docs/api.md). JSON in and out with snake_case keys; long operations answer NDJSON
/// (progress lines, then one `result` or `error` line); errors as `{"error": {"code", "message", "causes"}}`.
enum Routes {
    /// The full API: on the Unix socket (`authorization` nil: the socket's mode is the credential) or on TCP
    /// (every request must carry `Authorization: Bearer <token>`).
    static func router(_ state: ControlState, authorization token: String?) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        if let token { router.add(middleware: BearerAuthorization(token: token)) }
        probes(router, state)
        let v1 = router.group("v1")
        v1.get("status") { _, _ in try json(state.status()) }
        v1.get("members") { _, _ in try json(state.members()) }
        v1.get("peers") { _, _ in try json(state.peerReports()) }
        v1.get("stats") { _, _ in try json(state.stats()) }
        v1.get("health") { _, _ in
            let report = state.health()
            return try json(report, status: report.status == .err ? .serviceUnavailable : .ok)
        }
        v1.get("plugins") { _, _ in try json(state.plugins()) }
        v1.post("plugins/swap") { request, context in try await swap(request, context, state) }
        v1.get("log/level") { _, _ in try json(LogLevelBody(level: state.logControl.level())) }
        v1.put("log/level") { request, context in
            let body = try await decode(LogLevelBody.self, request, context)
            do { try state.logControl.setLevel(body.level) } catch { throw APIFailure(error) }
            state.node.logger.notice("log level set to \(body.level) through the API")
            return try json(LogLevelBody(level: state.logControl.level()))
        }
        v1.get("log/tail") { request, _ in try tail(request, state) }
        v1.post("shutdown") { _, _ in
            state.node.logger.notice("shutdown asked through the API")
            let body = try API.encoder.encode(Acknowledged(message: "stopping")) + Data("\n".utf8)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(bytes: body))
                    try await writer.finish(nil)
                    // Graceful: the server finishes this answer before it closes.
                    state.node.stop()
                })
        }
        DataRoutes.register(v1, state)
        MeshRoutes.register(v1, state)
        DataRoutes.registerResources(v1, state)
        Dashboard.register(router, state)
        return router
    }

    /// The read-only listener Prometheus scrapes: metrics and the probes, no control.
    static func metricsRouter(_ state: ControlState) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        probes(router, state)
        return router
    }

    /// `/metrics`, `/healthz` (the process answers), `/readyz` (503 until ready).
    private static func probes(_ router: Router<BasicRequestContext>, _ state: ControlState) {
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.scrape(state))))
        }
        router.get("healthz") { _, _ in try json(Acknowledged(message: "alive")) }
        router.get("readyz") { _, _ in
            let report = state.readiness()
            return try json(report, status: report.status == .err ? .serviceUnavailable : .ok)
        }
    }

    // MARK: Helpers

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let body = try API.encoder.encode(value) + Data("\n".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Requests are small JSON documents: at most 64 KiB.
    static let maximumBodyBytes = 64 << 10

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maximumBodyBytes) } catch {
            throw APIFailure(InosError(.invalidArgument, "the request body is larger than \(maximumBodyBytes) bytes"), status: .contentTooLarge)
        }
        do { return try API.decoder.decode(T.self, from: Data(buffer.readableBytesView)) } catch {
            throw APIFailure(InosError(.malformed, "the request body is not a \(T.self) (JSON, snake_case keys): \(error)"))
        }
    }

    private static func swap(_ request: Request, _ context: BasicRequestContext, _ state: ControlState) async throws -> Response {
        let body = try await decode(SwapRequest.self, request, context)
        let host = state.node.host
        guard let slot = host.slot(body.slot), let serving = slot.active else {
            throw APIFailure(InosError(.notFound, "no plugin slot \"\(body.slot)\" (slots: \(host.slots.keys.sorted().joined(separator: ", ")))"))
        }
        let location: PluginSpec.Location = body.plugin.contains("/") ? .path(body.plugin) : .name(body.plugin)
        let spec = PluginSpec(location: location, kind: slot.kind, config: body.config, explicitSlot: body.slot, wraps: serving.spec.wraps, isolation: serving.spec.isolation)
        let previous = ControlState.report(serving, slot: body.slot, generation: slot.generation, history: host.pluginHistory)
        let started = ContinuousClock.now
        let (current, generation) = try await state.offload("swap") { () throws -> (LoadedPlugin, Int) in
            do throws(PluginLoadError) {
                let loaded = try host.swap(slot: body.slot, to: spec)
                return (loaded, slot.generation)
            } catch {
                throw APIFailure(InosError(.refused, "the swap of slot \(body.slot) to \(body.plugin) was refused; the slot keeps \(serving.id) \(serving.version)", cause: error))
            }
        }
        let elapsed = ContinuousClock.now - started
        state.node.logger.notice("slot \(body.slot) swapped to \(current.id) \(current.version) through the API (generation \(generation))")
        return try json(
            SwapReport(
                slot: body.slot, previous: previous, current: ControlState.report(current, slot: body.slot, generation: generation, history: host.pluginHistory),
                drainSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
    }

    private static func tail(_ request: Request, _ state: ControlState) throws -> Response {
        guard let tail = state.logControl.tail else { throw APIFailure(InosError(.unsupported, "this node keeps no log tail")) }
        let replay = min(max(request.uri.queryParameters.get("replay", as: Int.self) ?? 20, 0), 1000)
        let stream = tail(replay)
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                for await line in stream { try await writer.write(ByteBuffer(bytes: line + [UInt8(ascii: "\n")])) }
                try await writer.finish(nil)
            })
    }
}

/// An error answered as the API's JSON error body with the status its code maps to.
struct APIFailure: HTTPResponseError {
    let error: any Error
    let status: HTTPResponse.Status

    init(_ error: any Error, status: HTTPResponse.Status? = nil) {
        self.error = error
        self.status = status ?? Self.status(for: error)
    }

    static func status(for error: any Error) -> HTTPResponse.Status {
        guard let coded = error as? any CodedError else { return .internalServerError }
        switch API.code("\(coded.code)") {
        case "invalid_argument", "malformed": return .badRequest
        case "not_found": return .notFound
        case "already_exists": return .conflict
        case "unavailable": return .serviceUnavailable
        case "timeout": return .gatewayTimeout
        case "refused", "insecure": return .forbidden
        case "no_space": return HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case "unsupported": return .notImplemented
        default: return .internalServerError
        }
    }

    var body: APIErrorBody {
        guard let coded = error as? any CodedError else { return APIErrorBody(code: "failed", message: "\(error)") }
        let causes = coded.causes.map { "\($0)" }
        return APIErrorBody(code: API.code("\(coded.code)"), message: coded.message, causes: causes.isEmpty ? nil : causes)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let bytes = (try? API.encoder.encode(body)) ?? Data(#"{"error":{"code":"internal_error","message":"unencodable error"}}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes + Data("\n".utf8))))
    }
}

/// Every failure as the API's error body: ours keep their code; Hummingbird's own (404 for an unknown path, 405)
/// keep their status with a code of ours.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let failure as APIFailure {
            throw failure
        } catch let error as HTTPError {
            let code: InosError.Code = error.status == .notFound ? .notFound : error.status.code < 500 ? .invalidArgument : .internal
            let message = error.status == .notFound ? "no route \(request.method) \(request.uri.path) (docs/api.md lists the routes)" : (error.body ?? "\(error.status)")
            throw APIFailure(InosError(code, message), status: error.status)
        } catch let error as any CodedError {
            throw APIFailure(error)
        } catch {
            throw APIFailure(InosError(.internal, "\(error)"), status: .internalServerError)
        }
    }
}

/// The TCP listener's credential: `Authorization: Bearer <token>` matching the data directory's `api.token`
/// (compared in constant time), or, on reading requests, the dashboard's cookie holding it. Refused with 401
/// otherwise.
struct BearerAuthorization: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: [UInt8]

    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The dashboard's pages take the token once in their address and trade it for a cookie (Dashboard.swift).
        if let login = Dashboard.login(request, token: token) { return login }
        let header = request.headers[.authorization] ?? ""
        let presented = header.hasPrefix("Bearer ") ? Array(header.utf8.dropFirst(7)) : []
        guard Self.equal(presented, token) || Dashboard.cookieToken(request).map({ Self.equal($0, token) }) == true else {
            throw APIFailure(InosError(.refused, "this listener needs Authorization: Bearer <the token in the node's data directory, api.token>"), status: .unauthorized)
        }
        return try await next(request, context)
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
