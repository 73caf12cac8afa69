// SPDX-License-Identifier: Apache-2.0
//
// The process-level calls of the one syscall layer (memory, futex, clocks, loading, helper processes); file
// calls are in FileOperations.swift. EINTR is retried where the call is restartable and errno becomes a typed
// `SystemError`. Host, Identity, DataPath and the store plugins (which link this target statically, as they do
// PluginKit) call the C library for these only through here.
import CInosSystem
import Primitives

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = errno
            if code == EINTR { continue }
            throw SystemError(call: call, errno: code)
        }
        return result
    }
}

/// The corresponding C function is `memfd_create` (with `MFD_CLOEXEC`).
package func sysMemfdCreate(_ name: String) throws(SystemError) -> Int32 {
    try retryingEINTR("memfd_create") { cinos_memfd_create(name) }
}

/// The corresponding C function is `ftruncate`.
package func sysFtruncate(_ fd: Int32, _ size: Int) throws(SystemError) {
    _ = try retryingEINTR("ftruncate") { ftruncate(fd, off_t(size)) }
}

/// The corresponding C function is `close`. EINTR is not retried (Linux closes the descriptor anyway).
package func sysClose(_ fd: Int32) {
    _ = close(fd)
}

/// The corresponding C function is `mmap` with `PROT_READ | PROT_WRITE` and `MAP_SHARED`.
package func sysMapShared(fd: Int32, size: Int) throws(SystemError) -> UnsafeMutableRawPointer {
    guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), address != MAP_FAILED
    else { throw SystemError(call: "mmap", errno: errno) }
    return address
}

/// The corresponding C function is `munmap`.
package func sysUnmap(_ address: UnsafeMutableRawPointer, size: Int) {
    _ = munmap(address, size)
}

/// The corresponding system call is `futex(FUTEX_WAIT)`. Returns `false` on time-out.
/// A changed value (`EAGAIN`) or a signal (`EINTR`) counts as a wake-up: the caller re-checks its state.
package func sysFutexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanoseconds: Int64?)
    -> Bool
{
    if cinos_futex_wait(word, expected, timeoutNanoseconds ?? -1) == 0 { return true }
    return errno != ETIMEDOUT
}

/// The corresponding system call is `futex(FUTEX_WAKE)`.
package func sysFutexWake(_ word: UnsafeMutablePointer<UInt32>, count: Int32 = .max) {
    _ = cinos_futex_wake(word, count)
}

/// The corresponding C function is `clock_gettime(CLOCK_MONOTONIC)`.
package func sysMonotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPU time used by this whole process (all threads), in nanoseconds.
package func sysProcessCPUNanoseconds() -> UInt64 {
    cinos_process_cpu_ns()
}

/// A `dlopen` handle. Never closed: Swift images cannot be unloaded safely, so the host keeps every
/// plugin image mapped for the life of the process (see docs/plugin-abi.md, "Hot swap").
package struct LibraryHandle: @unchecked Sendable {  // an opaque, immutable address; dlsym is thread-safe
    package let raw: UnsafeMutableRawPointer
}

/// The corresponding C function is `dlopen(path, RTLD_NOW | RTLD_LOCAL)`; `dlerror()` becomes the message.
package func sysDlopen(_ path: String) -> Result<LibraryHandle, InosError> {
    _ = dlerror()
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
        return .failure(InosError(.failed, dlerror().map { String(cString: $0) } ?? "dlopen \(path) failed (no dlerror)"))
    }
    return .success(LibraryHandle(raw: handle))
}

/// The corresponding C function is `dlsym`. Looks only inside `handle` (never the global scope).
package func sysDlsym(_ handle: LibraryHandle, _ symbol: String) -> UnsafeMutableRawPointer? {
    _ = dlerror()
    return dlsym(handle.raw, symbol)
}


/// The corresponding C function is `usleep`.
package func sysSleep(microseconds: UInt32) {
    _ = usleep(microseconds)
}

/// Chunks are 1 MiB buffers allocated and freed by the thousand. glibc serves blocks that large with mmap and
/// returns them with munmap (and trims its heap), so every chunk would fault its pages in again — system time
/// that, on VMs that hand freed memory back to the host, costs more than hashing the chunk. This keeps blocks up
/// to 32 MiB in the heap and trims only beyond 256 MiB of free space. Call once at process start.
public func sysTuneAllocatorForChunks() {
    cinos_tune_allocator(32 << 20, 256 << 20)
}

// MARK: Mappings of another process' arena

/// The corresponding C function is `mmap` with `PROT_READ` and `MAP_SHARED`.
package func sysMapSharedReadOnly(fd: Int32, size: Int) throws(SystemError) -> UnsafeMutableRawPointer {
    guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED
    else { throw SystemError(call: "mmap", errno: errno) }
    return address
}

/// The corresponding C function is `mprotect` with `PROT_READ | PROT_WRITE`. `address` is page-aligned.
package func sysProtectReadWrite(_ address: UnsafeMutableRawPointer, length: Int) throws(SystemError) {
    guard mprotect(address, length, PROT_READ | PROT_WRITE) == 0 else {
        throw SystemError(call: "mprotect", errno: errno)
    }
}

/// The size of the file behind `fd` (`fstat`'s `st_size`).
package func sysFileSize(_ fd: Int32) throws(SystemError) -> Int {
    var info = stat()
    _ = try retryingEINTR("fstat") { fstat(fd, &info) }
    return Int(info.st_size)
}

/// The system's page size (`sysconf(_SC_PAGESIZE)`).
package var sysPageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

// MARK: Helper processes

/// The corresponding C function is `pipe2` with `O_CLOEXEC`. Returns (read end, write end).
package func sysPipe() throws(SystemError) -> (read: Int32, write: Int32) {
    var ends: [Int32] = [-1, -1]
    _ = try retryingEINTR("pipe2") { cinos_pipe_cloexec(&ends) }
    return (ends[0], ends[1])
}

/// The corresponding C function is `read`, retried on EINTR. Returns the bytes read (0 at end of file).
package func sysRead(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
    try retryingEINTR("read") { read(fd, buffer.baseAddress, buffer.count) }
}

/// The corresponding C function is `posix_spawn`, set up as `cinos_spawn` describes: default signal
/// dispositions, an own process group, stdin from /dev/null, stdout to stderr, and `fds[i]` as descriptor
/// `firstTarget + i` in the child (every other descriptor from there on closed).
package func sysSpawn(
    _ path: String, arguments: [String], environment: [String: String], passing fds: [Int32], firstTarget: Int32
) throws(SystemError) -> Int32 {
    func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
    let argv = cStrings([path] + arguments)
    let envp = cStrings(environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
    defer { for pointer in argv + envp { free(pointer) } }
    var pid: Int32 = 0
    let status = fds.withUnsafeBufferPointer { list in
        cinos_spawn(path, argv, envp, list.baseAddress, Int32(list.count), firstTarget, &pid)
    }
    guard status == 0 else { throw SystemError(call: "posix_spawn", errno: errno) }
    return pid
}

/// How a child process ended.
package enum ChildTermination: Hashable, Sendable {
    case exited(Int32)
    case signaled(Int32)
}

/// The corresponding C function is `waitpid`, retried on EINTR. With `blocking: false` (`WNOHANG`), `nil`
/// means the child is still running.
package func sysWaitChild(_ pid: Int32, blocking: Bool) throws(SystemError) -> ChildTermination? {
    var status: Int32 = 0
    let reaped = try retryingEINTR("waitpid") { waitpid(pid, &status, blocking ? 0 : WNOHANG) }
    guard reaped == pid else { return nil }
    // The W* macros of <sys/wait.h> are not imported into Swift; this is their glibc definition.
    let signal = status & 0x7f
    return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
}

/// The corresponding C function is `kill`. A process that is already gone is not an error.
package func sysKill(_ pid: Int32, _ signal: Int32) {
    _ = kill(pid, signal)
}

/// The corresponding C functions are `getpid` and `getppid`.
package var sysProcessID: Int32 { getpid() }
package var sysParentProcessID: Int32 { getppid() }

/// The corresponding C function is `_exit`: ends the process at once, without atexit handlers.
package func sysExitImmediately(_ status: Int32) -> Never {
    _exit(status)
}

/// A signal as people read it: its name and the C library's description, e.g. "SIGSEGV (Segmentation fault)".
/// The corresponding C function is `strsignal`.
package func sysSignalDescription(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
    ]
    let description = strsignal(signal).map { String(cString: $0) } ?? "unknown signal"
    return "\(names[signal] ?? "signal \(signal)") (\(description))"
}
