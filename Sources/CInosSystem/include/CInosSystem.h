// SPDX-License-Identifier: Apache-2.0
//
// Thin C shims for system calls Swift cannot reach directly (variadic syscall(), GNU-only declarations).
// Each returns 0 or -1 with errno set, like the call it wraps. Swift code reaches them only through
// Sources/InosSystem (the one syscall layer).
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

/** The corresponding system call is `gettid(2)`: the calling thread's kernel ID. */
int32_t cinos_gettid(void);

/** Thread CPU time consumed by this process so far, in nanoseconds (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t cinos_process_cpu_ns(void);

/**
 * Keeps blocks up to mmap_threshold bytes in the malloc heap (not mmap/munmap per allocation) and trims the heap
 * only beyond trim_threshold free bytes: chunk-sized buffers are then reused instead of faulted in again.
 */
void cinos_tune_allocator(int mmap_threshold, int trim_threshold);

/** The corresponding system call is `pipe2(2)` with O_CLOEXEC: ends[0] reads, ends[1] writes. */
int cinos_pipe_cloexec(int ends[2]);

/**
 * The corresponding C function is `posix_spawn(3)`, set up for a helper process of the node (an isolated
 * job runner): every signal at its default disposition and none blocked, its own process group (so a
 * terminal's Ctrl-C reaches the node, which decides), standard input from /dev/null, standard output sent
 * to standard error (the node's standard output may carry a job's result), and `fds[i]` available in the
 * child as descriptor `first_target + i`. Every other descriptor from `first_target + fd_count` up is closed.
 * `first_target` must be above every entry of `fds`, so no mapping overwrites another's source.
 * Returns 0 and the child's pid in *out_pid, or -1 with errno set.
 */
int cinos_spawn(const char *path, char *const argv[], char *const envp[], const int *fds, int fd_count,
                int first_target, int32_t *out_pid);

/** The corresponding system call is `syncfs(2)` (a GNU extension the Glibc module does not declare). */
int cinos_syncfs(int fd);

/**
 * The corresponding system call is `sync_file_range(2)` with SYNC_FILE_RANGE_WRITE: starts writeback of a
 * file range without waiting for it. Durability still needs fdatasync.
 */
int cinos_start_writeback(int fd, int64_t offset, int64_t length);

#endif
