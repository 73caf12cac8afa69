#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 7's benchmark: a data-parallel job (word-count, per 1 MiB chunk) over a resource already spread over 4
# local nodes, against the same job on a mesh of 1 node holding it all — same script, same file, alternating
# rounds, medians. Usage: Benchmarks/jobs/parallel.sh [SIZE_MIB=512] [ROUNDS=3]
set -euo pipefail
SIZE_MIB=${1:-512}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$ROOT" && swift build -c release >/dev/null)
INOS="$ROOT/.build/release/inos"
W=$(mktemp -d /tmp/inos-jobs.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
now() { date +%s.%N; }

python3 - "$W/text.txt" "$SIZE_MIB" <<'PY'
import random, sys
random.seed(7)
words = [w.encode() for w in "mesh chunk node replica gossip arena ring shard parity ledger".split()]
with open(sys.argv[1], "wb") as f:
    left = int(sys.argv[2]) << 20
    while left > 0:
        line = b" ".join(random.choice(words) for _ in range(12)) + b"\n"
        f.write(line[:left])
        left -= len(line)
PY

# mesh N: start N nodes, put the file through the first, print the seed address and the resource ID.
mesh() {
    local n=$1 dir=$W/mesh$1
    mkdir -p "$dir"
    "$INOS" node --data-dir "$dir/n0" --listen tcp://127.0.0.1:0 --provide-interval 1 --repair-interval 600 --status-interval 1 > "$dir/n0.log" 2>&1 &
    PIDS+=($!)
    until grep -q "listening on" "$dir/n0.log"; do sleep 0.1; done
    SEED=$(grep -m1 "listening on" "$dir/n0.log" | awk '{print $3}')
    for i in $(seq 1 $((n - 1))); do
        "$INOS" node --data-dir "$dir/n$i" --bootstrap "$SEED" --listen tcp://127.0.0.1:0 --provide-interval 1 --repair-interval 600 --status-interval 1 > "$dir/n$i.log" 2>&1 &
        PIDS+=($!)
    done
    until grep -q "members $((n - 1)) alive, 0 suspect, 0 dead, status from $((n - 1))," "$dir/n0.log"; do sleep 0.2; done
    ID=$("$INOS" put "$W/text.txt" --mesh "$SEED" --data-dir "$dir/client" 2>/dev/null | tail -1)
    # Every holder announced and answers HAVE before timing starts.
    until [ "$("$INOS" locate "$ID" --mesh "$SEED" --data-dir "$dir/locator" 2>/dev/null | grep -c " member ")" -ge "$n" ]; do sleep 0.3; done
}

run_job() {  # prints seconds
    local start
    start=$(now)
    "$INOS" job submit word-count --reduce sum --input "$ID" --mesh "$SEED" --data-dir "$W/submit-$RANDOM" > "$W/result-$1.txt" 2> "$W/report-$1.txt"
    python3 -c "print($(now) - $start)"
}

mesh 1; SEED1=$SEED; ID1=$ID
mesh 4; SEED4=$SEED; ID4=$ID
ONE=(); FOUR=()
for round in $(seq 1 "$ROUNDS"); do
    SEED=$SEED1; ID=$ID1; ONE+=("$(run_job one)")
    SEED=$SEED4; ID=$ID4; FOUR+=("$(run_job four)")
    echo "round $round: 1 node ${ONE[-1]} s, 4 nodes ${FOUR[-1]} s" >&2
done
cmp -s "$W/result-one.txt" "$W/result-four.txt" || { echo "results differ" >&2; exit 1; }
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
one=$(median "${ONE[@]}"); four=$(median "${FOUR[@]}")
printf "data-parallel word-count over %d MiB (%d chunks), median of %d rounds, %d cores:\n" "$SIZE_MIB" "$SIZE_MIB" "$ROUNDS" "$(nproc)"
printf "  1 node:  %.2f s\n  4 nodes: %.2f s  (%s)\n" "$one" "$four" "$(grep 'retried' "$W/report-four.txt")"
printf "  speed-up: %.2fx (goal: >= 3x; bounded here by the %d cores the 4 nodes share)\n" "$(python3 -c "print($one / $four)")" "$(nproc)"
