// SPDX-License-Identifier: Apache-2.0
import InosSystem
import PluginABI
import Primitives

/// The node's one shared memory region: header, switchboard, inbox and outbox rings, payload heap.
///
/// Backed by a memfd so another process (an isolated job runner) can map the same pages. The arena owns
/// the descriptor and the mapping and releases both when it is deinitialised; everything else borrows.
/// Records and manifest slots refer to payloads by offset from ``base``, never by pointer.
///
/// - Note: `@unchecked Sendable`: the mapping is shared on purpose. Every mutable region has its own
///   synchronisation — rings and the switchboard use atomics, the heap a mutex.
public final class Arena: @unchecked Sendable {
    /// Start of the mapping in this process.
    public let base: UnsafeMutableRawPointer
    /// Bytes mapped.
    public let size: Int
    /// The memfd backing the mapping (share it with a child process to map the same arena).
    public let fileDescriptor: Int32
    public let configuration: ArenaConfiguration
    let layout: ArenaLayout

    /// The payload heap allocator.
    public let heap: PayloadHeap
    /// Host→node work and received frames.
    public let inbox: Ring
    /// Results and frames to send.
    public let outbox: Ring
    /// Atomic flags, futex event word, backpressure and manifest slots.
    public let switchboard: Switchboard

    /// Creates and maps a new arena and initialises every region.
    /// - Throws: ``ArenaError`` for a bad configuration or a failed system call.
    public init(configuration: ArenaConfiguration = ArenaConfiguration(), name: String = "inos-arena") throws {
        let problems = configuration.problems()
        guard problems.isEmpty, let layout = ArenaLayout(configuration) else {
            throw ArenaError.invalidConfiguration(problems)
        }
        let fd: Int32
        let base: UnsafeMutableRawPointer
        do throws(SystemError) {
            fd = try sysMemfdCreate(name)
            do throws(SystemError) {
                try sysFtruncate(fd, layout.totalSize)
                base = try sysMapShared(fd: fd, size: layout.totalSize)
            } catch {
                sysClose(fd)
                throw error
            }
        } catch {
            throw ArenaError.system(error)
        }
        self.base = base
        self.size = layout.totalSize
        self.fileDescriptor = fd
        self.configuration = configuration
        self.layout = layout

        let header = base.assumingMemoryBound(to: inos_arena_header.self)
        header.pointee = inos_arena_header()
        header.pointee.magic = INOS_ARENA_MAGIC
        header.pointee.version = INOS_ARENA_LAYOUT_VERSION
        header.pointee.header_size = UInt32(MemoryLayout<inos_arena_header>.size)
        header.pointee.features = INOS_ARENA_FEATURE_FUTEX
        header.pointee.total_size = UInt64(layout.totalSize)
        header.pointee.switchboard_offset = UInt64(layout.switchboardOffset)
        header.pointee.switchboard_size = UInt64(layout.switchboardSize)
        header.pointee.inbox_offset = UInt64(layout.inboxOffset)
        header.pointee.inbox_size = UInt64(layout.inboxSize)
        header.pointee.outbox_offset = UInt64(layout.outboxOffset)
        header.pointee.outbox_size = UInt64(layout.outboxSize)
        header.pointee.heap_offset = UInt64(layout.heapOffset)
        header.pointee.heap_size = UInt64(layout.heapSize)

        self.switchboard = Switchboard(
            base.advanced(by: layout.switchboardOffset).assumingMemoryBound(to: inos_switchboard.self),
            highPermille: configuration.watermarksPermille.high, lowPermille: configuration.watermarksPermille.low)
        self.inbox = Ring(
            initializing: base.advanced(by: layout.inboxOffset).assumingMemoryBound(to: inos_ring.self),
            capacity: configuration.inboxCapacity)
        self.outbox = Ring(
            initializing: base.advanced(by: layout.outboxOffset).assumingMemoryBound(to: inos_ring.self),
            capacity: configuration.outboxCapacity)
        self.heap = PayloadHeap(offset: layout.heapOffset, size: layout.heapSize)
    }

    /// Takes over a mapping made elsewhere (``Arena/init(attaching:writable:heapLease:)``); owns it from here.
    init(
        mapped base: UnsafeMutableRawPointer, size: Int, fileDescriptor: Int32, configuration: ArenaConfiguration,
        layout: ArenaLayout, heap: PayloadHeap, inbox: Ring, outbox: Ring, switchboard: Switchboard
    ) {
        self.base = base
        self.size = size
        self.fileDescriptor = fileDescriptor
        self.configuration = configuration
        self.layout = layout
        self.heap = heap
        self.inbox = inbox
        self.outbox = outbox
        self.switchboard = switchboard
    }

    deinit {
        sysUnmap(base, size: size)
        sysClose(fileDescriptor)
    }

    /// The header as written at offset 0.
    public var header: inos_arena_header {
        base.assumingMemoryBound(to: inos_arena_header.self).pointee
    }

    /// Calls `body` with the bytes of a heap block.
    /// - warning: the buffer is valid only inside `body` and only while the block stays allocated.
    /// - Precondition: `offset..<offset+length` lies inside the arena.
    public func withBytes<R, E: Error>(
        at offset: Int, length: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(offset >= 0 && length >= 0 && offset + length <= size, "arena range out of bounds")
        return try body(UnsafeMutableRawBufferPointer(start: base.advanced(by: offset), count: length))
    }
}

/// Why an arena could not be created.
public enum ArenaError: CodedError {
    case invalidConfiguration([String])
    case system(SystemError)

    public var code: InosError.Code {
        switch self {
        case .invalidConfiguration: .invalidArgument
        case .system(let error): error.isNoSpace ? .noSpace : .io
        }
    }

    public var message: String {
        switch self {
        case .invalidConfiguration(let problems): "invalid arena configuration: " + problems.joined(separator: "; ")
        case .system: "cannot create the arena"
        }
    }

    public var cause: (any Error)? {
        if case .system(let error) = self { return error }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidConfiguration(let problems): "invalid arena configuration: " + problems.joined(separator: "; ")
        case .system(let error): "cannot create the arena: \(error)"
        }
    }
}
