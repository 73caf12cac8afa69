// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Primitives
import ServiceLifecycle
import Synchronization

extension DashboardFeed {
    /// Seconds between two snapshots of the event stream.
    static let eventInterval: Duration = .seconds(1)
    /// A stream ends after this long (the browser's EventSource reconnects at once), so no connection is held
    /// for ever.
    static let streamLifetime: Duration = .seconds(600)

    /// `GET /v1/events`: `text/event-stream`, one `snapshot` event a second (``Snapshot`` as JSON). At most
    /// ``subscriberLimit`` streams at once, more are answered 503; a stream ends when its client goes, the node
    /// shuts down, or after ``streamLifetime``.
    func events() throws -> Response {
        guard subscribers.add(1, ordering: .relaxed).newValue <= Self.subscriberLimit else {
            subscribers.subtract(1, ordering: .relaxed)
            throw APIFailure(InosError(.unavailable, "\(Self.subscriberLimit) event streams are open on this node; close one"), status: .serviceUnavailable)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { [self] writer in
                defer { subscribers.subtract(1, ordering: .relaxed) }
                // The node's shutdown ends the stream within one interval (the server then finishes the answer).
                let stopping = StopFlag()
                await withGracefulShutdownHandler {
                    let end = ContinuousClock.now + Self.streamLifetime
                    do {
                        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                        while !stopping.value.load(ordering: .relaxed) && !Task.isCancelled && ContinuousClock.now < end {
                            var buffer = ByteBuffer(string: "event: snapshot\ndata: ")
                            buffer.writeBytes(try API.encoder.encode(snapshot()))
                            buffer.writeString("\n\n")
                            try await writer.write(buffer)
                            try await Task.sleep(for: Self.eventInterval)
                        }
                    } catch {
                        // The client went away (or the node is stopping): nothing more to send.
                    }
                } onGracefulShutdown: {
                    stopping.value.store(true, ordering: .relaxed)
                }
                try? await writer.finish(nil)
            })
    }
}

/// Set once the node shuts down (shared with the shutdown handler, which may run on another task).
final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}
