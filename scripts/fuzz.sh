#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Coverage-guided fuzzing with libFuzzer (issue 14; docs/testing.md "Fuzzing").
#
#   make fuzz                          every target for TIME seconds each (default 60), one after another
#   make fuzz TARGET=swim TIME=600     one target
#   ./scripts/fuzz.sh --smoke          what CI runs: every target for SMOKE_TIME seconds (default 8)
#   ./scripts/fuzz.sh --merge          minimize the work corpus into Fuzz/Corpus/<target> (to commit)
#
# One sanitized build (-sanitize=fuzzer,address, -DINOS_FUZZ) of the InosFuzz executable and the two plugins it
# loads, in its own scratch folder: .build-fuzz optimized (-O, for campaigns: several times the executions per
# second), .build-fuzz-smoke unoptimized for --smoke (CI builds it from nothing, and -Onone builds faster than
# -O). The first argument of InosFuzz picks the target. New inputs go to <scratch>/fuzz-corpus/<target>, crashes
# to <scratch>/fuzz-artifacts/<target>/. Any crash, leak or broken invariant fails the run and prints its
# reproducer; copy it to Fuzz/Regressions/<target>/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
for arg in "$@"; do
    case "$arg" in
        --smoke) mode=smoke ;;
        --merge) mode=merge ;;
        --build-only) mode=build ;;
        --smoke-build) mode=smoke-build ;;
        *) echo "usage: $0 [--smoke|--merge|--build-only]  (TARGET=name TIME=seconds in the environment)" >&2; exit 2 ;;
    esac
done

if [ "$mode" = smoke ] || [ "$mode" = smoke-build ]; then
    # An input may take 60 s before it counts as a hang: CI runs the smoke at idle priority beside the tests.
    time="${SMOKE_TIME:-8}" scratch="${INOS_FUZZ_SCRATCH:-.build-fuzz-smoke}" optimize=() input_timeout=60
else
    time="${TIME:-60}" scratch="${INOS_FUZZ_SCRATCH:-.build-fuzz}" optimize=(-Xswiftc -O) input_timeout=10
fi
binary="$scratch/debug/InosFuzz"

# The toolchain must ship libFuzzer's runtime; without it there is nothing to build, and the run says so.
swiftc_path="$(readlink -f "$(command -v swiftc)")"
if ! find "$(dirname "$swiftc_path")/../lib" -name 'libclang_rt.fuzzer-*.a' 2>/dev/null | grep -q .; then
    echo "==> fuzz: SKIPPED — this Swift toolchain ships no libFuzzer runtime (libclang_rt.fuzzer); no target ran"
    exit 0
fi

build_started=$(date +%s)
echo "==> fuzz: building InosFuzz and the plugins it loads with -sanitize=fuzzer,address (in $scratch)"
for product in InosFuzz InosLZ4 InosErasure; do
    nice -n 10 swift build --scratch-path "$scratch" ${optimize[@]+"${optimize[@]}"} -Xswiftc -sanitize=fuzzer,address -Xswiftc -DINOS_FUZZ --product "$product"
done
echo "==> fuzz: build took $(( $(date +%s) - build_started )) s"
[ "$mode" = build ] || [ "$mode" = smoke-build ] && exit 0

all_targets=(wire session swim gossip kademlia merkle manifest ledger toml lz4 erasure)
if [ -n "${TARGET:-}" ] && [ "$TARGET" != all ]; then targets=($TARGET); else targets=("${all_targets[@]}"); fi

if [ "$mode" = merge ]; then
    for target in "${targets[@]}"; do
        work="$scratch/fuzz-corpus/$target" seeds="Fuzz/Corpus/$target" fresh="$scratch/fuzz-merge/$target"
        rm -rf "$fresh" && mkdir -p "$fresh"
        nice -n 19 "$binary" "$target" -merge=1 "$fresh" "$seeds" "$work" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
        rm -rf "$seeds" && mkdir -p "$seeds" && cp "$fresh"/* "$seeds"/
        echo "$target: $(ls "$seeds" | wc -l) files, $(du -sk "$seeds" | cut -f1) KiB"
    done
    exit 0
fi

failed=()
# Leaks in dependencies that are not ours to fix, each explained in the file.
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Swift's crash backtracer reads the crashed process's memory, which ASan reports as a second error; libFuzzer's
# own report (and the input it saves) is what is wanted.
export SWIFT_BACKTRACE=enable=no
printf '%-10s %12s %8s %7s %7s %7s %s\n' target executions exec/s cov ft corpus result | tee "$scratch/fuzz-summary.txt"
for target in "${targets[@]}"; do
    work="$scratch/fuzz-corpus/$target" artifacts="$scratch/fuzz-artifacts/$target/" log="$scratch/fuzz-logs/$target.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    seeds=("Fuzz/Corpus/$target")
    [ -d "Fuzz/Regressions/$target" ] && seeds+=("Fuzz/Regressions/$target")
    started=$(date +%s)
    status=0
    # One fuzzer process at a time, at the lowest priority (the machine is shared). Leaks are reported (ASan's
    # LeakSanitizer) and fail the run like crashes.
    nice -n 19 "$binary" "$target" -max_total_time="$time" -print_final_stats=1 -rss_limit_mb=2048 -timeout="$input_timeout" \
        -artifact_prefix="$artifacts" "$work" "${seeds[@]}" > "$log" 2>&1 || status=$?
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")" ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")"
    corpus="$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$done_line")"
    if [ "$status" -ne 0 ]; then
        result="FAILED (exit $status)"
        failed+=("$target")
        echo "==> fuzz: TARGET $target FAILED after $(( $(date +%s) - started )) s (exit $status):"
        grep -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|fuzz invariant broken|SUMMARY:" "$log" | head -8 | sed 's/^/    /'
        for file in "$artifacts"*; do
            [ -f "$file" ] && echo "    reproducer: $file   (replay: $binary $target $file)"
        done
        echo "    log: $log"
    else
        result=ok
    fi
    printf '%-10s %12s %8s %7s %7s %7s %s\n' "$target" "${executions:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$result" | tee -a "$scratch/fuzz-summary.txt"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> fuzz: FAILED — ${failed[*]} (reproducers above; add each to Fuzz/Regressions/<target>/ with its fix)"
    exit 1
fi
echo "==> fuzz: every target ran ${time} s with no crash, leak or broken invariant"
