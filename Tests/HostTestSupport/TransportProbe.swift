// SPDX-License-Identifier: Apache-2.0
import Foundation
import Host
import Synchronization

/// Drains a host's inbox of transport records from a background thread, copying each frame out of the
/// arena (and freeing its block), so tests can wait for what arrived.
public final class TransportProbe: Sendable {
    public enum Event: Sendable, Equatable {
        case frame(connection: UInt64, bytes: [UInt8])
        case opened(connection: UInt64, inbound: Bool, peer: String)
        case closed(connection: UInt64, reason: Int32, inbound: Bool, peer: String)
        case writable(connection: UInt64)
    }

    public let host: HostRuntime
    private let events = Mutex<[Event]>([])
    private let running = Atomic<Bool>(true)
    private let paused = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    public init(_ host: HostRuntime) {
        self.host = host
        Thread { [self] in
            while running.load(ordering: .acquiring) {
                if paused.load(ordering: .acquiring) {
                    usleep(1_000)
                    continue
                }
                let count = host.inbox.drain(limit: 256) { type, payload in
                    guard let record = TransportRecord(type: type, payload: payload) else { return }
                    let event: Event
                    switch record {
                    case .frame(let connection, let offset, let length):
                        let bytes = Array(UnsafeRawBufferPointer(start: host.arena.base + offset, count: length))
                        _ = host.arena.heap.free(offset)
                        event = .frame(connection: connection, bytes: bytes)
                    case .opened(let connection, let inbound, let peer): event = .opened(connection: connection, inbound: inbound, peer: peer)
                    case .closed(let connection, let reason, let inbound, let peer):
                        event = .closed(connection: connection, reason: reason, inbound: inbound, peer: peer)
                    case .writable(let connection): event = .writable(connection: connection)
                    }
                    events.withLock { $0.append(event) }
                }
                if count == 0 { usleep(200) }
            }
            done.signal()
        }.start()
    }

    /// Stops draining (the inbox fills up) or resumes.
    public func pause(_ flag: Bool) { paused.store(flag, ordering: .releasing) }

    public var all: [Event] { events.withLock { $0 } }

    public var frames: [(connection: UInt64, bytes: [UInt8])] {
        all.compactMap { if case .frame(let c, let b) = $0 { (c, b) } else { nil } }
    }

    /// Waits until `predicate` holds for the events so far; false on timeout.
    @discardableResult
    public func wait(seconds: Double = 10, until predicate: ([Event]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(all) { return true }
            usleep(1_000)
        }
        return predicate(all)
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        done.wait()
    }
}
