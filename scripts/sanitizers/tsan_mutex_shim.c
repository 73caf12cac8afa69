// SPDX-License-Identifier: Apache-2.0
//
// ThreadSanitizer runs only (scripts/test-sanitized.sh thread loads this with LD_PRELOAD): makes the Swift
// standard library's `Synchronization.Mutex` visible to TSan when it is contended.
//
// Why: on Linux, `Mutex.withLock` inlines its fast paths (a compare-exchange on the lock word, acquiring to
// lock, releasing to unlock) into the caller, so in instrumented code TSan sees them as atomics and records
// the happens-before edge. The contended paths, `_MutexHandle._lockSlow` / `_unlockSlow` / `_tryLockSlow`,
// live in libswiftSynchronization.so, which is not instrumented: they spin with plain `lock cmpxchg` and
// hand the lock over with FUTEX_LOCK_PI / FUTEX_UNLOCK_PI, where the kernel writes the owner. TSan sees
// neither side, so every access under a Mutex that was contended once is reported as a race with the
// previous holder's accesses (false positives: the lock did order them).
//
// What this does: interposes the three slow-path entry points, calls the real ones (dlsym RTLD_NEXT), and
// tells TSan what they did: `__tsan_release(lock word)` before an unlock that goes to the kernel,
// `__tsan_acquire(lock word)` after a slow lock (or successful slow try-lock) returns. The address is the
// lock word the inlined fast paths use, so both paths synchronise on the same TSan sync object. Nothing
// else changes: the real implementation still does the locking.
//
// Built without -fsanitize (its own few accesses need no checking); the TSan entry points are weak so a
// process without TSan that inherits LD_PRELOAD (a compiler, a shell) is unaffected.
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SWIFTCALL __attribute__((swiftcall))
// Clang's swift_context is LLVM's swiftself (r13 on x86-64): where Swift passes `self` of these methods.
#define SWIFT_SELF __attribute__((swift_context))

extern void __tsan_acquire(void *addr) __attribute__((weak));
extern void __tsan_release(void *addr) __attribute__((weak));

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"

typedef SWIFTCALL void (*lock_slow_fn)(uint32_t self_id, void *SWIFT_SELF handle);
typedef SWIFTCALL void (*unlock_slow_fn)(void *SWIFT_SELF handle);
typedef SWIFTCALL bool (*try_lock_slow_fn)(void *SWIFT_SELF handle);

static void *real(void **cache, const char *name) {
    void *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (fn) return fn;
    fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "tsan_mutex_shim: %s not found after this library\n", name);
        abort();
    }
    __atomic_store_n(cache, fn, __ATOMIC_RELEASE);
    return fn;
}

static void *lock_slow_real, *unlock_slow_real, *try_lock_slow_real;

SWIFTCALL void inos_tsan_lock_slow(uint32_t self_id, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
SWIFTCALL void inos_tsan_lock_slow(uint32_t self_id, void *SWIFT_SELF handle) {
    ((lock_slow_fn)real(&lock_slow_real, LOCK_SLOW))(self_id, handle);
    if (__tsan_acquire) __tsan_acquire(handle);
}

SWIFTCALL void inos_tsan_unlock_slow(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
SWIFTCALL void inos_tsan_unlock_slow(void *SWIFT_SELF handle) {
    if (__tsan_release) __tsan_release(handle);
    ((unlock_slow_fn)real(&unlock_slow_real, UNLOCK_SLOW))(handle);
}

SWIFTCALL bool inos_tsan_try_lock_slow(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFTCALL bool inos_tsan_try_lock_slow(void *SWIFT_SELF handle) {
    bool locked = ((try_lock_slow_fn)real(&try_lock_slow_real, TRY_LOCK_SLOW))(handle);
    if (locked && __tsan_acquire) __tsan_acquire(handle);
    return locked;
}
