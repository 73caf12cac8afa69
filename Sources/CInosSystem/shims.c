// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "CInosSystem.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int cinos_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int cinos_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, NULL, 0);
    return r == 0 ? 0 : -1;
}

int cinos_futex_wake(uint32_t *word, int32_t count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return (int)r;
}

int32_t cinos_gettid(void) { return (int32_t)syscall(SYS_gettid); }

uint64_t cinos_process_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cinos_tune_allocator(int mmap_threshold, int trim_threshold) {
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

int cinos_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }

int cinos_syncfs(int fd) { return syncfs(fd); }

int cinos_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)length, SYNC_FILE_RANGE_WRITE);
}

int cinos_spawn(const char *path, char *const argv[], char *const envp[], const int *fds, int fd_count,
                int first_target, int32_t *out_pid) {
    for (int i = 0; i < fd_count; i++) {
        if (fds[i] < 0 || fds[i] >= first_target) {
            errno = EINVAL;
            return -1;
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        errno = rc;
        return -1;
    }
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &none);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attributes, 0);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attributes,
                                      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, 2, 1);
    /* dup2 clears close-on-exec on the target, so the sources may (and should) be O_CLOEXEC. */
    for (int i = 0; rc == 0 && i < fd_count; i++) rc = posix_spawn_file_actions_adddup2(&actions, fds[i], first_target + i);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, first_target + fd_count);
#endif
    pid_t pid = 0;
    if (rc == 0) rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    *out_pid = (int32_t)pid;
    return 0;
}
