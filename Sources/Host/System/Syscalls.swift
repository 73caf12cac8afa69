// SPDX-License-Identifier: Apache-2.0
//
// Every C call of the host goes through this file: EINTR is retried where the call is restartable and
// errno becomes a typed `SystemError`. Nothing else in Host calls Glibc for I/O, memory or loading.
import CInosSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@inline(__always)
private func retryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
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
package func sysDlopen(_ path: String) -> Result<LibraryHandle, DynamicLoaderError> {
    _ = dlerror()
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
        return .failure(DynamicLoaderError(message: dlerror().map { String(cString: $0) } ?? "unknown error"))
    }
    return .success(LibraryHandle(raw: handle))
}

/// The corresponding C function is `dlsym`. Looks only inside `handle` (never the global scope).
package func sysDlsym(_ handle: LibraryHandle, _ symbol: String) -> UnsafeMutableRawPointer? {
    _ = dlerror()
    return dlsym(handle.raw, symbol)
}

/// A message from the dynamic loader (`dlerror()`).
package struct DynamicLoaderError: Error {
    package var message: String
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
