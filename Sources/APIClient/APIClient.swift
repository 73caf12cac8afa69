// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Primitives

/// The CLI's side of the control API (docs/api.md): one HTTP/1.1 request per connection to a running node, on
/// its Unix socket (the default: the socket's mode is the credential) or on TCP with the node's bearer token.
///
/// SwiftNIO's HTTP/1 codec does the protocol; this type only frames one request and reads its answer — whole
/// (``send(_:_:body:)``) or line by line (``stream(_:_:body:line:)``, for NDJSON progress and `log tail`).
public struct APIClient: Sendable {
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        case unixSocket(path: String)
        case tcp(host: String, port: Int, token: String)

        public var description: String {
            switch self {
            case .unixSocket(let path): return "unix:\(path)"
            case .tcp(let host, let port, _): return "http://\(host):\(port)"
            }
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        /// The answer's headers, names lower-cased.
        public var headers: [String: String] = [:]

        public init(status: Int, body: [UInt8], headers: [String: String] = [:]) {
            self.status = status
            self.body = body
            self.headers = headers
        }

        /// The body as text (for messages).
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public let endpoint: Endpoint
    /// NIO's HTTP method, for callers that do not import NIOHTTP1.
    public typealias Method = HTTPMethod

    public init(_ endpoint: Endpoint) { self.endpoint = endpoint }

    /// The node's API socket in `dataDirectory`, if a node runs there: the file exists and is a socket. Throws
    /// `insecure` when it is not this user's, or others may connect to it (mode not 0600) — a socket someone
    /// else could have put there is never talked to.
    public static func runningNode(in dataDirectory: String) throws(InosError) -> APIClient? {
        let path = (dataDirectory as NSString).appendingPathComponent(API.socketName)
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw InosError(.insecure, "\(path) is not a socket; refusing to use it (remove it if no node runs on \(dataDirectory))")
        }
        guard info.st_uid == geteuid() else {
            throw InosError(.insecure, "\(path) belongs to uid \(info.st_uid), not to this user (uid \(geteuid())); refusing to talk to it")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw InosError(.insecure, "\(path) has mode \(String(info.st_mode & 0o777, radix: 8)): others may connect to it; expected 0600. Refusing to talk to it (restart the node to recreate it)")
        }
        let client = APIClient(.unixSocket(path: path))
        return client
    }

    // MARK: Requests

    /// Sends one request and reads the whole answer. Throws for a connection failure or a status ≥ 400 (the
    /// error carries the API's code and message).
    public func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, timeout: Duration = Self.answerTimeout) async throws(InosError) -> Response {
        let response = try await fetch(method, path, body: body, timeout: timeout)
        if response.status >= 400 { throw Self.failure(response.status, response.body) }
        return response
    }

    /// How long a whole answer (not a stream) may take: a node that accepts but never answers fails the command
    /// instead of hanging it.
    public static let answerTimeout: Duration = .seconds(120)

    /// Sends one request and reads the whole answer, whatever its status (throws only when no answer came in
    /// `timeout`).
    public func fetch(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers extra: [(String, String)] = [], timeout: Duration = Self.answerTimeout)
        async throws(InosError) -> Response
    {
        let result: Result<Response, InosError> = await withTaskGroup(of: Result<Response, InosError>?.self) { group in
            group.addTask {
                do throws(InosError) {
                    var chunks: [UInt8] = []
                    var fields: [String: String] = [:]
                    let status = try await exchange(method, path, body: body, extra: extra, fields: { fields = $0 }) { chunk in chunks += chunk }
                    return .success(Response(status: status, body: chunks, headers: fields))
                } catch { return .failure(error) }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(InosError(.timeout, "the node's API at \(endpoint) did not answer \(method) \(path) within \(timeout)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(InosError(.internal, "no answer"))
        }
        return try result.get()
    }

    /// Sends a JSON request and decodes a JSON answer.
    public func call<Answer: Decodable>(_ method: HTTPMethod, _ path: String, _ body: (some Encodable & Sendable)? = Optional<Acknowledged>.none, as: Answer.Type = Answer.self)
        async throws(InosError) -> Answer
    {
        var bytes: [UInt8]?
        if let body {
            do { bytes = Array(try API.encoder.encode(body)) } catch { throw InosError(.internal, "cannot encode the request", cause: error) }
        }
        let response = try await send(method, path, body: bytes)
        do { return try API.decoder.decode(Answer.self, from: Data(response.body)) } catch {
            throw InosError(.malformed, "the node's answer to \(method) \(path) does not decode: \(String(decoding: response.body.prefix(200), as: UTF8.self))", cause: error)
        }
    }

    /// Sends one request and hands each line of the answer (without its newline) to `line` as it arrives.
    /// Throws for a status ≥ 400.
    public func stream(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, line: @Sendable ([UInt8]) throws -> Void) async throws(InosError) {
        var pending: [UInt8] = []
        var errorBody: [UInt8] = []
        var failed = false
        var thrown: (any Error)?
        let status = try await exchange(method, path, body: body) { chunk in
            if failed || thrown != nil {
                errorBody += chunk
                return
            }
            pending += chunk
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let one = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if !one.isEmpty {
                    do { try line(one) } catch { thrown = error }
                }
            }
        } head: { status in
            failed = status >= 400
        }
        if status >= 400 { throw Self.failure(status, errorBody + pending) }
        if let thrown { throw InosError(.failed, "\(thrown)", cause: thrown) }
        if !pending.isEmpty { try? line(pending) }
    }

    private static func failure(_ status: Int, _ body: [UInt8]) -> InosError {
        if let answer = try? API.decoder.decode(APIErrorBody.self, from: Data(body)) {
            let detail = answer.error
            return InosError(code(detail.code), detail.message + (detail.causes.map { $0.isEmpty ? "" : " (" + $0.joined(separator: "; ") + ")" } ?? ""))
        }
        return InosError(.failed, "the node answered HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))")
    }

    /// The shared error code for an API code (the reverse of ``API/code(_:)``).
    public static func code(_ api: String) -> InosError.Code {
        switch api {
        case "invalid_argument": return .invalidArgument
        case "malformed": return .malformed
        case "not_found": return .notFound
        case "already_exists": return .alreadyExists
        case "no_space": return .noSpace
        case "corrupt": return .corrupt
        case "unsupported": return .unsupported
        case "unavailable": return .unavailable
        case "timeout": return .timeout
        case "refused": return .refused
        case "closed": return .closed
        case "insecure": return .insecure
        case "internal_error": return .internal
        case "i/o_error", "io": return .io
        default: return .failed
        }
    }

    // MARK: The exchange

    /// One request on a connection of its own; `chunk` gets the body's bytes as they come. Returns the status.
    private func exchange(
        _ method: HTTPMethod, _ path: String, body: [UInt8]?, extra: [(String, String)] = [], fields: ([String: String]) -> Void = { _ in },
        chunk: (ArraySlice<UInt8>) -> Void, head: (Int) -> Void = { _ in }
    ) async throws(InosError) -> Int {
        do {
            return try await exchangeThrowing(method, path, body: body, extra: extra, fields: fields, chunk: chunk, head: head)
        } catch let error as InosError {
            throw error
        } catch {
            throw InosError(.unavailable, "cannot reach the node's API at \(endpoint): \(error)", cause: error)
        }
    }

    private func exchangeThrowing(
        _ method: HTTPMethod, _ path: String, body: [UInt8]?, extra: [(String, String)], fields: ([String: String]) -> Void,
        chunk: (ArraySlice<UInt8>) -> Void, head: (Int) -> Void
    ) async throws -> Int {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(5))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        var headers = HTTPHeaders()
        switch endpoint {
        case .unixSocket(let socket):
            channel = try await bootstrap.connect(unixDomainSocketPath: socket, channelInitializer: initializer)
            headers.add(name: "Host", value: "localhost")
        case .tcp(let host, let port, let token):
            channel = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        headers.add(name: "Connection", value: "close")
        for (name, value) in extra { headers.add(name: name, value: value) }
        headers.add(name: "Accept", value: "application/json")
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.count)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            // The whole request in one write: a server that answers as soon as it has the head (a GET) and closes
            // must not find us still writing — a second write would fail with "I/O on closed channel" though the
            // answer is there to read. A write that fails anyway still lets the answer be read.
            var parts: [HTTPClientRequestPart] = [.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers))]
            if let body { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            do { try await outbound.write(contentsOf: parts) } catch {}
            var status = 0
            for try await part in inbound {
                switch part {
                case .head(let response):
                    status = Int(response.status.code)
                    fields(Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a }))
                    head(status)
                case .body(let buffer):
                    chunk(ArraySlice(buffer.readableBytesView))
                case .end:
                    return status
                }
            }
            guard status != 0 else { throw InosError(.closed, "the node closed the connection without answering \(method) \(path)") }
            return status
        }
    }
}
