// SPDX-License-Identifier: Apache-2.0
//
// Fault injection for the file calls, in the style of swift-system's Internals/Mocking.swift: a driver kept in
// thread-local storage for the length of a closure, consulted by every file call of this layer, so a test can
// make any read, write or sync fail with a chosen errno (EIO, ENOSPC, ...) by path or by call count, and can
// record the writes and syncs a store makes (the crash-consistency tests replay them). Compiled in only when
// INOS_FAULT_INJECTION is defined (debug builds, see Package.swift); a release build pays nothing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kinds of file call a fault can be injected into.
package enum SystemOperation: String, Hashable, Sendable, CaseIterable {
    case open, read, write, sync, truncate, rename, unlink, makeDirectory, list, statfs, lock
}

/// One rule: calls of `operations` on a path containing `path` (any path when nil) fail with `errno`, after
/// letting `after` matching calls through, `times` times (every time when nil).
package struct SystemFault: Sendable, Hashable {
    package var operations: Set<SystemOperation>
    package var path: String?
    package var errno: Int32
    package var after: Int
    package var times: Int?
    /// Matching calls seen and failures injected so far.
    package fileprivate(set) var seen = 0
    package fileprivate(set) var failed = 0

    package init(_ operations: Set<SystemOperation>, errno: Int32, path: String? = nil, after: Int = 0, times: Int? = nil) {
        self.operations = operations
        self.path = path
        self.errno = errno
        self.after = after
        self.times = times
    }
}

/// What a recording driver saw, in call order. Descriptors identify files (a file renamed while open keeps
/// its descriptor); paths are as the caller passed them.
package enum SystemEvent: Hashable, Sendable {
    /// `created`: the call made a new file (it did not exist before); `truncated`: O_TRUNC emptied it.
    case opened(fd: Int32, path: String, created: Bool, truncated: Bool, directory: Bool)
    case wrote(fd: Int32, offset: UInt64, bytes: [UInt8])
    /// `fsync` or `fdatasync` (of a file: its data and size; of a directory: the names in it).
    case synced(fd: Int32)
    case truncated(fd: Int32, size: UInt64)
    case renamed(from: String, to: String)
    case linked(from: String, to: String)
    case unlinked(String)
    case madeDirectory(String)
    case closed(fd: Int32)
    /// A label the test put in the trace (``SystemFaults/mark(_:)``), e.g. "put 7 returned".
    case mark(String)
}

/// The fault-injection driver of the calling thread. Not Sendable: it belongs to the thread that installed it.
package final class SystemFaults {
    package var faults: [SystemFault]
    /// Whether calls are appended to ``events`` (writes with a copy of their bytes).
    package var records: Bool
    package private(set) var events: [SystemEvent] = []
    /// Failures injected so far, by all rules.
    package private(set) var injected = 0

    init(faults: [SystemFault], records: Bool) {
        self.faults = faults
        self.records = records
    }

    /// True when this build has the hook (debug builds); without it ``withFaults(_:recording:_:)`` traps.
    package static var isAvailable: Bool {
        #if INOS_FAULT_INJECTION
        true
        #else
        false
        #endif
    }

    /// Runs `body` with a driver installed on this thread: file calls this thread makes meanwhile consult
    /// `faults` and, with `recording`, are traced. The previous driver (if any) is restored afterwards.
    package static func withFaults<R, E: Error>(
        _ faults: [SystemFault] = [], recording: Bool = false, _ body: (SystemFaults) throws(E) -> R
    ) throws(E) -> R {
        #if INOS_FAULT_INJECTION
        let driver = SystemFaults(faults: faults, records: recording)
        let prior = pthread_getspecific(driverKey)
        pthread_setspecific(driverKey, Unmanaged.passUnretained(driver).toOpaque())
        defer {
            pthread_setspecific(driverKey, prior)
            withExtendedLifetime(driver) {}
        }
        return try body(driver)
        #else
        fatalError("fault injection is compiled only into builds with INOS_FAULT_INJECTION (debug builds)")
        #endif
    }

    /// Adds a label to the trace.
    package func mark(_ label: String) {
        if records { events.append(.mark(label)) }
    }

    /// The errno to fail a call with, if a rule says so; counts the call against every matching rule.
    func check(_ operation: SystemOperation, _ path: String) -> Int32? {
        var chosen: Int32?
        for i in faults.indices where faults[i].operations.contains(operation) {
            if let fragment = faults[i].path, !path.contains(fragment) { continue }
            faults[i].seen += 1
            guard chosen == nil, faults[i].seen > faults[i].after else { continue }
            if let times = faults[i].times, faults[i].failed >= times { continue }
            faults[i].failed += 1
            chosen = faults[i].errno
        }
        if chosen != nil { injected += 1 }
        return chosen
    }

    func record(_ event: @autoclosure () -> SystemEvent) {
        if records { events.append(event()) }
    }

    /// The driver of the calling thread, if one is installed (always nil in builds without the hook).
    @inline(__always)
    static var current: SystemFaults? {
        #if INOS_FAULT_INJECTION
        guard let raw = pthread_getspecific(driverKey) else { return nil }
        return Unmanaged<SystemFaults>.fromOpaque(raw).takeUnretainedValue()
        #else
        return nil
        #endif
    }
}

#if INOS_FAULT_INJECTION
// Created once by the lazy initialiser, then only read.
private let driverKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create")
    return key
}()
#endif

/// Throws the injected failure for `operation` on `path`, if the thread's driver has one.
@inline(__always)
func injectFault(_ operation: SystemOperation, _ call: String, _ path: String) throws(SystemError) {
    #if INOS_FAULT_INJECTION
    if let driver = SystemFaults.current, let code = driver.check(operation, path) {
        throw SystemError(call: call, errno: code, path: path)
    }
    #endif
}

/// Appends an event to the thread's trace, if it records.
@inline(__always)
func recordEvent(_ event: @autoclosure () -> SystemEvent) {
    #if INOS_FAULT_INJECTION
    SystemFaults.current?.record(event())
    #endif
}

/// Whether the thread's driver records (so callers compute what an event needs only then).
@inline(__always)
var recordingEvents: Bool {
    #if INOS_FAULT_INJECTION
    SystemFaults.current?.records ?? false
    #else
    false
    #endif
}
