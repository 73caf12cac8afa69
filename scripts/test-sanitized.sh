#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 14: the whole suite under a sanitizer. Not run by CI (the CI budget has no room for it); see
# docs/testing.md, "Sanitizers (issue 14)".
#
#   ./scripts/test-sanitized.sh address            every test under AddressSanitizer (+ LeakSanitizer)
#   ./scripts/test-sanitized.sh thread             every test under ThreadSanitizer
#   ./scripts/test-sanitized.sh thread --filter X  one suite (any other arguments go to `swift test`)
#
# Each sanitizer builds into its own scratch path (.build-asan, .build-tsan), so the package's plugins, `inos`
# and `inos-job-worker` the tests load or start are the sanitized ones: the tests find them next to the test
# bundle (PluginFixtures.productsDirectory), and `inos` finds its plugins next to itself.
# Reports go to $INOS_SANITIZER_LOGS (default .build-<asan|tsan>/sanitizer-logs), one file per process.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh

sanitizer="${1:-}"
case "$sanitizer" in
    address) short=asan ;;
    thread) short=tsan ;;
    *) echo "usage: $0 address|thread [swift test arguments]" >&2; exit 2 ;;
esac
shift
scratch=".build-$short"
logs="${INOS_SANITIZER_LOGS:-$PWD/$scratch/sanitizer-logs}"
suppressions="$PWD/scripts/sanitizers"

flags=(--sanitize="$sanitizer" --scratch-path "$scratch")
if [ "$sanitizer" = thread ]; then
    # The TSan runtime is linked statically into each executable, which exports only the entry points its
    # symbol list names; the list lacks these four, which Swift code in the dlopen'd plugins calls. Without
    # them every plugin fails to load ("undefined symbol: __tsan_external_write").
    for symbol in __tsan_external_read __tsan_external_write __tsan_ignore_thread_begin __tsan_ignore_thread_end; do
        flags+=(-Xlinker "--export-dynamic-symbol=$symbol")
    done
fi

inos_install_deps
echo "==> building the package and its plugins with --sanitize=$sanitizer into $scratch"
swift build "${flags[@]}"
echo "==> building the tests"
swift build --build-tests "${flags[@]}"

mkdir -p "$logs"
rm -f "$logs"/*
# The plugins must be the sanitized ones from $scratch: never a path from the caller's environment.
unset INOS_PLUGIN_PATH INOS_JOB_WORKER
case "$sanitizer" in
    address)
        export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:log_path=$logs/asan:log_exe_name=1}"
        export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$suppressions/lsan.supp:print_suppressions=1}"
        ;;
    thread)
        # Synchronization.Mutex's contended paths are invisible to TSan: scripts/sanitizers/tsan_mutex_shim.c.
        mkdir -p "$scratch/sanitizers"
        "$(command -v clang || command -v cc)" -shared -fPIC -O1 -Wall -o "$scratch/sanitizers/libtsan_mutex_shim.so" \
            scripts/sanitizers/tsan_mutex_shim.c -ldl
        export LD_PRELOAD="$PWD/$scratch/sanitizers/libtsan_mutex_shim.so${LD_PRELOAD:+:$LD_PRELOAD}"
        export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:log_path=$logs/tsan:log_exe_name=1}"
        ;;
esac
echo "==> running the tests (reports: $logs)"
status=0
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" || status=$?
# A file per process that reported; with print_suppressions=1 LSan also writes the suppressions it used (no error).
reports=$(grep -l -e "ERROR: " -e "WARNING: ThreadSanitizer" "$logs"/* 2>/dev/null | wc -l)
echo "==> $reports process(es) with sanitizer reports in $logs"
[ "$reports" -eq 0 ] || { grep -l -e "ERROR: " -e "WARNING: ThreadSanitizer" "$logs"/*; status=1; }
exit "$status"
