// SPDX-License-Identifier: Apache-2.0
import Identity
import Synchronization
import Wire

/// A message that arrived in a session, as a service's handler sees it.
///
/// Its payload is either an array of its own or, for a registration that reads in place
/// (``FrameRegistration/readsInPlace``), the received arena block itself: ``withPayload(_:)`` reads it there,
/// and ``payload`` copies it out only when a handler asks for an array.
public struct InboundFrame: Sendable {
    public var type: FrameType
    public var requestID: UInt64
    public var connection: UInt64
    /// The node the session authenticated.
    public var peer: NodeID
    private var storage: Storage

    enum Storage: Sendable {
        case bytes([UInt8])
        /// The decrypted message in its arena block, owned by the box (freed when the last copy of the frame goes).
        case block(ReceivedBlock)
    }

    public init(type: FrameType, requestID: UInt64, payload: [UInt8], connection: UInt64, peer: NodeID) {
        self.init(type: type, requestID: requestID, storage: .bytes(payload), connection: connection, peer: peer)
    }

    init(type: FrameType, requestID: UInt64, storage: Storage, connection: UInt64, peer: NodeID) {
        self.type = type
        self.requestID = requestID
        self.storage = storage
        self.connection = connection
        self.peer = peer
    }

    /// The payload as an array. For a frame read in place this copies it out of the arena block (counted in
    /// ``PeerLayer/ReceiveCopies``): a handler on the zero-copy path uses ``withPayload(_:)``.
    public var payload: [UInt8] {
        get {
            switch storage {
            case .bytes(let bytes): bytes
            case .block(let box): box.withPayload { PeerLayer.ReceiveCopies.copy($0) }
            }
        }
        set { storage = .bytes(newValue) }
    }

    /// Calls `body` with the payload where it is: in the arena block for a frame read in place.
    /// - warning: the buffer is valid only inside `body`.
    public func withPayload<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .bytes(let bytes):
            var outcome: Result<R, E>!
            bytes.withUnsafeBytes { raw in
                do throws(E) { outcome = .success(try body(raw)) } catch { outcome = .failure(error) }
            }
            return try outcome.get()
        case .block(let box):
            return try box.withPayload(body)
        }
    }
}

/// Where a frame's handler runs. The reactor is for handlers that only touch memory and never wait; every
/// other lane is a ``WorkerPool`` of the node's own, so that no kind of work starves another.
public enum Lane: Sendable, Hashable, CustomStringConvertible {
    /// On the reactor thread, inline.
    case reactor
    /// Small answers from memory or one file lookup (HAVE, RELEASE, LEDGER).
    case control
    /// Reading or writing a chunk's bytes (CHUNK_GET, STORE, CHALLENGE).
    case bulk
    /// Jobs, which may run for minutes (JOB_RUN).
    case compute
    /// Anti-entropy, one sync at a time.
    case background

    public var description: String {
        switch self {
        case .reactor: "reactor"
        case .control: "control"
        case .bulk: "bulk"
        case .compute: "compute"
        case .background: "background"
        }
    }
}

/// What a module declares for one frame type it owns (docs/wire.md lists them all with their owners).
public struct FrameRegistration: Sendable {
    public enum Kind: Sendable {
        /// Carries a request id; the handler answers (or the peer layer answers ERROR for it).
        case request
        /// No answer expected (request id 0).
        case oneWay
        /// Answers a request this node sent: matched by the request router, no handler.
        case response
    }

    public var type: FrameType
    /// The protocol name, as docs/wire.md spells it (`CHUNK_GET`).
    public var name: String
    /// The service that registered it (for errors and the overlap check).
    public var owner: String
    public var kind: Kind
    public var lane: Lane
    /// Throwing closes the connection on the reactor (the peer sent something malformed); on a lane it answers
    /// ERROR `malformed`.
    public var handler: (@Sendable (InboundFrame) throws(MeshError) -> Void)?
    /// The handler reads the payload with ``InboundFrame/withPayload(_:)`` and keeps nothing of the frame
    /// after it returns: the peer layer hands it the received arena block instead of a copy — moved to the
    /// lane within the lane's byte budget (``PeerLayer/inPlaceBudgetFraction``), copied past it.
    public var readsInPlace: Bool

    public init(_ type: FrameType, _ name: String, owner: String, kind: Kind, lane: Lane = .reactor, readsInPlace: Bool = false,
                handler: (@Sendable (InboundFrame) throws(MeshError) -> Void)? = nil) {
        precondition((kind == .response) == (handler == nil), "\(name): a response has no handler; requests and one-way frames need one")
        self.type = type
        self.name = name
        self.owner = owner
        self.kind = kind
        self.lane = lane
        self.readsInPlace = readsInPlace
        self.handler = handler
    }

    /// A response type: finishes the request it answers.
    public static func response(_ type: FrameType, _ name: String, owner: String) -> FrameRegistration {
        FrameRegistration(type, name, owner: owner, kind: .response)
    }
}

/// The frame types this node serves, each registered once by the module that owns it. It replaces a closed
/// `switch` over every type in the peer layer: a new protocol registers its types and handlers, and the peer
/// layer never names them.
public final class FrameRegistry: Sendable {
    private let table = Mutex<[FrameType: FrameRegistration]>([:])
    private let unknownCount = Atomic<Int>(0)

    init() {}

    /// Registers `registration`. A type registered twice is a programming error (two modules claim one value),
    /// except the same response declared again: every part of a module that sends requests declares the answers
    /// it expects (a client and a server of one protocol may share a node).
    public func register(_ registration: FrameRegistration) {
        let added = table.withLock { table -> Bool in
            if let existing = table[registration.type] {
                if existing.kind == .response, registration.kind == .response, existing.name == registration.name, existing.owner == registration.owner {
                    return false  // declared again (each request of a client does): nothing to do
                }
                preconditionFailure("frame type 0x\(String(registration.type.rawValue, radix: 16)) registered by \(registration.owner) (\(registration.name)) is already \(existing.owner)'s \(existing.name)")
            }
            table[registration.type] = registration
            return true
        }
        if added { FrameType.name(registration.type, registration.name) }
    }

    /// Registers each of `registrations`.
    public func register(_ registrations: [FrameRegistration]) { for registration in registrations { register(registration) } }

    func lookup(_ type: FrameType) -> FrameRegistration? { table.withLock { $0[type] } }

    /// Drops every handler, keeping the registrations (names, kinds): for a peer layer that stopped for good.
    /// Handlers capture the services that own the peer layer (and `reply` captures the layer itself), so while
    /// the table holds them a stopped node's whole object graph stays alive — LeakSanitizer found every `inos`
    /// process ending with its peer layer and services unreachable but not freed. A frame that still arrives
    /// finds no handler and is dropped like a late answer; the node serves nothing more.
    func dropHandlers() {
        table.withLock { table in
            for type in table.keys { table[type]?.handler = nil }
        }
    }

    /// Every registration, by type value.
    public var registrations: [FrameRegistration] { table.withLock { $0.values.sorted { $0.type.rawValue < $1.type.rawValue } } }

    /// Frames of types nobody registered: answered ERROR `unknownType` when they were requests, dropped otherwise.
    public var unknownFrames: Int { unknownCount.load(ordering: .relaxed) }
    func countUnknown() { unknownCount.add(1, ordering: .relaxed) }
}
