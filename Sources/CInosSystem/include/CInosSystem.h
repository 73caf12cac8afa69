// SPDX-License-Identifier: Apache-2.0
//
// Thin C shims for system calls Swift cannot reach directly (variadic syscall(), GNU-only declarations).
// Each returns 0 or -1 with errno set, like the call it wraps. Swift code reaches them only through
// Sources/Host/System/Syscalls.swift.
#ifndef CINOS_SYSTEM_H
#define CINOS_SYSTEM_H

#include <stdint.h>

/** The corresponding system call is `memfd_create(2)` with MFD_CLOEXEC. */
int cinos_memfd_create(const char *name);

/**
 * The corresponding system call is `futex(2)` FUTEX_WAIT (shared, so it works across processes mapping
 * the same memfd). Sleeps while *word == expected; timeout_ns < 0 waits forever. Returns 0 on wake,
 * -1 with errno EAGAIN (value changed), ETIMEDOUT or EINTR.
 */
int cinos_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);

/** The corresponding system call is `futex(2)` FUTEX_WAKE. Returns the number of woken waiters or -1. */
int cinos_futex_wake(uint32_t *word, int32_t count);

/** Thread CPU time consumed by this process so far, in nanoseconds (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t cinos_process_cpu_ns(void);

/**
 * Keeps blocks up to mmap_threshold bytes in the malloc heap (not mmap/munmap per allocation) and trims the heap
 * only beyond trim_threshold free bytes: chunk-sized buffers are then reused instead of faulted in again.
 */
void cinos_tune_allocator(int mmap_threshold, int trim_threshold);

#endif
